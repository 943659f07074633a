import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { EventStore } from '../../daemon/store/event-store.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import type { StoredEvent } from '../../daemon/store/types.js';
import type { Result } from '../../daemon/control/results.js';

type EventDetail = Result<'events.show'>;
import { call, DEFAULT_SOCKET } from '../control-client.js';
import { CliError, EXIT } from '../errors.js';
import { currentRoute } from '../remote/route.js';
import type { Output } from '../output.js';
import { factsText, storedFacts } from '../../daemon/events/event-kinds.js';
import { errorMessage } from '../../daemon/errors.js';

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

/**
 * `vigilctl events`: the running daemon answers (over its socket, or through the hub with
 * --device); when it does not, `list` reads the database directly, so events can be read on a
 * device whose daemon is down, but never creates one where there is none.
 */
async function listEvents(socket: string, stateDir: string, query: { limit: number; stream?: string }): Promise<StoredEvent[]> {
  try {
    return await call(socket, { method: 'events.list', params: query });
  } catch (err) {
    // Through the hub, or a daemon that answered with an error: that is the answer.
    if (currentRoute() !== null || !(err instanceof CliError) || err.exitCode !== EXIT.unreachable) throw err;
  }
  const file = path.join(stateDir, DATABASE_FILE);
  if (!existsSync(file)) {
    throw new CliError(`vigild does not answer on ${socket} and there is no event database at ${file}: give --socket or --state-dir`, EXIT.unreachable);
  }
  const store = EventStore.open(stateDir);
  try {
    return store.listEvents(query);
  } finally {
    store.close();
  }
}

export function eventsCommand(out: Output): Command {
  const cmd = new Command('events').description('events recorded on this device');
  cmd.command('list')
    .description('list recent events, newest first')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--state-dir <dir>', 'state directory holding vigil.db, read when vigild does not answer', process.env['VIGIL_STATE_DIR'] ?? '/var/lib/vigil')
    .option('--stream <id>', 'only this stream')
    .option('--limit <n>', 'at most this many', positiveInt, 20)
    .option('--json', 'one JSON array')
    .action(async (opts: { socket: string; stateDir: string; stream?: string; limit: number; json?: boolean }) => {
      const query = { limit: opts.limit, ...(opts.stream !== undefined ? { stream: opts.stream } : {}) };
      const events = await listEvents(opts.socket, opts.stateDir, query);
      if (opts.json) {
        out.raw(JSON.stringify(events));
        return;
      }
      for (const e of events) out.raw(eventLine(e));
    });
  addReviewCommands(cmd, out);
  return cmd;
}

function eventLine(e: StoredEvent): string {
  const objects = e.payload.objects.map((o) => `${o.label} ${o.score.toFixed(2)}`).join(', ');
  const sent = e.uplinkedAt === null ? 'pending' : 'sent';
  return `${new Date(e.ts).toISOString()}  ${e.severity.padEnd(8)} ${e.stream}/${e.rule}  ${kindText(e)}  ${objects}  [${sent}] ${e.id}`;
}

/**
 * The kind and its facts as the hub receives them (events/event-kinds.ts): `line direction=a_to_b
 * track_id=4`. Model, storage and audit events show the notice they carry; facts that do not fit
 * their kind are reported rather than hidden.
 */
function kindText(e: StoredEvent): string {
  if (e.kind === 'model' || e.kind === 'storage' || e.kind === 'audit') {
    const notice = Object.fromEntries(Object.entries(e.payload).filter(([k]) => k !== 'objects'));
    return `${e.kind} ${JSON.stringify(notice)}`;
  }
  try {
    const facts = storedFacts(e.kind, e.payload);
    return [facts.kind, factsText(facts)].filter((s) => s !== '').join(' ');
  } catch (err) {
    return `${e.kind} (facts unreadable: ${errorMessage(err)})`;
  }
}

const ms = (v: number | null): string => (v === null ? '-' : `${v.toFixed(1)} ms`);

function detailText(d: EventDetail): string {
  const e = d.event;
  const lines = [
    `event ${e.id}`,
    `  ${new Date(e.ts).toISOString()}  ${e.severity}  ${e.stream}/${e.rule}`,
    `  kind: ${kindText(e)}`,
    `  objects: ${e.payload.objects.map((o) => `${o.label} ${o.score.toFixed(2)} [${o.box.map((v) => v.toFixed(0)).join(',')}]`).join('; ') || '-'}`,
    `  uplinked: ${e.uplinkedAt === null ? 'pending' : new Date(e.uplinkedAt).toISOString()}`,
  ];
  if (typeof e.payload['ended_at'] === 'string') lines.push(`  ended: ${e.payload['ended_at']} (${String(e.payload['end_reason'])})`);
  const t = d.timings;
  lines.push(t === null ? '  timings: -'
    : `  timings after inference: commit ${ms(t.commit_ms)}, local action ${ms(t.action_ms)}, PUBACK ${ms(t.puback_ms)}, evidence ${ms(t.evidence_ms)}`);
  lines.push(`  snapshot: ${d.snapshot === null ? '-' : `${d.snapshot.path} (${d.snapshot.width}x${d.snapshot.height}, ${d.snapshot.bytes} bytes)`}`);
  const r = d.review;
  lines.push(`  review: ${r === null ? '-' : `${r.verdict} by ${r.source} at ${new Date(r.ts).toISOString()}${r.note !== null ? `: ${r.note}` : ''}`}`);
  return lines.join('\n');
}

/** Who acknowledges, as stored in the review: the local user. */
function localUser(): string {
  try {
    return `vigilctl:${userInfo().username}`;
  } catch {
    return 'vigilctl';
  }
}

/**
 * `events show|ack|tail`: through the running daemon (control socket), because an acknowledgement
 * is written by the daemon that owns the database, the same way the hub's arrive.
 */
function addReviewCommands(cmd: Command, out: Output): void {
  const socket = (): Option => new Option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET').default(DEFAULT_SOCKET);
  cmd.command('show')
    .description('one event with its response timings, snapshot and review')
    .argument('<id>', 'event id')
    .addOption(socket())
    .option('--json', 'the full object')
    .action(async (id: string, opts: { socket: string; json?: boolean }) => {
      const body = await call(opts.socket, { method: 'events.show', params: { id } });
      out.raw(opts.json ? JSON.stringify(body) : detailText(body));
    });
  cmd.command('ack')
    .description('record a verdict on an event (a label for on-device learning); a new one replaces the old')
    .argument('<id>', 'event id')
    .addOption(new Option('--verdict <verdict>', 'the operator\'s verdict').choices(['true_alarm', 'false_alarm']).makeOptionMandatory())
    .option('--note <text>', 'a note stored with it')
    .addOption(socket())
    .option('--json', 'the stored review')
    .action(async (id: string, opts: { verdict: 'true_alarm' | 'false_alarm'; note?: string; socket: string; json?: boolean }) => {
      const review = await call(opts.socket, {
        method: 'events.ack', params: { id, verdict: opts.verdict, by: localUser(), ...(opts.note !== undefined ? { note: opts.note } : {}) },
      });
      out.result(opts.json, review, `${review.event_id}: ${review.verdict} (by ${review.source})`);
    });
  cmd.command('tail')
    .description('events after a cursor, oldest first; prints the cursor to continue from')
    .option('--after <id>', 'the last event id seen; default: from the oldest', '')
    .option('--limit <n>', 'at most this many', positiveInt, 100)
    .addOption(socket())
    .option('--json', '{"events": [...], "next": cursor}')
    .action(async (opts: { after: string; limit: number; socket: string; json?: boolean }) => {
      const body = await call(opts.socket, { method: 'events.tail', params: { after: opts.after, limit: opts.limit } });
      if (opts.json) {
        out.raw(JSON.stringify(body));
        return;
      }
      for (const e of body.events) out.raw(eventLine(e));
      out.raw(`next: --after ${body.next || "''"}`);
    });
}
