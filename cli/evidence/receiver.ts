import { createHash } from 'node:crypto';
import {
  closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync,
} from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { errorMessage } from '../../daemon/errors.js';
import { evidenceHeaderSchema, type EvidenceHeader } from '../../daemon/uplink/payloads.js';

/**
 * The reference receiver of evidence files (docs/evidence-delivery.md): what `vigilctl hub evidence`
 * runs on the hub side. It places each part where its header says, keeps the progress of every
 * partial file on disk (so a restart resumes it), and when a file is whole checks its sha256 and
 * renames it to `DIR/<device>/<event id>.{jpg,mp4}` in one step. A file that does not match is
 * kept as `.bad` beside where it would have gone. Every call is synchronous: the MQTT client
 * acknowledges a message only after `handle` returned, so what was acknowledged is on disk.
 */

/** A file received whole and checked. */
export interface ReceivedFile {
  device: string;
  event_id: string;
  kind: 'snapshot' | 'clip';
  path: string;
  bytes: number;
  sha256: string;
  /** Parts received in all, duplicates included (at-least-once delivery). */
  parts: number;
  duplicates: number;
}

/** What `handle` made of a message. */
export type Outcome =
  | { kind: 'part' }
  | { kind: 'duplicate' }
  | { kind: 'complete'; file: ReceivedFile }
  | { kind: 'bad'; device: string; event_id: string; path: string; expected: string; actual: string; bytes: number }
  | { kind: 'invalid'; reason: string };

const stateSchema = z.strictObject({
  header: evidenceHeaderSchema,
  /** One character per part: '1' received, '0' not yet. */
  received: z.string().regex(/^[01]*$/),
  duplicates: z.number().int().min(0),
});
type PartialState = z.infer<typeof stateSchema>;

const DEVICE_LEVEL = /^[^/+#\u0000]{1,128}$/;
const extOf = (kind: 'snapshot' | 'clip'): string => (kind === 'clip' ? 'mp4' : 'jpg');

export class EvidenceReceiver {
  private readonly partial: string;
  /** Partial files in memory: their state, mirrored on disk after every part. */
  private readonly open = new Map<string, PartialState>();

  constructor(private readonly outDir: string, private readonly site: string) {
    this.partial = path.join(outDir, '.partial');
    mkdirSync(this.partial, { recursive: true });
  }

  /** The topics to subscribe to: snapshots sent whole, and parts of every other file. */
  topics(): string[] {
    return [`vigil/v1/${this.site}/+/evidence`, `vigil/v1/${this.site}/+/evidence/chunk`];
  }

  /** Partial files now on disk (after a restart: those to be resumed). */
  pending(): { device: string; event_id: string; received: number; count: number }[] {
    const out: { device: string; event_id: string; received: number; count: number }[] = [];
    for (const device of safeList(this.partial)) {
      for (const f of safeList(path.join(this.partial, device))) {
        if (!f.endsWith('.json')) continue;
        const state = this.loadState(path.join(this.partial, device, f));
        if (state) out.push({ device, event_id: state.header.event_id, received: countOnes(state.received), count: state.header.count });
      }
    }
    return out;
  }

  handle(topic: string, payload: Buffer, userProperties: Record<string, string | string[]> | undefined): Outcome {
    const levels = topic.split('/');
    const device = levels[3];
    if (levels.length < 5 || levels[2] !== this.site || device === undefined || !DEVICE_LEVEL.test(device) || device.startsWith('.')) {
      return { kind: 'invalid', reason: `topic ${topic} is not an evidence topic of site ${this.site}` };
    }
    if (levels[4] === 'evidence' && levels.length === 5) return this.whole(device, payload, userProperties);
    if (levels[4] === 'evidence' && levels[5] === 'chunk' && levels.length === 6) return this.part(device, payload);
    return { kind: 'invalid', reason: `topic ${topic} is not an evidence topic` };
  }

  /** A snapshot sent whole on `…/evidence` (the JPEG, the event id and sha256 in user properties). */
  private whole(device: string, payload: Buffer, props: Record<string, string | string[]> | undefined): Outcome {
    const prop = (k: string): string | undefined => {
      const v = props?.[k];
      return Array.isArray(v) ? v[0] : v;
    };
    const eventId = prop('event_id');
    if (eventId === undefined || !/^[0-9A-Za-z-]{1,64}$/.test(eventId)) {
      return { kind: 'invalid', reason: `snapshot from ${device} without a usable event_id user property (MQTT 5 needed)` };
    }
    const sha256 = createHash('sha256').update(payload).digest('hex');
    const expected = prop('sha256');
    const target = this.finalPath(device, eventId, 'snapshot');
    if (expected !== undefined && expected !== sha256) {
      writeAtomically(`${target}.bad`, payload);
      return { kind: 'bad', device, event_id: eventId, path: `${target}.bad`, expected, actual: sha256, bytes: payload.length };
    }
    if (sameFile(target, payload.length, sha256)) return { kind: 'duplicate' };
    writeAtomically(target, payload);
    return { kind: 'complete', file: { device, event_id: eventId, kind: 'snapshot', path: target, bytes: payload.length, sha256, parts: 1, duplicates: 0 } };
  }

  /** A part on `…/evidence/chunk`: its header line, a newline, its bytes. */
  private part(device: string, payload: Buffer): Outcome {
    const nl = payload.indexOf(0x0a);
    if (nl < 0 || nl > 4096) return { kind: 'invalid', reason: `part from ${device} without a header line` };
    let header: EvidenceHeader;
    try {
      const parsed = evidenceHeaderSchema.safeParse(JSON.parse(payload.subarray(0, nl).toString('utf8')));
      if (!parsed.success) return { kind: 'invalid', reason: `part from ${device}: header does not match vigil.evidence/1: ${parsed.error.issues[0]?.message ?? ''}` };
      header = parsed.data;
    } catch (err) {
      return { kind: 'invalid', reason: `part from ${device}: header is not JSON: ${errorMessage(err)}` };
    }
    const bytes = payload.subarray(nl + 1);
    if (header.device !== device) return { kind: 'invalid', reason: `part on ${device}'s topic names device ${header.device}` };
    if (bytes.length !== header.length || header.offset + header.length > header.total_bytes || header.index >= header.count) {
      return { kind: 'invalid', reason: `part ${header.index} of ${device}/${header.event_id}: ${bytes.length} bytes at ${header.offset} do not fit its header` };
    }
    const target = this.finalPath(device, header.event_id, header.kind);
    const key = `${device}/${header.event_id}.${header.kind}`;
    const dir = path.join(this.partial, device);
    const stateFile = path.join(dir, `${header.event_id}.${header.kind}.json`);
    const dataFile = path.join(dir, `${header.event_id}.${header.kind}.part`);
    let state = this.open.get(key) ?? this.loadState(stateFile);
    if (!state && sameSize(target, header.total_bytes)) return { kind: 'duplicate' };
    // A file recorded again (other bytes): its earlier parts are of no use.
    if (state && (state.header.sha256 !== header.sha256 || state.header.count !== header.count)) {
      rmSync(dataFile, { force: true });
      state = undefined;
    }
    if (!state) {
      mkdirSync(dir, { recursive: true });
      state = { header, received: '0'.repeat(header.count), duplicates: 0 };
    }
    if (state.received[header.index] === '1') {
      state.duplicates += 1;
      this.open.set(key, state);
      return { kind: 'duplicate' };
    }
    const fd = openSync(dataFile, existsSync(dataFile) ? 'r+' : 'w+');
    try {
      writeSync(fd, bytes, 0, bytes.length, header.offset);
      const received = `${state.received.slice(0, header.index)}1${state.received.slice(header.index + 1)}`;
      state = { ...state, received };
      if (countOnes(received) < header.count) {
        // The data first, then the state that says it is there: a crash between the two costs a part
        // received again, never a part believed received that is not.
        writeAtomically(stateFile, Buffer.from(JSON.stringify(state)), false);
        this.open.set(key, state);
        return { kind: 'part' };
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.open.delete(key);
    const sha256 = hashFile(dataFile);
    const parts = header.count + state.duplicates;
    if (sha256 !== header.sha256) {
      mkdirSync(path.dirname(target), { recursive: true });
      renameSync(dataFile, `${target}.bad`);
      rmSync(stateFile, { force: true });
      return { kind: 'bad', device, event_id: header.event_id, path: `${target}.bad`, expected: header.sha256, actual: sha256, bytes: header.total_bytes };
    }
    mkdirSync(path.dirname(target), { recursive: true });
    renameSync(dataFile, target);
    rmSync(stateFile, { force: true });
    return {
      kind: 'complete',
      file: { device, event_id: header.event_id, kind: header.kind, path: target, bytes: header.total_bytes, sha256, parts, duplicates: state.duplicates },
    };
  }

  private finalPath(device: string, eventId: string, kind: 'snapshot' | 'clip'): string {
    return path.join(this.outDir, device, `${eventId}.${extOf(kind)}`);
  }

  private loadState(file: string): PartialState | undefined {
    try {
      const parsed = stateSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      // Absent (the usual case), or torn by a crash before its rename: the parts come again.
      return undefined;
    }
  }
}

function countOnes(s: string): number {
  let n = 0;
  for (const c of s) if (c === '1') n += 1;
  return n;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Writes `data` to `file` through a temporary name and a rename, so a reader never sees half. */
function writeAtomically(file: string, data: Buffer, sync = true): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, data);
    if (sync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function sameSize(file: string, bytes: number): boolean {
  try {
    return statSync(file).size === bytes;
  } catch {
    return false;
  }
}

function sameFile(file: string, bytes: number, sha256: string): boolean {
  return sameSize(file, bytes) && hashFile(file) === sha256;
}

function hashFile(file: string): string {
  const hash = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
