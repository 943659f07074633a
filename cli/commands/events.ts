import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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
  if (d.evidence === undefined) {
    lines.push(`  snapshot: ${d.snapshot === null ? '-' : `${d.snapshot.path} (${d.snapshot.width}x${d.snapshot.height}, ${d.snapshot.bytes} bytes)`}`);
  } else {
    for (const kind of ['snapshot', 'clip'] as const) {
      const f = d.evidence.find((x) => x.kind === kind);
      lines.push(`  ${kind}: ${f ? evidenceText(f) : '-'}`);
    }
  }
  const r = d.review;
  lines.push(`  review: ${r === null ? '-' : `${r.verdict} by ${r.source} at ${new Date(r.ts).toISOString()}${r.note !== null ? `: ${r.note}` : ''}`}`);
  return lines.join('\n');
}

type EvidenceDetail = NonNullable<EventDetail['evidence']>[number];

/** `/var/lib/vigil/evidence/<id>.mp4 (1920x1080, 12.4 s, 3145728 bytes, sha256 …, delivered, sha256 ok)` */
function evidenceText(f: EvidenceDetail): string {
  const facts = [`${f.width}x${f.height}`];
  if (f.duration_s !== null) facts.push(`${f.duration_s.toFixed(1)} s`);
  facts.push(`${f.bytes} bytes`, `sha256 ${f.sha256 || '-'}`);
  if (f.truncated !== null) facts.push(`truncated: ${f.truncated}`);
  facts.push(f.delivered ? 'delivered' : f.refused !== null ? `not sent: ${f.refused}` : `delivered ${f.delivered_bytes} of ${f.bytes} bytes`);
  facts.push(f.integrity === 'ok' ? 'sha256 ok' : f.integrity === 'unhashed' ? 'recorded without sha256'
    : `INTEGRITY ${f.integrity}${f.actual_sha256 !== null ? ` (now ${f.actual_sha256})` : ''}`);
  return `${f.path} (${facts.join(', ')})`;
}

/**
 * Copies one evidence file to `dir` under its own name, hashing while copying; written under a
 * temporary name and renamed only when the copy matches the sha256 the daemon recorded.
 */
async function exportFile(f: Pick<EvidenceDetail, 'kind' | 'path' | 'sha256'>, dir: string): Promise<{ kind: string; from: string; to: string; bytes: number; sha256: string }> {
  const to = path.join(dir, path.basename(f.path));
  const tmp = `${to}.tmp`;
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await pipeline(createReadStream(f.path), new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    }), createWriteStream(tmp));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new CliError(`cannot copy ${f.path}: ${errorMessage(err)}`, EXIT.failed);
  }
  const sha256 = hash.digest('hex');
  if (f.sha256 !== '' && sha256 !== f.sha256) {
    rmSync(tmp, { force: true });
    throw new CliError(`${f.path}: sha256 ${sha256} does not match the recorded ${f.sha256}; not exported`, EXIT.failed);
  }
  renameSync(tmp, to);
  return { kind: f.kind, from: f.path, to, bytes, sha256 };
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
  cmd.command('export')
    .description('copy an event\'s snapshot and clip into a directory, checking each against its recorded sha256')
    .argument('<id>', 'event id')
    .requiredOption('--out <dir>', 'directory to copy into (created if needed)')
    .addOption(socket())
    .option('--json', 'one JSON array of the files copied')
    .action(async (id: string, opts: { out: string; socket: string; json?: boolean }) => {
      // The daemon names paths on its own machine: through the hub they are not here to read.
      if (currentRoute() !== null) throw new CliError('events export reads the files on this machine; run it on the device, not with --device', EXIT.usage);
      const body = await call(opts.socket, { method: 'events.show', params: { id } });
      const files = body.evidence ?? (body.snapshot ? [{ kind: 'snapshot' as const, path: body.snapshot.path, sha256: '' }] : []);
      if (files.length === 0) throw new CliError(`event ${id} has no snapshot or clip on this device`, EXIT.failed);
      mkdirSync(opts.out, { recursive: true });
      const copied = [];
      for (const f of files) copied.push(await exportFile(f, opts.out));
      if (opts.json) out.raw(JSON.stringify(copied));
      else for (const c of copied) out.raw(`${c.kind}: ${c.to} (${c.bytes} bytes, sha256 ${c.sha256})`);
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
