import { z } from 'zod';

const msAgo = z.number().min(0).nullable();
const role = z.enum(['active', 'standby']);

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
});
export type PairStatus = z.infer<typeof pairStatusSchema>;
