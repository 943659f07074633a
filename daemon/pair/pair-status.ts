import { z } from 'zod';

const msAgo = z.number().min(0).nullable();
const role = z.enum(['active', 'standby']);

const count = z.number().int().min(0);

/** The pair's replica stream (pair/peer-replica.ts, docs/data-replication.md): this device's outbox to the peer, and the peer's to this device. */
export const peerReplicaStatusSchema = z.strictObject({
  /** `behind`: rows older than `max_lag_ms` are not yet committed on the peer; `disconnected`: no stream now. */
  state: z.enum(['ok', 'behind', 'disconnected']),
  connected: z.boolean(),
  /** Rows of this device's outbox not yet committed on the peer. */
  behind: count,
  /** The oldest of them, ms since its commit; 0: caught up. */
  oldestMs: count,
  /** Commit → committed on the peer, over the last 2048 rows acknowledged; null: none yet. */
  lag: z.strictObject({ p50: z.number(), p99: z.number(), max: z.number(), samples: count }).nullable(),
  maxLagMs: count,
  lastAckMsAgo: msAgo,
  sent: count,
  acked: count,
  /** Event-loop time spent reading, sending and hearing back about this device's rows since start (ms): replication's cost on the active. */
  cpuMs: z.number().min(0),
  /** The copy of the peer's undelivered rows kept here. */
  incoming: z.strictObject({
    connected: z.boolean(),
    pending: count,
    relayed: count,
    lastRowsMsAgo: msAgo,
    /** Rows received since start. */
    received: count,
    /** Event-loop time spent receiving them (verify, parse, commit), ms: the copy's cost on this device. */
    cpuMs: z.number().min(0),
    /** Connections refused on the replica port (bad key, garbled frames, another device). */
    refused: count,
    lastRefusal: z.string().nullable(),
  }),
});
export type PeerReplicaStatus = z.infer<typeof peerReplicaStatusSchema>;

/** A paired device's view of the pair, in `vigilctl status` (control `status`) and the console. */
export const pairStatusSchema = z.strictObject({
  role,
  epoch: z.number().int().min(0),
  preferred: z.boolean(),
  /** The peer's device id. */
  peer: z.string(),
  peerRole: role.nullable(),
  peerEpoch: z.number().int().min(0).nullable(),
  /** Since the peer's last heartbeat over UDP and through the broker; null: never heard. */
  peerHeardMsAgo: msAgo,
  peerBrokerHeardMsAgo: msAgo,
  /** The peer's retained state on the broker; null: not seen. */
  peerState: z.enum(['online', 'offline']).nullable(),
  takeovers: z.number().int().min(0),
  stepDowns: z.number().int().min(0),
  /** Heartbeats dropped: bad signature, replayed, malformed. */
  dropped: z.number().int().min(0),
  /** Heartbeats older than one already heard on the other path (a backlog delivered late), ignored. */
  stale: z.number().int().min(0),
  /** When the role last changed (or the service started). */
  since: z.string(),
  /** Absent: `pair.replica` not configured. */
  replica: peerReplicaStatusSchema.optional(),
});
export type PairStatus = z.infer<typeof pairStatusSchema>;
