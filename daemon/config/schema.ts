import { z } from 'zod';
import { configPathSchema, pemOrPathSchema } from './config-paths.js';
import { trackerConfigSchema } from '../analytics/tracker/config.js';
import { remoteSchema } from '../control/remote-config.js';
import { consoleSchema } from '../console/console-config.js';
import { LOG_COMPONENTS } from '../log-components.js';
import { learningConfigSchema } from '../learning/config.js';
import { pairSchema } from '../pair/pair-config.js';

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

/** Site-level topics sit where a device's would (`vigil/v1/{site}/models/…`, `…/fl/model`): those names are taken. */
const RESERVED_DEVICE_IDS = ['models', 'fl'];
export const deviceSchema = z.strictObject({
  id: id.refine((v) => !RESERVED_DEVICE_IDS.includes(v), { message: `is reserved for site-level topics (${RESERVED_DEVICE_IDS.join(', ')})` }),
  site: id,
});

export const storageSchema = z.strictObject({
  dir: configPathSchema().default('/var/lib/vigil'),
  /**
   * Budget for the event database, MiB of pages in use. Over it, events are evicted: delivered ones
   * first, then undelivered info, warning, alert and critical, oldest first. New events are never
   * refused. At about 1 KiB per event, the default holds about a million.
   */
  max_db_mb: z.number().positive().max(1_048_576).default(1024),
  /**
   * Free space kept on the filesystem of `dir`, MiB. Below it vigild frees space before SQLite can
   * meet a full disk: the WAL, then the oldest evidence snapshots, then events by the order above.
   * Absent: 2 % of the filesystem, at least 16 and at most 512 MiB, never more than a quarter of it.
   */
  reserve_mb: z.number().min(0).max(1_048_576).optional(),
  /**
   * Degraded mode (docs/storage-faults.md): events held in memory while the database takes no
   * writes (read-only, full or failing disk), at most this many; beyond it the least severe, oldest
   * go first, counted and reported. At about 1 KiB per event the default is about 10 MiB.
   */
  degraded_queue: z.number().int().min(10).max(1_000_000).default(10_000),
  /**
   * A continuous copy of the event database (and the evidence files) on another volume, and the
   * periodic re-hash of the evidence files (docs/data-replication.md).
   */
  replica: z.strictObject({
    /**
     * Where the copy lives (an SD card or USB disk): must exist, vigild does not create it, so that
     * an unmounted card is reported instead of filled in on the root filesystem. Absent: no copy.
     */
    dir: configPathSchema().optional(),
    /** How often committed rows are copied, ms: the lag is at most about this plus one copy. */
    interval_ms: z.number().int().min(50).max(10_000).default(250),
    /** Lag beyond which the copy is reported behind (status, log, audit), ms. */
    max_lag_ms: z.number().int().min(100).max(3_600_000).default(1000),
    /** Also copy evidence files (snapshots, clips) once their sha256 is known. */
    evidence: z.boolean().default(true),
    /** Evidence re-hash rate, MiB/s; 0: no scrub. */
    scrub_mb_per_s: z.number().min(0).max(1024).default(4),
    /** A scrub pass starts this long after start, then again this long after the previous one ended, s. */
    scrub_every_s: z.number().int().min(1).max(30 * 86_400).default(6 * 3600),
  }).prefault({}),
});

export const mqttSchema = z.strictObject({
  url: z.string().regex(/^(mqtts?|wss?|tcp|tls):\/\/[^\s]+$/, 'expected an mqtt://, mqtts://, ws:// or wss:// URL'),
  client_id: z.string().min(1).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  ca: configPathSchema().optional(),
  cert: configPathSchema().optional(),
  key: configPathSchema().optional(),
  keepalive_s: z.number().int().min(5).max(3600).default(30),
  reconnect_min_ms: z.number().int().min(100).default(1000),
  reconnect_max_ms: z.number().int().min(1000).default(60_000),
  /** Outbox rows published and awaiting PUBACK at once. */
  inflight: z.number().int().min(1).max(1000).default(32),
});

export const modelRefSchema = z.strictObject({
  name: id,
  manifest: configPathSchema(),
  /** Execution providers in the order they are tried; overrides `inference.providers`. */
  providers: z.array(providerSchema).min(1).optional(),
});

/**
 * The tracker's defaults were fitted to MOTChallenge's Faster R-CNN boxes. The CPU detectors score
 * lower: NanoDet-m and YOLOX-Nano give people about 0.5-0.8, and on car-detection.mp4 YOLOX-Nano
 * scores a passing car 0.3-0.9 from frame to frame. At 0.6/0.7 such objects start tracks late and
 * fall to the stricter low-score stage half the time; a step lower keeps them on one track.
 */
const streamTrackerSchema = trackerConfigSchema.safeExtend({
  high_score: z.number().min(0).max(1).default(0.5),
  new_track_score: z.number().min(0).max(1).default(0.6),
});

/**
 * A stream's or a rule's own event clips (docs/evidence-clips.md): `false` turns them off there, an
 * object overrides the lengths of `evidence.clips`; the rule's wins over its stream's.
 */
export const clipOverrideSchema = z.union([
  z.literal(false),
  z.strictObject({
    pre_roll_s: z.number().min(0).max(30).optional(),
    post_roll_s: z.number().min(0).max(300).optional(),
    max_s: z.number().min(1).max(600).optional(),
  }),
], { error: 'expected false, or an object of pre_roll_s, post_roll_s and max_s' });

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
  /** Per-stream tracker for rules on tracks; see README "Tracking". */
  tracker: streamTrackerSchema.prefault({}),
  /** An open activity sends the hub at most one `update` this often (a newer one replaces a queued one). */
  activity_update_s: z.number().min(1).max(86_400).default(30),
  motion: z.strictObject({
    enabled: z.boolean().default(true),
    /** Fraction of the motion grid that must change for a frame to count as motion. */
    min_area: z.number().min(0).max(1).default(0.002),
    /** Grey-level difference (0-255) that counts a cell as changed. */
    threshold: z.number().min(1).max(255).default(25),
    /** Motion gating: skip inference while the scene is still; see docs/throughput.md. */
    gate: z.strictObject({
      enabled: z.boolean().default(false),
      /** While still, one inference this often, so a stopped object is still seen. */
      keepalive_s: z.number().min(0.1).max(3600).default(2),
      /** Inference goes on this long after the last motion, for objects that stop or move slowly. */
      hold_s: z.number().min(0).max(600).default(1),
    }).prefault({}),
  }).prefault({}),
  /** Under overload, high-priority streams keep their fps; the others share what is left. */
  priority: z.enum(['low', 'normal', 'high']).default('normal'),
  /** Event clips of this stream's rules: off, or other lengths than `evidence.clips`. */
  clips: clipOverrideSchema.optional(),
  /** Decode in a child process of this stream's own (docs/process-isolation.md); absent: `video.isolation`. */
  isolation: z.enum(['in-process', 'process']).optional(),
  /** Small objects: also detect on crops around motion at the model's size (docs/small-objects.md). */
  detection: z.strictObject({
    /** `motion`: crops of the full-resolution frame around moving boxes, beside the whole-frame pass. */
    regions: z.enum(['off', 'motion']).default('off'),
    /** Crops per frame, those with the most motion first: each is one more model run. */
    max_regions: z.number().int().min(1).max(8).default(2),
    /** One tile of a grid over the frame, in turn, this often, where the cap leaves room; 0: never. Finds small people who do not move. */
    scan_s: z.number().min(0).max(3600).default(0),
  }).prefault({}),
});

/** Rule geometry is in source pixels, or normalised to 0..1 of the camera's width and height. */
const unitsSchema = z.enum(['px', 'norm']).default('px');
const polygon = z.array(point).min(3);
const weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM (24 h)');

/** A weekly window in the device's local time; `from` after `to` runs past midnight. */
export const scheduleWindowSchema = z.strictObject({
  days: z.array(weekday).min(1).default(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']),
  from: clock,
  to: clock,
});

/** What every rule has: the stream, which objects count, how loud and how often. */
const ruleBase = {
  id,
  stream: id,
  classes: z.array(z.string().min(1)).min(1),
  min_score: z.number().min(0).max(1).default(0.4),
  severity: severitySchema.default('alert'),
  /** Activities start only inside one of these windows; absent = always. */
  schedule: z.array(scheduleWindowSchema).min(1).optional(),
  units: unitsSchema,
  /** This rule's event clips: off, or other lengths than its stream's / `evidence.clips`. */
  clips: clipOverrideSchema.optional(),
};

/** Rules on tracks: a track counts once it has existed this long, which filters one-frame ghosts. */
const trackRuleBase = {
  ...ruleBase,
  min_age_s: z.number().min(0).max(3600).default(0),
  /** The point of a box that must be inside a zone or cross a line: where an object touches the ground. */
  anchor: z.enum(['bottom_centre', 'centre']).default('bottom_centre'),
  /** The same track (or, for zone-wide activities, the same rule) starts no new activity for this long after one. */
  cooldown_s: z.number().min(0).default(0),
};

export const presenceRuleSchema = z.strictObject({
  ...ruleBase,
  kind: z.literal('presence'),
  /** Polygon; a detection counts when its bottom centre is inside. */
  zone: polygon.optional(),
  /** Consecutive analysed frames with a match before the event fires (with `objects`: frames the one object matched). */
  min_frames: z.number().int().min(1).default(1),
  /** `frames`: rule-wide, again after each cooldown. `objects`: per tracked object, again only if it left and came back after the cooldown. */
  cooldown_s: z.number().min(0).default(30),
  /**
   * What is counted. `frames`: detections, no tracker (one event per `cooldown_s` while anything
   * matches). `objects`: tracked objects, one activity per object from when it counts to when it
   * leaves the zone or is lost for good, so a person standing an hour is one presence; the stream
   * runs its tracker for it.
   */
  count: z.enum(['frames', 'objects']).default('frames'),
});

export const zoneRuleSchema = z.strictObject({
  ...trackRuleBase,
  kind: z.literal('zone'),
  zone: polygon,
  /** enter (…exit: one event per stay), exit, presence (zone occupied), dwell (inside longer than dwell_s). */
  events: z.array(z.enum(['enter', 'exit', 'presence', 'dwell'])).min(1).default(['enter']),
  dwell_s: z.number().positive().max(86_400).default(30),
  /**
   * Half-width of a band along the zone's edge, px (or a fraction of the frame diagonal with units
   * norm): a track enters when its anchor is this far inside and leaves when this far outside, so
   * one standing on the edge does not enter and leave with every jittery box. Absent: 8 px,
   * whatever the units.
   */
  margin: z.number().min(0).optional(),
});

export const lineRuleSchema = z.strictObject({
  ...trackRuleBase,
  kind: z.literal('line'),
  /** Polyline, first point to last: side `a` is on the left of that walk as seen on screen, `b` on the right. */
  line: z.array(point).min(2),
  direction: z.enum(['a_to_b', 'b_to_a', 'both']).default('both'),
  /** Half-width of the band around the line, px (or a fraction of the frame diagonal with units norm); inside it a point has no side. */
  margin: z.number().min(0).default(8),
});

export const countRuleSchema = z.strictObject({
  ...trackRuleBase,
  kind: z.literal('count'),
  zone: polygon,
  /** Crowding: an activity while more than this many objects are inside. */
  above: z.number().int().min(0).optional(),
  /** Too few: an activity while fewer than this many are inside. */
  below: z.number().int().min(1).optional(),
  /** Also report the count every this many seconds (info-style periodic counts). */
  every_s: z.number().positive().max(86_400).optional(),
}).refine((r) => r.above !== undefined || r.below !== undefined || r.every_s !== undefined,
  { message: 'a count rule needs above, below or every_s', path: ['above'] });

export const stationaryRuleSchema = z.strictObject({
  ...trackRuleBase,
  kind: z.literal('stationary'),
  /** Optional; without it the whole frame. */
  zone: polygon.optional(),
  /** Seconds the anchor must stay within max_move of where it settled. */
  stationary_s: z.number().positive().max(86_400).default(30),
  /** px, or a fraction of the frame diagonal with units norm. */
  max_move: z.number().positive().default(15),
});

/** One variant per kind, so a misspelt key of one kind is reported at its own path. */
export const ruleSchema = z.discriminatedUnion('kind', [
  presenceRuleSchema, zoneRuleSchema, lineRuleSchema, countRuleSchema, stationaryRuleSchema,
]);

/**
 * Tier 1 of the response to an event: local actions, chosen by severity (and optionally rule), done
 * off the frame path within tens of milliseconds. See docs/response-tiers.md.
 */
export const gpioActionSchema = z.strictObject({
  /** gpiochip name or path, as gpioset takes it (`gpiochip0`, `/dev/gpiochip0`). */
  chip: z.string().min(1).regex(/^[^-\s]\S*$/, 'must not start with "-" or contain spaces'),
  line: z.number().int().min(0).max(1023),
  value: z.union([z.literal(0), z.literal(1)]).default(1),
  /** How long gpioset holds the value before it exits (and the line is released); 0: set and exit. */
  hold_ms: z.number().int().min(0).max(600_000).default(1000),
});

export const actionRuleSchema = z.strictObject({
  /** Events of these severities trigger the actions below. */
  severities: z.array(severitySchema).min(1),
  /** Only events of these rules; absent: any rule. */
  rules: z.array(id).min(1).optional(),
  /** Publish the event on the local broker (`actions.mqtt`), on its topic or this one. */
  mqtt: z.union([z.boolean(), z.strictObject({ topic: z.string().min(1) })]).default(false),
  /**
   * A program to run, argv[0] first, never through a shell. The event's fields come as VIGIL_*
   * environment variables (docs/response-tiers.md); nothing is interpolated into the arguments.
   */
  command: z.array(z.string().min(1)).min(1).optional(),
  /** A hook still running after this long is killed (and counted as failed). */
  command_timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
  gpio: gpioActionSchema.optional(),
}).refine((a) => a.mqtt !== false || a.command !== undefined || a.gpio !== undefined,
  { message: 'an action needs mqtt, command or gpio', path: ['mqtt'] });

export const actionsSchema = z.strictObject({
  /** The site's own broker (a PLC gateway, a siren controller, Node-RED): a client of its own, never the hub's. */
  mqtt: z.strictObject({
    url: z.string().regex(/^(mqtts?|wss?|tcp|tls):\/\/[^\s]+$/, 'expected an mqtt://, mqtts://, ws:// or wss:// URL'),
    client_id: z.string().min(1).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    /** `{site}`, `{device}`, `{stream}`, `{rule}` and `{severity}` are replaced. */
    topic: z.string().min(1).default('vigil/local/{stream}/{rule}'),
    qos: z.union([z.literal(0), z.literal(1)]).default(1),
  }).optional(),
  /** libgpiod's gpioset; `v1` (libgpiod 1.x, JetPack 5/6) or `v2` command-line syntax. */
  gpioset: z.string().min(1).default('gpioset'),
  gpioset_syntax: z.enum(['v1', 'v2']).default('v1'),
  /** Children (hooks, gpioset) running at once; an event beyond that is not acted on, and counted. */
  max_running: z.number().int().min(1).max(256).default(16),
  on: z.array(actionRuleSchema).default([]),
}).refine((a) => a.mqtt !== undefined || a.on.every((r) => r.mqtt === false),
  { message: 'an action publishes on the local broker but actions.mqtt is not set', path: ['mqtt'] });

/** Tier 3: a JPEG of the event's analysis frame with the object's box, stored and sent for review. */
export const evidenceSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Events of these severities get a snapshot. */
  severities: z.array(severitySchema).min(1).default(['warning', 'alert', 'critical']),
  quality: z.number().int().min(10).max(100).default(80),
  /** Also send each snapshot to the hub on …/evidence, through the outbox at low priority. */
  publish: z.boolean().default(true),
  /**
   * Evidence files (snapshots and clips) kept under `storage.dir`/evidence, MiB; beyond it those the
   * hub has go first, then by severity (least first) and age (docs/evidence-delivery.md).
   */
  max_mb: z.number().positive().max(1_048_576).default(512),
  /**
   * At most one snapshot per rule of a stream this often: a rule firing on every frame (a presence
   * rule without cooldown) would otherwise keep a core busy encoding JPEGs. 0: every event.
   */
  min_interval_s: z.number().min(0).max(3600).default(1),
  /**
   * `auto`: GStreamer's JPEG encoder (nvjpegenc on a Jetson, jpegenc elsewhere; jpeg-js where it
   * has none); `js`: always jpeg-js, in a worker thread (tens of ms of CPU per snapshot).
   */
  encoder: z.enum(['auto', 'js']).default('auto'),
  /**
   * Snapshots are taken at the camera's resolution (the full-resolution branch after the decoder)
   * and scaled down to at most this many pixels wide, aspect kept (docs/evidence-snapshots.md).
   */
  max_width: z.number().int().min(64).max(8192).default(1920),
  /** Event clips: the compressed video around each event, muxed to MP4 without re-encoding (docs/evidence-clips.md). */
  clips: z.strictObject({
    enabled: z.boolean().default(true),
    /** Video before the event; the clip starts at the keyframe at or before it. */
    pre_roll_s: z.number().min(0).max(30).default(5),
    /** Video after the event (an instant one) or after its activity ended. */
    post_roll_s: z.number().min(0).max(300).default(5),
    /** No clip is longer; a longer activity's clip ends here, marked truncated. */
    max_s: z.number().min(1).max(600).default(60),
    /** Events of these severities get a clip; absent: those that get a snapshot (`evidence.severities`). */
    severities: z.array(severitySchema).min(1).optional(),
    /** Compressed video kept per stream for the pre-roll, MiB: 5 s at 4 Mbit/s is about 2.5. */
    ring_mb: z.number().positive().max(1024).default(16),
  }).prefault({}),
});

export const configSchema = z.strictObject({
  device: deviceSchema,
  storage: storageSchema.prefault({}),
  mqtt: mqttSchema,
  /** Where model manifests find their files when they name them relatively. */
  models_dir: configPathSchema().optional(),
  models: z.array(modelRefSchema).default([]),
  inference: z.strictObject({
    providers: z.array(providerSchema).min(1).default(['tensorrt', 'cuda', 'cpu']),
    /**
     * onnxruntime intra-op threads per session; 0 lets onnxruntime decide. Default 1: decoding and
     * scaling need the other cores, and on a 2-core host NanoDet-m ran 38-45 ms/frame on one thread
     * against 92-97 ms with onnxruntime's default (GPU providers ignore this).
     */
    threads: z.number().int().min(0).max(64).default(1),
    /**
     * Each model's session runs in a worker thread. onnxruntime-node's run() blocks the thread that
     * calls it for the whole inference; in the main thread that stops pulls, rules, commits and
     * PUBACKs for every frame. false runs sessions in the main thread (for debugging).
     */
    worker: z.boolean().default(true),
  }).prefault({}),
  streams: z.array(streamSchema).default([]),
  /** Where streams decode: `process` gives each stream a child process (docs/process-isolation.md). */
  video: z.strictObject({
    isolation: z.enum(['in-process', 'process']).default('in-process'),
  }).prefault({}),
  rules: z.array(ruleSchema).default([]),
  /** Installed model packages: who may publish them, how many are kept, and how a new one is watched. See docs/models.md. */
  model_store: z.strictObject({
    /** Ed25519 public keys (PEM text, or the path of a PEM file) whose packages this device accepts. */
    trusted_keys: z.array(pemOrPathSchema()).default([]),
    /** Versions kept per model (the active and the previous one are never pruned). */
    keep_versions: z.number().int().min(2).max(100).default(3),
    /** Disk budget for all versions of one model, MiB. */
    max_disk_mb: z.number().positive().max(1_048_576).default(2048),
    /** Install what the hub offers as a retained message on vigil/v1/{site}/models/{name}. */
    hub_offers: z.boolean().default(true),
    /** Overrides the detected device class (`jetson-orin`, `linux-x64`, …) that picks a package's variant. */
    device_class: z.string().min(1).optional(),
    probation: z.strictObject({
      duration_s: z.number().min(0).max(86_400).default(300),
      min_frames: z.number().int().min(1).default(20),
      max_error_ratio: z.number().min(0).max(1).default(0.2),
      max_latency_ratio: z.number().min(1).default(3),
      min_detection_ratio: z.number().min(0).max(1).default(0.25),
      min_baseline_detections: z.number().min(0).default(0.5),
    }).prefault({}),
  }).prefault({}),
  /** The local control socket vigilctl talks to (mode 0660: the `vigil` group may use it). */
  control: z.strictObject({
    enabled: z.boolean().default(true),
    socket: configPathSchema().default('/run/vigil/vigild.sock'),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
    /** A level per component (the `component` field of each line), overriding `level` for that part only. */
    components: z.partialRecord(z.enum(LOG_COMPONENTS), z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])).default({}),
  }).prefault({}),
  /** Health telemetry: `vigil.telemetry/1` to the hub every `interval_s`, and a Prometheus endpoint. */
  telemetry: z.strictObject({
    interval_s: z.number().min(1).max(86_400).default(60),
    prometheus: z.strictObject({
      enabled: z.boolean().default(true),
      /** host:port (IPv6 as [::1]:9464); loopback by default, since the metrics reveal the site's activity. */
      listen: z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9464')
        .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65_535, 'port must be 0-65535')
        .default('127.0.0.1:9464'),
    }).prefault({}),
  }).prefault({}),
  /** Commands through the hub (MQTT 5 request/response) and who may send them; see docs/remote-management.md. */
  remote: remoteSchema.prefault({}),
  /** Tier 1: local actions on events (docs/response-tiers.md). */
  actions: actionsSchema.prefault({}),
  /** Tier 3: evidence snapshots (docs/response-tiers.md). */
  evidence: evidenceSchema.prefault({}),
  /** Federated alert verifier learned from operator reviews; see docs/federated-learning.md. */
  learning: learningConfigSchema.prefault({}),
  /** The device console: a web page on its own listener (docs/console.md). */
  console: consoleSchema,
  /** Hot-standby pair (docs/fault-tolerance.md). */
  pair: pairSchema.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type StreamConfig = z.infer<typeof streamSchema>;
export type RuleConfig = z.infer<typeof ruleSchema>;
export type RuleKind = RuleConfig['kind'];
export type PresenceRuleConfig = z.infer<typeof presenceRuleSchema>;
export type ZoneRuleConfig = z.infer<typeof zoneRuleSchema>;
export type LineRuleConfig = z.infer<typeof lineRuleSchema>;
export type CountRuleConfig = z.infer<typeof countRuleSchema>;
export type StationaryRuleConfig = z.infer<typeof stationaryRuleSchema>;
export type ScheduleWindow = z.infer<typeof scheduleWindowSchema>;
export type ModelRef = z.infer<typeof modelRefSchema>;
export type MqttConfig = z.infer<typeof mqttSchema>;
export type ActionsConfig = z.infer<typeof actionsSchema>;
export type ActionRule = z.infer<typeof actionRuleSchema>;
export type EvidenceConfig = z.infer<typeof evidenceSchema>;
export type ClipsConfig = EvidenceConfig['clips'];
export type ClipOverride = z.infer<typeof clipOverrideSchema>;
