import type { ScheduleWindow } from '../../config/schema.js';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const minutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * Whether `ts` falls in one of the weekly windows, in the device's local time (the time an operator
 * reads off the wall where the camera is). A window whose `from` is after its `to` runs past
 * midnight and belongs to the day it starts on; `from` equal to `to` is the whole day.
 */
export function inSchedule(ts: number, windows: readonly ScheduleWindow[] | undefined): boolean {
  if (windows === undefined) return true;
  const d = new Date(ts);
  const day = DAYS[d.getDay()]!;
  const yesterday = DAYS[(d.getDay() + 6) % 7]!;
  const now = d.getHours() * 60 + d.getMinutes();
  return windows.some((w) => {
    const from = minutes(w.from);
    const to = minutes(w.to);
    if (from === to) return w.days.includes(day);
    if (from < to) return w.days.includes(day) && now >= from && now < to;
    return (w.days.includes(day) && now >= from) || (w.days.includes(yesterday) && now < to);
  });
}
