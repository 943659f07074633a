import { evidenceFileDetailSchema } from '../evidence/evidence-detail.js';
import { z } from 'zod';
import { ruleSchema } from '../config/schema.js';
import { precisionSchema as precision } from '../models/package-manifest.js';
import { rollbackRecordSchema } from '../models/store.js';
import { lostBySeveritySchema, storedEventSchema } from '../store/types.js';
import { telemetrySchema } from '../uplink/payloads.js';
import type { Method } from './protocol.js';
import { pairStatusSchema } from '../pair/pair-status.js';
import { replicaStatusSchema, scrubStatsSchema } from '../store/replica/replica-status.js';

/**
 * What each control method answers, in zod: the other half of the method table (methods.ts). The
 * daemon's handler is typed against these (so a reply that drifts from them does not compile),
 * vigilctl parses every reply with them (so it never casts), and the contract test validates a real
 * reply of every method against them.
 *
 * Where a part of a reply is a type owned by a service (a stream's status, the store's), the
 * schema here names every field a client reads; fields the service adds later pass through
 * (`looseObject`) until they are added here.
 */

const count = z.number().int().min(0);
const ms = z.number().min(0);
const percentiles = z.strictObject({ p50: z.number(), p95: z.number(), samples: count });

const streamStatusSchema = z.looseObject({
  id: z.string(),
  state: z.enum(['starting', 'playing', 'backoff', 'stopped', 'ended', 'disabled']),
  decoder: z.string().nullable(),
  framesPulled: count,
  framesDropped: count,
  restarts: count,
  lastError: z.string().nullable(),
  fps: z.number(),
  uri: z.string().optional(),
  codec: z.string().optional(),
  sourceWidth: count.optional(),
  sourceHeight: count.optional(),
  lastFrameAt: z.number().optional(),
  process: z.object({ pid: z.number().int().nullable(), spawned: count, crashed: count }).optional(),
});

const analysisSchema = z.looseObject({
  framesAnalysed: count, inferences: count, inferenceErrors: count, inferenceMs: z.number(), motionFrames: count,
  events: count, eventErrors: count, lastDetections: count, tracks: count, openActivities: count, endedActivities: count,
  gatedFrames: count, skippedFrames: count, pendingInferences: count, finished: z.boolean(),
});

const lostSchema = lostBySeveritySchema;

const storageStatusSchema = z.looseObject({
  usedBytes: count,
  fileBytes: count,
  budgetBytes: count.nullable(),
  events: count,
  evictions: z.looseObject({ runs: count, delivered: count, lost: lostSchema, oldestLostTs: z.number().nullable(), lastRunAt: z.number().nullable() }),
  quarantine: z.strictObject({ file: z.string(), movedTo: z.array(z.string()), reason: z.string(), at: z.number() }).nullable(),
  disk: z.looseObject({ dbBytes: count, walBytes: count, evidenceBytes: count, reserveBytes: count, fsFreeBytes: count.nullable() }).optional(),
  health: z.looseObject({
    state: z.enum(['ok', 'degraded']), reason: z.string().nullable(), code: z.string().nullable(), since: z.number().nullable(),
    held: count, heldBytes: count, lost: lostSchema, unstored: count, written: count, faults: count, lastCommitMs: z.number().nullable(),
  }).optional(),
});

const uplinkStatusSchema = z.looseObject({
  connected: z.boolean(), url: z.string(), published: count, acked: count, retries: count, failures: count, inFlight: count,
  ackRate: z.number(), disconnects: count, outboxDepth: count, oldestAgeMs: z.number().nullable(),
  outbox: z.array(z.strictObject({ priority: count, depth: count, oldestAgeMs: z.number() })),
  lastError: z.string().nullable(),
});

const stagePercentiles = z.strictObject({ p50: z.number(), p99: z.number(), samples: count, limit_ms: z.number().nullable() }).nullable();

const tiersStatusSchema = z.strictObject({
  latencyMs: z.strictObject({ commit: stagePercentiles, action: stagePercentiles, puback: stagePercentiles, evidence: stagePercentiles }),
  actions: z.looseObject({ events: count, started: count, failed: count, dropped: count }),
  evidence: z.looseObject({
    captured: count, written: count, failed: count, dropped: count, skipped: count, pruned: count,
    lastEncodeMs: z.number(), encoder: z.string().nullable(),
  }),
  clips: z.looseObject({
    started: count, written: count, truncated: count, failed: count, covered: count, active: count, ringBytes: count, completeMs: percentiles.nullable(),
  }).optional(),
});

export const appStatusSchema = z.strictObject({
  version: z.string(),
  device: z.strictObject({ id: z.string(), site: z.string() }),
  streams: z.array(streamStatusSchema.extend({
    model: z.string().nullable(),
    provider: z.string().nullable(),
    analysis: analysisSchema,
    latency: z.strictObject({ inferenceMs: percentiles.nullable(), endToEndMs: percentiles.nullable() }),
  })),
  models: z.array(z.strictObject({
    name: z.string(),
    provider: z.string().nullable(),
    error: z.string().nullable(),
    version: z.string().nullable().optional(),
    scheduler: z.strictObject({
      runs: count, frames: count, batchFallbacks: count, maxBatch: count, busyMs: z.number().nullable(),
    }).optional(),
  })),
  uplink: uplinkStatusSchema.nullable(),
  storage: storageStatusSchema.nullable(),
  telemetry: telemetrySchema.optional(),
  tiers: tiersStatusSchema.optional(),
  pair: pairStatusSchema.optional(),
  replica: replicaStatusSchema.optional(),
  scrub: scrubStatsSchema.optional(),
});


const reviewSchema = z.strictObject({
  event_id: z.string(), verdict: z.enum(['true_alarm', 'false_alarm']), note: z.string().nullable(), source: z.string(), ts: z.number(),
});

export const eventDetailSchema = z.strictObject({
  event: storedEventSchema,
  inferred_at: z.string().nullable(),
  timings: z.strictObject({
    commit_ms: z.number().nullable(), action_ms: z.number().nullable(), puback_ms: z.number().nullable(), evidence_ms: z.number().nullable(),
  }).nullable(),
  snapshot: z.strictObject({ path: z.string(), bytes: count, width: count, height: count }).nullable(),
  review: reviewSchema.nullable(),
  /** The event's clip, if it has one (absent from daemons before clips). */
  clip: z.strictObject({ path: z.string(), bytes: count, width: count, height: count, duration_s: z.number().nullable(), truncated: z.string().nullable() })
    .nullable().optional(),
  /** Every evidence file of the event, checked against its sha256 for this answer (absent from older daemons). */
  evidence: z.array(evidenceFileDetailSchema).optional(),
});

export const activationResultSchema = z.strictObject({
  name: z.string(), version: z.string(), previous: z.string(), provider: z.string(), precision,
  self_test: z.array(z.string()).nullable(), load_ms: ms, warmup_ms: ms, probation_s: ms, deferred: z.boolean(),
});

export const modelsListSchema = z.strictObject({
  device_class: z.string(),
  models: z.array(z.strictObject({
    name: z.string(),
    active: z.string(),
    previous: z.string().nullable(),
    state: z.enum(['probation', 'active']),
    activated_at: z.string().nullable(),
    provider: z.string().nullable(),
    probation: z.strictObject({ elapsed_s: z.number(), inferences: count, failed: count }).nullable(),
    last_rollback: rollbackRecordSchema.nullable(),
    versions: z.array(z.strictObject({
      version: z.string(), installed_at: z.string(), bytes: count, key_id: z.string(), precisions: z.array(precision), created: z.string(),
    })),
  })),
  downloads: z.array(z.strictObject({ url: z.string(), received: count, total: count.nullable() })),
});

export const changeResultSchema = z.strictObject({
  changed: z.array(z.string()),
  applied: z.array(z.string()),
  restart_required: z.array(z.string()),
  persisted: z.boolean(),
  file: z.string().nullable(),
  note: z.string().optional(),
});

export const streamRowSchema = z.strictObject({
  id: z.string(), uri: z.string(), model: z.string().nullable(), fps: z.number(), enabled: z.boolean(),
  state: z.string(), framesPulled: count, rules: z.array(z.string()),
});

const differenceSchema = z.strictObject({ path: z.string(), running: z.unknown().optional(), other: z.unknown().optional() });

export const testAlertStatusSchema = z.strictObject({
  event_id: z.string(), recorded_at: z.number(), puback_at: z.number().nullable(), hub_ack_at: z.number().nullable(),
});

export const logTailSchema = z.strictObject({
  entries: z.array(z.strictObject({ seq: count, line: z.record(z.string(), z.unknown()) })),
  next: count,
  dropped: count,
});

export const flStatusSchema = z.strictObject({
  enabled: z.literal(true),
  round: count.nullable(),
  participants: count.nullable(),
  lastSentRound: count.nullable(),
  roundsSent: count,
  labelled: count,
  features: count,
  holdout: count,
  localAccuracy: z.number().nullable(),
  globalAccuracy: z.number().nullable(),
  threshold: z.number(),
  suppressed: count,
  privacy: z.strictObject({
    dp: z.boolean(), epsilonSpent: z.number().nullable(), epsilonTarget: z.number().nullable(),
    delta: z.number().nullable(), noiseMultiplier: z.number().nullable(),
  }),
  lastOutcome: z.enum(['sent', 'no_model', 'already_sent', 'too_few_labels', 'budget_spent', 'busy', 'failed']).nullable(),
  lastError: z.string().nullable(),
});

const calibrationFetchSchema = z.strictObject({
  job: z.string(), state: z.enum(['sampling', 'done']), elapsed_s: ms, duration_s: ms,
  /** Frames the streams' analysis concluded during the job, those with motion, those inferred. */
  seen: count, motion_frames: count, inferred_frames: count,
  kept: count, bytes: count, total: count.nullable(),
  frames: z.array(z.strictObject({
    index: count, stream: z.string(), seq: count, ts: z.number(), format: z.enum(['BGRx', 'RGBx', 'BGRA', 'RGBA']),
    width: count, height: count, source_width: count, source_height: count, motion: z.number(), detections: count.nullable(), data_base64: z.base64(),
  })),
  /** The `from` of the next page; equal to total when every frame was fetched. */
  next: count,
});

/** The result schema of every method, by name: `satisfies` below makes a missing method a compile error. */
export const resultSchemas = {
  'status': appStatusSchema,
  'events.list': z.array(storedEventSchema),
  'restart': z.strictObject({ restarting: z.literal(true) }),
  'models.list': modelsListSchema,
  'models.install': z.strictObject({
    name: z.string(), version: z.string(), installed: z.boolean(), activation: activationResultSchema.nullable(),
  }),
  'models.upload': z.strictObject({ upload: z.string(), received: z.number().int().min(0) }),
  'models.activate': activationResultSchema,
  'models.rollback': z.strictObject({ name: z.string(), from: z.string(), to: z.string(), reason: z.string() }),
  'test_alert.send': testAlertStatusSchema,
  'test_alert.status': testAlertStatusSchema,
  'events.show': eventDetailSchema,
  'events.ack': reviewSchema,
  'events.tail': z.strictObject({ events: z.array(storedEventSchema), next: z.string() }),
  'streams.list': z.array(streamRowSchema),
  'streams.add': changeResultSchema,
  'streams.remove': changeResultSchema,
  'streams.enable': changeResultSchema,
  'streams.disable': changeResultSchema,
  'streams.set': changeResultSchema,
  'rules.list': z.array(ruleSchema),
  'rules.add': changeResultSchema,
  'rules.remove': changeResultSchema,
  'rules.set': changeResultSchema,
  'config.get': z.strictObject({ path: z.string(), value: z.unknown() }),
  'config.set': changeResultSchema,
  'config.validate': z.discriminatedUnion('valid', [
    z.strictObject({ valid: z.literal(true), streams: count, rules: count, differences: z.array(differenceSchema) }),
    z.strictObject({ valid: z.literal(false), problems: z.array(z.string()) }),
  ]),
  'config.diff': z.strictObject({
    against: z.enum(['candidate', 'file']), file: z.string().nullable().optional(), differences: z.array(differenceSchema), note: z.string().optional(),
  }),
  'logs.tail': logTailSchema,
  'fl.status': flStatusSchema,
  'snapshot': z.strictObject({
    stream: z.string(), width: count, height: count, bytes: count,
    /** When the frame was read (ms since epoch): the newest decoded frame at that moment. */
    ts: z.number(),
    jpeg_base64: z.base64(),
  }),
  'calibration.start': z.strictObject({ job: z.string(), streams: z.array(z.string()), count, duration_s: ms, started_at: z.number() }),
  'calibration.fetch': calibrationFetchSchema,
  'calibration.drop': z.strictObject({ job: z.string(), dropped: count }),
} satisfies Record<Method, z.ZodType>;

export type Result<M extends Method> = z.output<(typeof resultSchemas)[M]>;

/**
 * A result without the index signatures of its loose parts: what a service's own (closed) type must
 * provide. vigilctl's parse keeps fields the schema does not name yet; the compile-time check
 * below only asks for those it does.
 */
type Known<T> = T extends readonly (infer U)[] ? Known<U>[]
  : T extends object ? { [K in keyof T as string extends K ? never : K]: Known<T[K]> } : T;

/**
 * The daemon's side of the table: what its real control target returns, method by method. The
 * target built in control-plane.ts `satisfies` this, so a service whose answer drifts from its
 * method's result schema does not compile. (Transport tests serve stand-ins through the looser
 * ControlTarget of handler.ts.)
 */
export interface TypedControlTarget {
  status(): Known<Result<'status'>>;
  listEvents(query: { stream?: string | undefined; limit: number }): Known<Result<'events.list'>>;
  restart?(): Known<Result<'restart'>>;
  models?: {
    list(): Promise<Known<Result<'models.list'>>>;
    install(req: { file?: string | undefined; url?: string | undefined; upload?: string | undefined; activate: boolean }): Promise<Known<Result<'models.install'>>>;
    upload(id: string, offset: number, data: Buffer): Promise<Known<Result<'models.upload'>>>;
    activate(name: string, version: string, atRestart: boolean): Promise<Known<Result<'models.activate'>>>;
    rollback(name: string): Promise<Known<Result<'models.rollback'>>>;
  };
  sendTestAlert?(): Known<Result<'test_alert.send'>>;
  testAlertStatus?(eventId: string): Known<Result<'test_alert.status'>>;
  showEvent?(id: string): Known<Result<'events.show'>>;
  ackEvent?(ack: { id: string; verdict: 'true_alarm' | 'false_alarm'; note?: string | undefined; by?: string | undefined }): Known<Result<'events.ack'>>;
  tailEvents?(query: { after: string; limit: number }): Known<Result<'events.tail'>>;
  flStatus?(): Known<Result<'fl.status'>> | undefined;
  snapshot?(req: { stream: string; overlay: boolean; max_width?: number | undefined }): Promise<Known<Result<'snapshot'>>>;
  calibration?: {
    start(req: { streams: string[]; count: number; duration_s: number }): Known<Result<'calibration.start'>>;
    fetch(req: { job: string; from: number; max_bytes: number }): Known<Result<'calibration.fetch'>>;
    drop(req: { job: string }): Known<Result<'calibration.drop'>>;
  };
}
