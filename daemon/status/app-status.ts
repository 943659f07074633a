import type { ModelRegistry, ModelStatus } from '../models/model-registry.js';
import type { DaemonParts } from '../parts.js';
import type { PairStatus } from '../pair/pair-service.js';
import type { StorageStatus } from '../store/types.js';
import type { ReplicaStatus } from '../store/replica/replica.js';
import type { ScrubStats } from '../evidence/evidence-scrub.js';
import type { StreamLine, StreamSupervisor } from '../streams/stream-supervisor.js';
import type { TiersStatus } from '../tiers/response-tiers.js';
import type { TelemetryPayload } from '../uplink/payloads.js';
import { storageState } from '../uplink/storage-message.js';
import type { StateInfo, UplinkStatus } from '../uplink/uplink.js';
import { VERSION } from '../version.js';

/** What `vigilctl status` shows and the telemetry reports from: the daemon's parts, read at call time. */
export interface AppStatus {
  version: string;
  device: { id: string; site: string };
  streams: StreamLine[];
  /** version: the model store's active version ("config": the manifest vigil.yaml names); see docs/models.md. */
  models: ModelStatus[];
  uplink: UplinkStatus | null;
  storage: StorageStatus | null;
  /** The newest health report sent to the hub; absent before the first (one per `telemetry.interval_s`). */
  telemetry?: TelemetryPayload;
  /** Response tiers: p50/p99 per stage after inference, local actions, evidence snapshots. */
  tiers?: TiersStatus;
  /** The hot-standby pair (docs/fault-tolerance.md); absent: not paired. */
  pair?: PairStatus;
  /** The event database's copy on another volume (docs/data-replication.md); absent: none configured. */
  replica?: ReplicaStatus;
  /** The evidence files' re-hash; absent: off. */
  scrub?: ScrubStats;
}

/** The daemon's status (control `status`, telemetry, the periodic stream stats). */
export function appStatus(parts: DaemonParts, models: ModelRegistry, streams: StreamSupervisor): AppStatus {
  const { cfg, store, writer, uplink, telemetry, tiers } = parts;
  return {
    version: VERSION,
    device: cfg.device,
    streams: streams.status(),
    models: models.status(cfg.models),
    uplink: uplink?.status() ?? null,
    storage: store ? { ...store.storageStatus(), ...(writer ? { health: writer.health() } : {}) } : null,
    ...(telemetry?.latest ? { telemetry: telemetry.latest } : {}),
    ...(tiers ? { tiers: tiers.status() } : {}),
    ...(parts.pair ? { pair: parts.pair.status() } : {}),
    ...(parts.replica ? { replica: parts.replica.status() } : {}),
    ...(parts.scrub ? { scrub: { ...parts.scrub.stats } } : {}),
  };
}

/** The retained state message the uplink publishes (online, versions, streams, degraded storage). */
export function stateInfo(parts: DaemonParts, models: ModelRegistry, streams: StreamSupervisor): StateInfo {
  return {
    version: VERSION,
    providers: models.providers(),
    streams: streams.states(),
    ...(parts.writer ? { storage: storageState(parts.writer.condition()) } : {}),
    ...(parts.pair ? { pair: pairState(parts.pair.status()) } : {}),
  };
}

function pairState(s: PairStatus): NonNullable<StateInfo['pair']> {
  return { role: s.role, peer: s.peer, epoch: s.epoch };
}
