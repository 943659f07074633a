import { z } from 'zod';
import { severitySchema, type Severity } from '../config/schema.js';
import type { DeviceIdentity } from '../uplink/alert-message.js';
import { detectedObjectSchema } from '../uplink/payloads.js';

/** An event as the local actions see it: what was recorded, with the id the store gave it. */
export interface ActionEvent {
  eventId: string;
  /** Frame time, ms since the epoch. */
  ts: number;
  streamId: string;
  ruleId: string;
  severity: Severity;
  kind: string;
  activity?: string;
  trackId?: number;
  objects: readonly { label: string; score: number; box: readonly [number, number, number, number] }[];
}

/**
 * What local consumers get on the local broker: the alert's fields, flat and small. A contract of
 * the site, not of the hub, so it has its own schema name; it follows the hub's alert where they overlap.
 */
export const localEventSchema = z.strictObject({
  schema: z.literal('vigil.local/1'),
  id: z.string().min(1),
  device: z.string().min(1),
  site: z.string().min(1),
  stream: z.string().min(1),
  rule: z.string().min(1),
  severity: severitySchema,
  kind: z.string().min(1),
  ts: z.iso.datetime({ offset: true }),
  activity: z.string().optional(),
  track_id: z.number().int().optional(),
  objects: z.array(detectedObjectSchema),
});
export type LocalEvent = z.infer<typeof localEventSchema>;

export function localEvent(device: DeviceIdentity, e: ActionEvent): LocalEvent {
  return {
    schema: 'vigil.local/1', id: e.eventId, device: device.id, site: device.site, stream: e.streamId, rule: e.ruleId,
    severity: e.severity, kind: e.kind, ts: new Date(e.ts).toISOString(),
    ...(e.activity !== undefined ? { activity: e.activity } : {}), ...(e.trackId !== undefined ? { track_id: e.trackId } : {}),
    objects: e.objects.map((o) => ({ label: o.label, score: o.score, box: [...o.box] })),
  };
}

/**
 * The environment a command hook gets: the event's fields as VIGIL_* variables, and the whole
 * local message as VIGIL_EVENT_JSON. Values only ever travel as data, never through a shell.
 */
export function hookEnv(device: DeviceIdentity, e: ActionEvent): Record<string, string> {
  const first = e.objects[0];
  return {
    VIGIL_EVENT_ID: e.eventId,
    VIGIL_DEVICE: device.id,
    VIGIL_SITE: device.site,
    VIGIL_STREAM: e.streamId,
    VIGIL_RULE: e.ruleId,
    VIGIL_SEVERITY: e.severity,
    VIGIL_KIND: e.kind,
    VIGIL_TS: new Date(e.ts).toISOString(),
    VIGIL_ACTIVITY: e.activity ?? '',
    VIGIL_TRACK_ID: e.trackId !== undefined ? String(e.trackId) : '',
    VIGIL_LABEL: first?.label ?? '',
    VIGIL_SCORE: first !== undefined ? first.score.toFixed(3) : '',
    VIGIL_EVENT_JSON: JSON.stringify(localEvent(device, e)),
  };
}

/** `{site}`, `{device}`, `{stream}`, `{rule}`, `{severity}` in a topic template; ids cannot hold `/`, `+` or `#`. */
export function localTopic(template: string, device: DeviceIdentity, e: ActionEvent): string {
  const values: Record<string, string> = { site: device.site, device: device.id, stream: e.streamId, rule: e.ruleId, severity: e.severity };
  return template.replace(/\{(site|device|stream|rule|severity)\}/g, (_, k: string) => values[k] ?? '');
}
