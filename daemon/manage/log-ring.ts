import type { DestinationStream } from 'pino';

/** A line kept for `logs.tail`: its position in the daemon's log since start, and the parsed line. */
export interface LogEntry {
  seq: number;
  line: Record<string, unknown>;
}

const LEVELS: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/** A line longer than this is kept truncated: one runaway log call must not hold the ring's memory. */
const MAX_LINE_CHARS = 8 * 1024;

/**
 * The newest log lines of the daemon, for `vigilctl logs tail` on a device whose journal the
 * operator cannot reach. It sits behind pino as a destination, so it sees each line after pino's
 * redaction: what is hidden from the journal is hidden from here too. Lines are numbered from 1
 * since start, so a follower polls with the last number it saw and misses nothing the ring still holds.
 */
export class LogRing {
  private readonly lines: string[] = [];
  private next = 1;

  constructor(private readonly capacity = 2000) {}

  /** A destination that writes to `forward` (stdout, for journald) and keeps a copy here. */
  tee(forward: DestinationStream): DestinationStream {
    return {
      write: (msg: string): void => {
        this.push(msg);
        forward.write(msg);
      },
    };
  }

  push(msg: string): void {
    const text = msg.endsWith('\n') ? msg.slice(0, -1) : msg;
    this.lines.push(text.length > MAX_LINE_CHARS ? text.slice(0, MAX_LINE_CHARS) : text);
    this.next += 1;
    if (this.lines.length > this.capacity) this.lines.shift();
  }

  /** Cursor for the next line to be written: what a follower passes as `after` next time is `next - 1`. */
  get lastSeq(): number {
    return this.next - 1;
  }

  /**
   * Without `after`: the newest `limit` lines of at least `level`. With `after` (a follower's
   * cursor): the oldest `limit` lines after it, so that paging forward misses none. `next` is the
   * cursor for the next poll; `dropped` counts lines after the cursor that the ring no longer holds.
   */
  tail(query: { after?: number | undefined; limit: number; level?: string | undefined }): { entries: LogEntry[]; next: number; dropped: number } {
    const firstSeq = this.next - this.lines.length;
    const min = query.level !== undefined ? LEVELS[query.level] ?? 0 : 0;
    const at = (seq: number): LogEntry | null => {
      const text = this.lines[seq - firstSeq];
      if (text === undefined) return null;
      let line: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(text);
        line = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed as Record<string, unknown> : { msg: text };
      } catch {
        line = { msg: text };
      }
      const level = typeof line['level'] === 'string' ? LEVELS[line['level']] ?? 0 : 0;
      return level >= min ? { seq, line } : null;
    };
    const entries: LogEntry[] = [];
    if (query.after === undefined) {
      for (let seq = this.next - 1; seq >= firstSeq && entries.length < query.limit; seq--) {
        const e = at(seq);
        if (e) entries.unshift(e);
      }
      return { entries, next: this.lastSeq, dropped: 0 };
    }
    const dropped = Math.max(0, firstSeq - (query.after + 1));
    let seq = Math.max(firstSeq, query.after + 1);
    for (; seq < this.next && entries.length < query.limit; seq++) {
      const e = at(seq);
      if (e) entries.push(e);
    }
    return { entries, next: seq - 1, dropped };
  }
}
