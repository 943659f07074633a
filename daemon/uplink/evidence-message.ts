import path from 'node:path';
import type { EvidenceFile } from '../evidence/evidence-files.js';
import { severityPriority, type DeviceIdentity } from './alert-message.js';
import { evidenceHeaderSchema, type EvidenceHeader } from './payloads.js';
import { uplinkTopics } from './topics.js';

/**
 * Below every event, with telemetry: evidence must never delay an alert. Its rows have larger seqs
 * than the event's own messages, so they also leave after those.
 */
export const EVIDENCE_PRIORITY = severityPriority.info + 1;

/**
 * Bytes per part on `…/evidence/chunk`. Small enough for brokers with a message limit (AWS IoT:
 * 128 KB) and for an alert queued behind a part in the socket to wait for little; large enough
 * that a 10 MB clip is 160 rows (docs/evidence-delivery.md has the measurements).
 */
export const EVIDENCE_CHUNK_BYTES = 64 * 1024;

/**
 * Snapshots up to this size go whole on `…/evidence` (the message today's hubs read, JPEG body and
 * `event_id` user property); larger ones, and every clip, in parts on `…/evidence/chunk`.
 */
export const EVIDENCE_SINGLE_MAX_BYTES = 256 * 1024;

/** One outbox row of an evidence file: what EventStore.addEvidenceFile inserts. */
export interface EvidencePart {
  topic: string;
  /** The part's header line ('' for a snapshot sent whole). */
  payload: string;
  qos: 1;
  priority: number;
  offset: number;
  length: number;
  index: number;
  count: number;
}

export interface EvidenceOutboxOptions {
  /** evidence.publish: false keeps files on the device. */
  publish: boolean;
  chunkBytes?: number;
  singleMaxBytes?: number;
}

/** Builds an evidence file's rows; an empty list keeps it local. */
export type EvidenceOutbox = (file: EvidenceFile) => EvidencePart[];

export const contentTypeOf = (kind: EvidenceFile['kind']): 'image/jpeg' | 'video/mp4' => (kind === 'clip' ? 'video/mp4' : 'image/jpeg');

/**
 * The `evidenceOutbox` of EventStore: an evidence file becomes its parts, one outbox row each,
 * each naming the bytes it sends and carrying its header (schema-checked here, once, at queueing).
 */
export function evidenceOutbox(device: DeviceIdentity, options: EvidenceOutboxOptions): EvidenceOutbox {
  const topics = uplinkTopics(device.site, device.id);
  const chunk = Math.max(1024, options.chunkBytes ?? EVIDENCE_CHUNK_BYTES);
  const singleMax = options.singleMaxBytes ?? EVIDENCE_SINGLE_MAX_BYTES;
  return (file) => {
    if (!options.publish || file.bytes <= 0) return [];
    if (file.kind === 'snapshot' && file.bytes <= singleMax) {
      return [{ topic: topics.evidence, payload: '', qos: 1, priority: EVIDENCE_PRIORITY, offset: 0, length: file.bytes, index: 0, count: 1 }];
    }
    const count = Math.ceil(file.bytes / chunk);
    const parts: EvidencePart[] = [];
    for (let index = 0; index < count; index += 1) {
      const offset = index * chunk;
      const length = Math.min(chunk, file.bytes - offset);
      const header = evidenceHeader(device, file, { offset, length, index, count });
      parts.push({ topic: topics.evidenceChunk, payload: JSON.stringify(header), qos: 1, priority: EVIDENCE_PRIORITY, offset, length, index, count });
    }
    return parts;
  };
}

export function evidenceHeader(device: DeviceIdentity, file: EvidenceFile,
  part: { offset: number; length: number; index: number; count: number }): EvidenceHeader {
  return evidenceHeaderSchema.parse({
    schema: 'vigil.evidence/1',
    event_id: file.eventId,
    device: device.id,
    site: device.site,
    kind: file.kind,
    name: path.basename(file.path),
    content_type: contentTypeOf(file.kind),
    total_bytes: file.bytes,
    sha256: file.sha256,
    ...part,
    width: file.width,
    height: file.height,
    ...(file.durationS !== undefined ? { duration_s: file.durationS } : {}),
    ...(file.startedAt !== undefined ? { started_at: new Date(file.startedAt).toISOString() } : {}),
    ...(file.truncated !== undefined ? { truncated: file.truncated } : {}),
    created_at: new Date(file.createdAt).toISOString(),
  });
}

/**
 * The MQTT 5 user properties of a snapshot sent whole on `…/evidence`: `event_id` as before, and
 * the header's fields that let a receiver check it (all strings, as user properties are).
 */
export function singleMessageProperties(eventId: string, file: { kind: string; path: string; bytes: number; sha256: string }): Record<string, string> {
  return {
    event_id: eventId, schema: 'vigil.evidence/1', kind: file.kind, name: path.basename(file.path),
    total_bytes: String(file.bytes), sha256: file.sha256,
  };
}
