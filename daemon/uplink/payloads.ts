import { z } from 'zod';
import { severitySchema } from '../config/schema.js';
import { evictionNoticeSchema, evidenceRefusedNoticeSchema, lostBySeveritySchema, quarantineNoticeSchema } from '../store/types.js';
import {
  countAboveFactsSchema, countBelowFactsSchema, countPeriodicFactsSchema, lineFactsSchema, motionFactsSchema, presenceFactsSchema,
  stationaryFactsSchema, testFactsSchema, zoneDwellFactsSchema, zoneEnterFactsSchema, zoneExitFactsSchema, zonePresenceFactsSchema,
} from '../events/event-kinds.js';

/**
 * The payload contract with the hub, defined once: the types are inferred from these schemas, the
 * uplink validates what it builds against them, and the AsyncAPI document is generated from them.
 * A breaking change gets a new schema name (`vigil.alert/2`), never an edit here.
 */

const isoTime = z.iso.datetime({ offset: true });

export const detectedObjectSchema = z.strictObject({
  label: z.string().min(1),
  score: z.number().min(0).max(1),
  /** x1, y1, x2, y2 in source pixels. */
  box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
});

/**
 * Where an event's evidence snapshot is: a JPEG sent on `…/evidence` with the event's id in the
 * `event_id` user property, and kept on the device as `ref` under its evidence directory.
 */
export const snapshotRefSchema = z.strictObject({
  /** File name on the device (`<event id>.jpg`); what a fetch through the command channel would ask for. */
  ref: z.string().min(1),
  /** The topic the JPEG was queued on. */
  topic: z.string().min(1),
  bytes: z.number().int().min(1),
  /** The analysis frame's size (the model's input resolution), not the camera's. */
  width: z.number().int().min(1),
  height: z.number().int().min(1),
});
export type SnapshotRef = z.infer<typeof snapshotRefSchema>;

/**
 * The header of every evidence part (docs/evidence-delivery.md): on `…/evidence/chunk` the message
 * is this header as one line of JSON, a newline (0x0A), then the part's bytes; a snapshot sent
 * whole on `…/evidence` carries the same fields as MQTT 5 user properties. Enough for a receiver
 * to place the part, know when the file is whole, and check it.
 */
export const evidenceHeaderSchema = z.strictObject({
  schema: z.literal('vigil.evidence/1'),
  /** The event's id (uuid v7): the file is `<event_id>.jpg` or `<event_id>.mp4`. */
  event_id: z.string().regex(/^[0-9A-Za-z-]{1,64}$/),
  device: z.string().min(1),
  site: z.string().min(1),
  kind: z.enum(['snapshot', 'clip']),
  /** File name on the device. */
  name: z.string().regex(/^[0-9A-Za-z._-]{1,128}$/),
  content_type: z.enum(['image/jpeg', 'video/mp4']),
  /** The whole file: its size and lower-case hex sha256, as recorded when it was written. */
  total_bytes: z.number().int().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** This part: bytes [offset, offset + length) of the file, part `index` (from 0) of `count`. */
  offset: z.number().int().min(0),
  length: z.number().int().min(1),
  index: z.number().int().min(0),
  count: z.number().int().min(1),
  /** Pixels of the picture or video. */
  width: z.number().int().min(0),
  height: z.number().int().min(0),
  /** Clips: length in seconds, wall-clock time of the first frame, and why it is shorter than asked. */
  duration_s: z.number().min(0).optional(),
  started_at: isoTime.optional(),
  truncated: z.string().optional(),
  /** When the file was written. */
  created_at: isoTime,
});
export type EvidenceHeader = z.infer<typeof evidenceHeaderSchema>;

const activityPhaseSchema = z.enum(['start', 'update', 'end']);

/**
 * What every `vigil.alert/1` message has, whatever its kind. The kind's facts (events/event-kinds.ts)
 * sit beside these fields, so a hub reads `direction` or `count` where it reads `rule`. Fields are
 * only ever added to this version (docs/hub-contract.md, "Versioning"): `kind`, the facts and
 * `phase` came after the first devices shipped, which is why a consumer must ignore fields it does
 * not know.
 */
const alertEnvelope = {
  schema: z.literal('vigil.alert/1'),
  /** uuid v7 of the stored event; the hub de-duplicates on it (delivery is at least once). */
  id: z.uuid({ version: 'v7' }),
  device: z.string().min(1),
  site: z.string().min(1),
  stream: z.string().min(1),
  rule: z.string().min(1),
  severity: severitySchema,
  /** Time of the frame, not of sending: an alert may leave the device long after an outage. */
  ts: isoTime,
  objects: z.array(detectedObjectSchema),
  /**
   * Where an activity (a stay in a zone, a dwell, a crowd) is in its life; every message of one
   * activity carries the same `id`, so a hub upserts by it. Absent: a one-off event (a crossing, a
   * periodic count).
   */
  phase: activityPhaseSchema.optional(),
  /** The same value as `phase`, under the name the first revision gave it; kept for its consumers until `vigil.alert/2`. */
  activity: activityPhaseSchema.optional(),
  /** On `end` only: the frame time the activity closed, its length and why it closed. */
  ended_at: isoTime.optional(),
  duration_s: z.number().min(0).optional(),
  end_reason: z.string().min(1).optional(),
  /**
   * A test alert sent by `vigilctl test-alert` (provisioning sends one): not a detection. A hub
   * acknowledges it on `…/ack` and should not page anyone for it.
   */
  test: z.literal(true).optional(),
  /** On `end` only, when a snapshot was taken: the activity's evidence snapshot. */
  snapshot: snapshotRefSchema.optional(),
  /**
   * false: sent directly while the device could not write its database (degraded mode,
   * docs/storage-faults.md); it is not durably stored on the device yet. Absent: stored.
   */
  stored: z.literal(false).optional(),
  /**
   * Devices in a hot-standby pair (docs/fault-tolerance.md): the pair's epoch when the event was
   * committed (raised at every takeover) and the device that produced it. A hub keeps, for a
   * site's pair, the highest epoch seen and treats alerts of a lower one as the old active's.
   * Absent: not paired.
   */
  pair_epoch: z.number().int().min(0).optional(),
  producer: z.string().min(1).optional(),
};

const alertOf = <S extends z.ZodRawShape>(facts: z.ZodObject<S>) => z.strictObject({ ...alertEnvelope, ...facts.shape });

/**
 * An event on `…/alerts` or `…/events`: the envelope and the facts of its `kind`, one branch per
 * kind (and per trigger within zone and count), as the facts union is built.
 */
export const alertSchema = z.discriminatedUnion('kind', [
  alertOf(presenceFactsSchema),
  z.discriminatedUnion('trigger', [alertOf(zoneEnterFactsSchema), alertOf(zoneExitFactsSchema), alertOf(zoneDwellFactsSchema), alertOf(zonePresenceFactsSchema)]),
  alertOf(lineFactsSchema),
  z.discriminatedUnion('trigger', [alertOf(countPeriodicFactsSchema), alertOf(countAboveFactsSchema), alertOf(countBelowFactsSchema)]),
  alertOf(stationaryFactsSchema),
  alertOf(motionFactsSchema),
  alertOf(testFactsSchema),
]);
export type AlertPayload = z.infer<typeof alertSchema>;

export const streamStateSchema = z.strictObject({
  id: z.string().min(1),
  state: z.string().min(1),
  decoder: z.string().optional(),
  provider: z.string().optional(),
});
export type StreamState = z.infer<typeof streamStateSchema>;

export const stateSchema = z.strictObject({
  schema: z.literal('vigil.state/1'),
  state: z.enum(['online', 'offline']),
  device: z.string().min(1),
  site: z.string().min(1),
  version: z.string().min(1),
  /** When the message was built; for the last will that is when the connection was made. */
  ts: isoTime,
  /** Empty when offline: nothing on the device is known to be running then. */
  streams: z.array(streamStateSchema),
  /** Execution providers available for inference, in the order they are tried. */
  providers: z.array(z.string().min(1)),
  /** Whether events are being stored (docs/storage-faults.md); absent from devices before degraded mode. */
  storage: z.strictObject({ state: z.enum(['ok', 'degraded']), reason: z.string().optional(), since: isoTime.optional() }).optional(),
  /** A device of a hot-standby pair (docs/fault-tolerance.md): its role, its peer and the pair's epoch. Absent: not paired. */
  pair: z.strictObject({ role: z.enum(['active', 'standby']), peer: z.string().min(1), epoch: z.number().int().min(0) }).optional(),
});
export type StatePayload = z.infer<typeof stateSchema>;

const storageEnvelope = {
  schema: z.literal('vigil.storage/1'),
  /** uuid v7 of the storage event; the de-duplication key, as for alerts. */
  id: z.uuid({ version: 'v7' }),
  device: z.string().min(1),
  site: z.string().min(1),
  /** `critical` for a quarantined database; for evictions `alert` when alerts were lost, `warning` when other undelivered events were, `info` when only delivered ones were. */
  severity: severitySchema,
  /** When it happened on the device. */
  ts: isoTime,
};

/**
 * The device's storage reporting on itself: a corrupt database moved aside at start, or events
 * evicted to stay within the disk budget. Sent on `…/storage` through the outbox like any event.
 */
export const storageMessageSchema = z.discriminatedUnion('kind', [
  z.strictObject({ ...storageEnvelope, ...quarantineNoticeSchema.shape }),
  z.strictObject({ ...storageEnvelope, ...evictionNoticeSchema.shape }),
  // An evidence file refused at sending (docs/evidence-delivery.md, "Integrity").
  z.strictObject({ ...storageEnvelope, ...evidenceRefusedNoticeSchema.shape }),
  // Degraded mode (docs/storage-faults.md): sent directly, not through the outbox it cannot write.
  z.strictObject({ ...storageEnvelope, ...storageFaultShape('degraded') }),
  z.strictObject({ ...storageEnvelope, ...storageFaultShape('recovered'), degraded_s: z.number().min(0), written: z.number().int().min(0) }),
]);

/**
 * `degraded`: the database takes no writes (reason, code); alerts are held in memory and sent
 * directly with `stored: false`. `recovered`: it does again; `written` held events were stored.
 * Both carry what the held queue's bound gave up since start: `lost` (by severity, never
 * delivered) and `unstored` (delivered, never stored). Repeated while degraded when they change.
 */
function storageFaultShape<K extends 'degraded' | 'recovered'>(kind: K) {
  const count = z.number().int().min(0);
  return {
    kind: z.literal(kind),
    reason: z.string().min(1),
    code: z.string(),
    /** When the database stopped taking writes. */
    since: isoTime,
    held: count,
    lost: lostBySeveritySchema,
    unstored: count,
  };
}
export type StorageMessage = z.infer<typeof storageMessageSchema>;

const ms = z.number().min(0);
const bytes = z.number().int().min(0);
/** Nearest-rank percentiles over the last samples (up to 256 per stream); null before the first. */
const percentilesSchema = z.strictObject({ p50: ms, p95: ms, samples: z.number().int().min(1) }).nullable();

export const telemetryStreamSchema = z.strictObject({
  id: z.string().min(1),
  /** starting, playing, backoff, stopped, ended or disabled. */
  state: z.string().min(1),
  model: z.string().nullable(),
  /** Frames analysed per second over the last 10 s or so; null until two observations. */
  analysed_fps: z.number().min(0).nullable(),
  /** Frames pulled from the pipeline per second (at most the configured fps); 0 unless playing. */
  pulled_fps: z.number().min(0),
  frames_pulled: z.number().int().min(0),
  frames_dropped: z.number().int().min(0),
  frames_analysed: z.number().int().min(0),
  restarts: z.number().int().min(0),
  inference_ms: percentilesSchema,
  /** From the frame leaving GStreamer to its events committed: waiting, inference and rules; the camera and decoder latency before that is not seen. */
  end_to_end_ms: percentilesSchema,
  /** Age of the newest frame pulled; null before the first. */
  last_frame_age_s: z.number().min(0).nullable(),
  last_error: z.string().nullable(),
});

/**
 * How the device feels, at a configured interval (`telemetry.interval_s`). Queued in the outbox at
 * the lowest priority, so it never delays an event; during an outage only the newest reports are
 * kept (see TelemetryService). Values that cannot be read on this host (a GPU on a PC, temperatures
 * in a VM) are null rather than absent, so a hub can tell "not available" from "not sent".
 */
export const telemetrySchema = z.strictObject({
  schema: z.literal('vigil.telemetry/1'),
  /** uuid v7 of this report; the de-duplication key, as for alerts. */
  id: z.uuid({ version: 'v7' }),
  device: z.string().min(1),
  site: z.string().min(1),
  version: z.string().min(1),
  /** When the report was built. */
  ts: isoTime,
  interval_s: z.number().positive(),
  uptime_s: z.number().min(0),
  streams: z.array(telemetryStreamSchema),
  /** Sum over streams, since the daemon started. */
  pipeline_restarts: z.number().int().min(0),
  system: z.strictObject({
    /** All cores, 0-100, over the time since the previous sample. */
    cpu_load_percent: z.number().min(0).nullable(),
    /** This process, percent of one core (can exceed 100). */
    process_cpu_percent: z.number().min(0).nullable(),
    load_avg: z.tuple([z.number(), z.number(), z.number()]),
    memory: z.strictObject({
      rss_bytes: bytes,
      heap_used_bytes: bytes,
      heap_total_bytes: bytes,
      /** Total minus available (page cache counts as free). */
      system_used_bytes: bytes.nullable(),
      system_total_bytes: bytes.nullable(),
    }),
    /** The hottest sensor; null where none can be read. */
    temperature_celsius: z.number().nullable(),
    temperatures: z.array(z.strictObject({ sensor: z.string().min(1), celsius: z.number() })),
    /** The filesystem holding `storage.dir`. */
    disk: z.strictObject({ path: z.string().min(1), free_bytes: bytes.nullable(), total_bytes: bytes.nullable() }),
    /** Jetson integrated GPU, 0-100; null elsewhere. */
    gpu_load_percent: z.number().min(0).max(100).nullable(),
    /** Jetson external memory controller, 0-100; null elsewhere or where debugfs is unreadable. */
    emc_load_percent: z.number().min(0).max(100).nullable(),
    /** Jetson supply rails from the INA3221 monitors (VDD_GPU_SOC, VDD_CPU_CV, … on an AGX Orin); empty elsewhere. */
    power_rails: z.array(z.strictObject({
      rail: z.string().min(1), power_mw: z.number().min(0), voltage_mv: z.number().min(0), current_ma: z.number().min(0),
    })),
    /** Seconds since the slow system values (CPU load, temperatures, disk, GPU) were read. */
    sample_age_s: z.number().min(0).nullable(),
  }),
  outbox: z.strictObject({
    /** Rows waiting, this report excluded; -1 when the store could not be read. */
    depth: z.number().int().min(-1),
    oldest_age_s: z.number().min(0).nullable(),
    by_priority: z.array(z.strictObject({ priority: z.number().int().min(0), depth: z.number().int().min(0), oldest_age_s: z.number().min(0) })),
  }),
  uplink: z.strictObject({
    connected: z.boolean(),
    disconnects: z.number().int().min(0),
    published: z.number().int().min(0),
    acked: z.number().int().min(0),
    failures: z.number().int().min(0),
    last_error: z.string().nullable(),
  }).nullable(),
  storage: z.strictObject({ db_bytes: bytes, budget_bytes: bytes.nullable(), events: bytes }).nullable(),
});
export type TelemetryPayload = z.infer<typeof telemetrySchema>;

/**
 * One audit record: a command refused for want of authority, or a changing command accepted.
 * Stored as an event of kind `audit` (payload field `audit`) and sent to the hub as `vigil.audit/1`.
 */
export const auditEntrySchema = z.strictObject({
  outcome: z.enum(['accepted', 'refused']),
  /** `mqtt`: through the hub; `socket`: the local control socket (a technician on the device); `console`: the web console (docs/console.md); `pair`: a hot-standby role change (docs/fault-tolerance.md); `store`: the daemon's own data care: a database restored from its replica, the replica failing or back, an evidence file found bad by the scrub (docs/data-replication.md). */
  transport: z.enum(['mqtt', 'socket', 'console', 'pair', 'store']),
  method: z.string().max(64),
  request_id: z.string().max(128).nullable(),
  /** The operator's configured name when the key is known; `local` on the socket; `console:<user>` from the web console. */
  operator: z.string().max(64).nullable(),
  key_id: z.string().max(128).nullable(),
  /** Why it was refused. */
  reason: z.string().max(300).optional(),
  /** Audit records left out before this one because of `remote.audit_per_minute`. */
  suppressed: z.number().int().min(0).optional(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/**
 * A command refused for want of authority, or a changing command accepted (docs/remote-management.md).
 * Sent on `…/audit` through the outbox, like an event: refusals at warning priority, acceptances at info.
 */
export const auditMessageSchema = z.strictObject({
  schema: z.literal('vigil.audit/1'),
  /** uuid v7 of the stored audit event; the de-duplication key. */
  id: z.uuid({ version: 'v7' }),
  device: z.string().min(1),
  site: z.string().min(1),
  severity: severitySchema,
  /** When the device decided. */
  ts: isoTime,
  ...auditEntrySchema.shape,
});
export type AuditMessage = z.infer<typeof auditMessageSchema>;
/**
 * The device reporting on its models: a package installed or refused, a version activated, a
 * probation passed, a rollback (automatic or asked for) and why. Sent on `…/models` through the
 * outbox like any event, so a rollback during an outage still reaches the hub.
 */
export const modelMessageSchema = z.strictObject({
  schema: z.literal('vigil.model/1'),
  /** uuid v7 of the stored event; the de-duplication key, as for alerts. */
  id: z.uuid({ version: 'v7' }),
  device: z.string().min(1),
  site: z.string().min(1),
  /** `warning` for a rollback or a refusal, `info` otherwise. */
  severity: severitySchema,
  ts: isoTime,
  /** The model's name in the device configuration. */
  model: z.string().min(1),
  action: z.enum(['installed', 'activated', 'probation_passed', 'rolled_back', 'refused']),
  /** The version the action is about: installed, activated, passed, rolled back from, or refused. */
  version: z.string().min(1),
  /** For `activated` and `rolled_back`: the version that serves the streams afterwards (`config`: the one vigil.yaml names). */
  active: z.string().min(1).optional(),
  /** Why: the probation rule that failed, or the refusal's message. */
  reason: z.string().optional(),
  /** For refusals: bad_signature, untrusted_key, checksum_mismatch, truncated, incompatible, self_test_failed, … */
  code: z.string().min(1).optional(),
  /** For `rolled_back`: true when the probation watch did it, false when a person asked. */
  automatic: z.boolean().optional(),
});
export type ModelMessage = z.infer<typeof modelMessageSchema>;

/**
 * The hub offering a model package, retained on `vigil/v1/{site}/models/{name}`: every device of the
 * site that runs a model of that name downloads, verifies and (unless `activate` is false) activates
 * it. The package's own signature decides whether it is accepted, not this message.
 */
export const modelOfferSchema = z.strictObject({
  schema: z.literal('vigil.model-offer/1'),
  name: z.string().min(1),
  version: z.string().min(1),
  /** http(s) URL of the package file; downloads resume with Range requests. */
  url: z.url({ protocol: /^https?$/ }),
  activate: z.boolean().default(true),
  /** Only these device ids; absent: every device of the site. */
  devices: z.array(z.string().min(1)).optional(),
});
export type ModelOffer = z.infer<typeof modelOfferSchema>;

/**
 * The hub's acknowledgement of an event, published by the hub application on
 * `vigil/v1/{site}/{device}/ack` once it has processed (stored) the event. The device uses it for
 * test alerts: a PUBACK proves the broker has the alert, only this proves a hub consumed it.
 */
export const ackSchema = z.strictObject({
  schema: z.literal('vigil.ack/1'),
  /** The `id` of the alert being acknowledged. */
  event_id: z.uuid(),
  /** When the hub processed it; informational. */
  ts: isoTime.optional(),
});
export type AckPayload = z.infer<typeof ackSchema>;
