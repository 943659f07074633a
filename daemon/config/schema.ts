import { z } from 'zod';

/**
 * The one definition of vigil.yaml. The TypeScript types below are inferred from it, the loader
 * validates against it, and `vigilctl config schema` prints its JSON Schema: three uses, one copy.
 * Objects are strict so that a misspelt key is reported instead of silently ignored.
 */

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
  'expected 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');

export const providerSchema = z.enum(['tensorrt', 'cuda', 'cpu']);
export type Provider = z.infer<typeof providerSchema>;

export const severitySchema = z.enum(['info', 'warning', 'alert', 'critical']);
export type Severity = z.infer<typeof severitySchema>;

const point = z.tuple([z.number(), z.number()]);

export const deviceSchema = z.strictObject({ id, site: id });

export const storageSchema = z.strictObject({
  dir: z.string().min(1).default('/var/lib/vigil'),
  /**
   * Budget for the event database, MiB of pages in use. Over it, events are evicted: delivered ones
   * first, then undelivered info, warning, alert and critical, oldest first. New events are never
   * refused. At about 1 KiB per event, the default holds about a million.
   */
  max_db_mb: z.number().positive().max(1_048_576).default(1024),
});

export const mqttSchema = z.strictObject({
  url: z.string().regex(/^(mqtts?|wss?|tcp|tls):\/\/[^\s]+$/, 'expected an mqtt://, mqtts://, ws:// or wss:// URL'),
  client_id: z.string().min(1).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  keepalive_s: z.number().int().min(5).max(3600).default(30),
  reconnect_min_ms: z.number().int().min(100).default(1000),
  reconnect_max_ms: z.number().int().min(1000).default(60_000),
  /** Outbox rows published and awaiting PUBACK at once. */
  inflight: z.number().int().min(1).max(1000).default(32),
});

export const modelRefSchema = z.strictObject({
  name: id,
  manifest: z.string().min(1),
  /** Execution providers in the order they are tried; overrides `inference.providers`. */
  providers: z.array(providerSchema).min(1).optional(),
});

export const streamSchema = z.strictObject({
  id,
  uri: z.string().regex(/^(file|rtsp|rtsps|test):\/\/.*$/, 'expected a file://, rtsp:// or test:// URI'),
  model: id.optional(),
  /** Frames per second handed to analysis; the pipeline drops the rest before scaling. */
  fps: z.number().positive().max(120).default(5),
  /** For file:// sources: start again at the end instead of stopping. */
  loop: z.boolean().default(false),
  /** For file:// sources: play at the clip's own rate (a simulated camera) rather than as fast as possible. */
  realtime: z.boolean().default(true),
  enabled: z.boolean().default(true),
  rtsp_transport: z.enum(['tcp', 'udp']).default('tcp'),
  rtsp_latency_ms: z.number().int().min(0).max(10_000).default(200),
  /** Restart backoff after an error or the end of a live stream. */
  restart_min_ms: z.number().int().min(10).default(1000),
  restart_max_ms: z.number().int().min(100).default(60_000),
  /** No frame for this long on a playing stream counts as a stall and restarts it. */
  stall_timeout_ms: z.number().int().min(500).default(15_000),
  motion: z.strictObject({
    enabled: z.boolean().default(true),
    /** Fraction of the motion grid that must change for a frame to count as motion. */
    min_area: z.number().min(0).max(1).default(0.002),
    /** Grey-level difference (0-255) that counts a cell as changed. */
    threshold: z.number().min(1).max(255).default(25),
  }).prefault({}),
});

export const ruleSchema = z.strictObject({
  id,
  stream: id,
  kind: z.literal('presence'),
  classes: z.array(z.string().min(1)).min(1),
  min_score: z.number().min(0).max(1).default(0.4),
  /** Polygon in source pixels; a detection counts when its bottom centre is inside. */
  zone: z.array(point).min(3).optional(),
  /** Consecutive analysed frames with a match before the event fires. */
  min_frames: z.number().int().min(1).default(1),
  cooldown_s: z.number().min(0).default(30),
  severity: severitySchema.default('alert'),
});

export const configSchema = z.strictObject({
  device: deviceSchema,
  storage: storageSchema.prefault({}),
  mqtt: mqttSchema,
  /** Where model manifests find their files when they name them relatively. */
  models_dir: z.string().optional(),
  models: z.array(modelRefSchema).default([]),
  inference: z.strictObject({
    providers: z.array(providerSchema).min(1).default(['tensorrt', 'cuda', 'cpu']),
    /**
     * onnxruntime intra-op threads per session; 0 lets onnxruntime decide. Default 1: decoding and
     * scaling need the other cores, and on a 2-core host NanoDet-m ran 38-45 ms/frame on one thread
     * against 92-97 ms with onnxruntime's default (GPU providers ignore this).
     */
    threads: z.number().int().min(0).max(64).default(1),
  }).prefault({}),
  streams: z.array(streamSchema).default([]),
  rules: z.array(ruleSchema).default([]),
  /** The local control socket vigilctl talks to (mode 0660: the `vigil` group may use it). */
  control: z.strictObject({
    enabled: z.boolean().default(true),
    socket: z.string().min(1).default('/run/vigil/vigild.sock'),
  }).prefault({}),
  log: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type StreamConfig = z.infer<typeof streamSchema>;
export type RuleConfig = z.infer<typeof ruleSchema>;
export type ModelRef = z.infer<typeof modelRefSchema>;
export type MqttConfig = z.infer<typeof mqttSchema>;
