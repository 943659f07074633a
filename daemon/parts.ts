import path from 'node:path';
import type { Config } from './config/schema.js';
import { errorMessage } from './errors.js';
import { LearningService } from './learning/learning-service.js';
import { PairCatchUp } from './pair/catch-up.js';
import { PairService } from './pair/pair-service.js';
import { PeerReplica } from './pair/peer-replica.js';
import { reviewLabels } from './learning/review-labels.js';
import type { AuditRecorder } from './control/audit.js';
import type { Logger } from './log.js';
import type { AppStatus } from './status/app-status.js';
import { EventStore } from './store/event-store.js';
import type { EvidenceScrub } from './evidence/evidence-scrub.js';
import type { Replicator } from './store/replica/replica.js';
import type { RestoreReport } from './store/replica/replica-restore.js';
import { reportRestore, restoreHook } from './store/replica/replica-service.js';
import { evidenceOutbox } from './uplink/evidence-message.js';
import { DATABASE_FILE } from './store/open.js';
import { StoreWriter } from './store/store-writer.js';
import { TelemetryService } from './telemetry/telemetry-service.js';
import { ResponseTiers } from './tiers/response-tiers.js';
import type { ProtocolVersion } from './uplink/client-options.js';
import { storageOutbox } from './uplink/storage-message.js';
import { TestAlerts } from './uplink/test-alert.js';
import { Uplink, type StateInfo } from './uplink/uplink.js';
import type { FullFrameSource } from './video/full-frame.js';
import type { AccessUnitListener } from './video/access-unit.js';
import type { FrameTap } from './models/quantize/calibration-jobs.js';

/**
 * The long-lived parts the composition root (app.ts) started, each null before its service started
 * and after it stopped. The recorder, the control plane and the status read them at call time, so a
 * call during start or stop finds what exists instead of a part that is gone.
 */
export interface DaemonParts {
  /** The running config: live management (manage/) replaces its streams and rules. */
  cfg: Config;
  store: EventStore | null;
  /** The recorder's way to the database: commits off the frame path, degraded mode when the disk fails. */
  writer: StoreWriter | null;
  uplink: Uplink | null;
  testAlerts: TestAlerts | null;
  telemetry: TelemetryService | null;
  tiers: ResponseTiers | null;
  learning: LearningService | null;
  /** The hot-standby pair (pair/pair-service.ts); absent: not paired. */
  pair?: PairService | null;
  /** The event database's copy on another volume (store/replica/); absent: storage.replica.dir not set. */
  replica?: Replicator | null;
  /** The evidence files' periodic re-hash (evidence/evidence-scrub.ts); absent: off. */
  scrub?: EvidenceScrub | null;
  /** The pair's catch-up at a takeover (pair/catch-up.ts); the recorder hands it events recorded as standby that commit later. */
  pairCatchUp?: PairCatchUp | null;
  /** The streams' newest full-resolution frames, for event snapshots, and their access units, for the console's live view (the stream supervisor). */
  video?: FullFrameSource & FrameTap & { onAccessUnit(streamId: string, listener: AccessUnitListener): () => void };
}

/** What building a part needs besides the parts before it. */
export interface PartContext {
  rootLog: Logger;
  /** The composition root's own log (component `app`). */
  log: Logger;
  protocolVersion: ProtocolVersion | undefined;
  status: () => AppStatus;
  state: () => StateInfo;
}

// Each part is built from the config and the parts started before it (app.ts lists the order).

export function openStore(parts: DaemonParts, ctx: PartContext, audit?: AuditRecorder): void {
  const { cfg } = parts;
  let restored: RestoreReport | null = null;
  const restore = restoreHook(cfg, ctx.rootLog.child({ component: 'store', part: 'replica' }), (r) => { restored = r; });
  // recover: a corrupt database is moved aside and reported instead of failing every restart;
  // with a replica (storage.replica.dir), rebuilt from it (docs/data-replication.md).
  const store = EventStore.open(cfg.storage.dir, {
    ...(restore ? { restore } : {}),
    recover: true, budgetBytes: cfg.storage.max_db_mb * 1024 * 1024, notices: storageOutbox(cfg.device),
    disk: { reserveBytes: cfg.storage.reserve_mb !== undefined ? cfg.storage.reserve_mb * 1024 * 1024 : null },
    log: ctx.rootLog.child({ component: 'store' }),
  });
  parts.store = store;
  ctx.log.info({ db: path.join(cfg.storage.dir, DATABASE_FILE) }, 'event store open');
  if (restored) reportRestore(restored, store.quarantine !== null, audit, ctx.rootLog.child({ component: 'store', part: 'replica' }));
  parts.writer = new StoreWriter({
    file: path.join(cfg.storage.dir, DATABASE_FILE), store, device: cfg.device, log: ctx.rootLog.child({ component: 'store' }),
    publisher: () => parts.uplink, maxHeld: cfg.storage.degraded_queue,
    onStateChange: () => parts.uplink?.publishState(),
  });
}

export async function startUplink(parts: DaemonParts, ctx: PartContext, signal: AbortSignal): Promise<void> {
  const { cfg, store } = parts;
  if (!store) throw new Error('event store is closed');
  parts.uplink = new Uplink({
    config: cfg.mqtt, device: cfg.device, outbox: store, log: ctx.rootLog.child({ component: 'uplink' }),
    state: ctx.state,
    ...(ctx.protocolVersion !== undefined ? { protocolVersion: ctx.protocolVersion } : {}),
  });
  await parts.uplink.start(signal);
}

export function startTestAlerts(parts: DaemonParts, ctx: PartContext): void {
  const { cfg, store, uplink } = parts;
  if (!store || !uplink) return;
  parts.testAlerts = new TestAlerts({ store, uplink, device: cfg.device, log: ctx.rootLog.child({ component: 'test-alert' }) });
  parts.testAlerts.start();
}

/** Right after the uplink, whose outbox its reports go through; it reads everything else through status(). */
export async function startTelemetry(parts: DaemonParts, ctx: PartContext, signal: AbortSignal): Promise<void> {
  const { cfg, store } = parts;
  if (!store) throw new Error('event store is closed');
  parts.telemetry = new TelemetryService({
    config: cfg.telemetry, device: cfg.device, status: ctx.status, outbox: store,
    diskPath: cfg.storage.dir, log: ctx.rootLog.child({ component: 'telemetry' }),
  });
  await parts.telemetry.start(signal);
}

/** Federated learning costs only itself when it cannot start (unreadable keys): the video goes on. */
export async function startLearning(parts: DaemonParts, ctx: PartContext, signal: AbortSignal): Promise<void> {
  const { cfg, store, uplink } = parts;
  if (!cfg.learning.enabled || !store || !uplink) return;
  try {
    const learning = await LearningService.create({
      config: cfg, store, labels: reviewLabels(store), feed: uplink,
      log: ctx.rootLog.child({ component: 'learning' }),
    });
    parts.learning = learning;
    await learning.start(signal);
  } catch (err) {
    ctx.log.error({ err: errorMessage(err) }, 'federated learning unavailable');
  }
}

/** Before the streams, whose events it answers; its histograms join the telemetry's /metrics. */
export function startTiers(parts: DaemonParts, ctx: PartContext): void {
  const { cfg, store, telemetry } = parts;
  if (!store || !telemetry) throw new Error('event store or telemetry not started');
  const tiers = new ResponseTiers({
    actions: cfg.actions, evidence: cfg.evidence, storageDir: cfg.storage.dir, device: cfg.device, store,
    log: ctx.rootLog.child({ component: 'tiers' }), registry: telemetry.registry,
    clips: { config: () => parts.cfg, sink: () => parts.store },
    // A standby of a pair stores and keeps evidence but runs no actions (docs/fault-tolerance.md).
    mayAct: () => parts.pair?.active ?? true,
  });
  store.onUplinked = (eventId, at) => tiers.uplinked(eventId, at);
  store.onEvicted = () => tiers.evidence.prune(true);
  store.onSpaceNeeded = (bytes) => tiers.evidence.free(bytes);
  // Evidence files (snapshots, clips) reach the hub in parts that reference the file (docs/evidence-delivery.md).
  const evidenceParts = evidenceOutbox(cfg.device, { publish: cfg.evidence.publish });
  // A standby of a pair keeps its evidence files but sends none: the hub has no alert of it to attach them to.
  store.evidenceOutbox = (file) => ((parts.pair?.active ?? true) ? evidenceParts(file) : []);
  // A clip recorded (addEvidenceFile) counts towards evidence.max_mb at once, as a snapshot does.
  store.onEvidenceAdded = (file) => { if (file.kind !== 'snapshot') tiers.evidence.prune(); };
  tiers.start(cfg.rules.some((r) => cfg.evidence.enabled && cfg.evidence.severities.includes(r.severity)));
  parts.tiers = tiers;
}

/** A cold standby's pipelines (pair.mode `cold`): the App starts them at a takeover and stops them at a step-down. */
export interface ColdStreams {
  resume(): Promise<void>;
  pause(): Promise<void>;
}

/**
 * After the uplink (its broker path) and before the streams: a paired device starts as standby,
 * so its first events are not published until it knows it is active. A role change is an audit
 * record at severity `alert`.
 */
export async function startPair(parts: DaemonParts, ctx: PartContext, audit: AuditRecorder, cold: ColdStreams): Promise<void> {
  const { cfg } = parts;
  if (!cfg.pair.enabled) return;
  // A cold standby's pipelines start at its takeover and stop at its step-down, one change at a time.
  let pipelines = Promise.resolve();
  const coldRole = (active: boolean): void => {
    pipelines = pipelines.then(() => (active ? cold.resume() : cold.pause()))
      .then(() => ctx.log.info({ active }, active ? 'pair (cold): active, streams started' : 'pair (cold): standby, streams stopped'))
      .catch((err: unknown) => ctx.log.error({ err: errorMessage(err) }, active ? 'pair: streams did not start at the takeover' : 'pair: streams did not stop at the step-down'));
  };
  const caughtUp = parts.store
    ? new PairCatchUp({ store: parts.store, device: cfg.device, rules: () => parts.cfg.rules, log: ctx.rootLog.child({ component: 'pair' }) })
    : null;
  // The event database streamed to the peer, the peer's kept here (docs/data-replication.md).
  // It failing (its port taken, its file unwritable) costs the copy, not the pair: the cameras are watched either way.
  let replica: PeerReplica | null = null;
  if (cfg.pair.replica && parts.store && cfg.pair.key !== undefined && cfg.pair.peer_device !== undefined) {
    try {
      const peer = cfg.pair.peer_device;
      replica = new PeerReplica({ replica: cfg.pair.replica, key: cfg.pair.key, device: cfg.device, peer, store: parts.store,
        dbFile: path.join(cfg.storage.dir, DATABASE_FILE), stateDir: cfg.storage.dir, log: ctx.rootLog.child({ component: 'pair', part: 'replica' }),
        // The hub is told why alerts of the peer arrive on this device's topics.
        onRelayed: (n) => audit({ outcome: 'accepted', transport: 'pair', method: 'pair.relay', request_id: null, operator: null, key_id: null,
          reason: `epoch ${parts.pair?.stamp().epoch ?? '?'}: ${n} accepted and undelivered message(s) of ${peer} sent from its copy here` }, 'warning') });
      await replica.start();
    } catch (err) {
      replica = null;
      ctx.log.error({ err: errorMessage(err) }, 'pair replica unavailable: the pair runs without a copy on the peer');
    }
  }
  const pair = new PairService({
    config: cfg.pair, device: cfg.device, stateDir: cfg.storage.dir, log: ctx.rootLog.child({ component: 'pair' }), replica,
    onTransition: (t) => {
      audit({ outcome: 'accepted', transport: 'pair', method: t.to === 'active' ? 'pair.takeover' : 'pair.step_down', request_id: null,
        operator: null, key_id: null, reason: `epoch ${t.epoch}: ${t.reason}`.slice(0, 300) }, t.to === 'active' ? 'alert' : 'warning');
      parts.uplink?.publishState();
      if (t.to === 'active' && t.from === 'standby') caughtUp?.takeover(t.peerHeardAt ?? Date.now(), pair.stamp());
      // Only a silent peer's rows: one that hands back or loses a tie is alive and sends its own.
      if (t.to === 'active' && t.from === 'standby' && t.peerSilent === true) replica?.takeover();
      if (t.to === 'standby') replica?.standby();
      if (t.to === 'standby') caughtUp?.standby();
      if (cfg.pair.mode === 'cold') coldRole(t.to === 'active');
    },
    // A cold standby runs no stream: being up and hearing the peer is all it can show.
    ready: () => cfg.pair.mode === 'cold' || ctx.state().streams.every((s) => s.state === 'playing' || s.state === 'disabled'),
  });
  await pair.start();
  if (parts.uplink) pair.attachBroker(parts.uplink);
  parts.pair = pair;
  parts.pairCatchUp = caughtUp;
}
