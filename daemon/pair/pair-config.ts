import { z } from 'zod';

const hostPort = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 192.168.1.20:7420')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65_535, 'port must be 0-65535');

/**
 * A hot-standby pair (docs/fault-tolerance.md): two devices over the same cameras, exactly one
 * publishing alerts and running actions. Off by default; a lone device ignores everything here.
 */
export const pairSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** The other device's heartbeat address, and its device id (whose retained state is the second witness). */
  peer: hostPort.optional(),
  peer_device: z.string().min(1).optional(),
  /** Where this device receives the peer's heartbeats. */
  listen: hostPort.default('0.0.0.0:7420'),
  /** Shared secret of the pair: every heartbeat carries an HMAC-SHA256 over it; datagrams that fail it are dropped. */
  key: z.string().min(16, 'must be at least 16 characters').optional(),
  /** The device that is active when both are healthy and their epochs tie. Exactly one of the two should say true. */
  preferred: z.boolean().default(false),
  heartbeat_ms: z.number().int().min(50).max(60_000).default(1000),
  /** Heartbeats missed in a row before the peer counts as silent. */
  misses: z.number().int().min(1).max(100).default(3),
  /**
   * After a takeover: `stay` keeps the new active; `preferred_after_s: N` lets the preferred device
   * take its role back once it has heard the active peer continuously for N seconds.
   */
  hand_back: z.union([z.literal('stay'), z.strictObject({ preferred_after_s: z.number().min(0).max(86_400) })]).default('stay'),
  /**
   * `warm`: the standby analyses and stores in parallel and only stops short of publishing and acting.
   * `cold`: the standby keeps its models loaded but runs no pipeline (no decoding, no inference)
   * until it takes over; a takeover then waits for the pipelines to start and their first keyframe.
   */
  mode: z.enum(['warm', 'cold']).default('warm'),
  /**
   * The event database replicated to the peer (docs/data-replication.md): each device streams its
   * outbox's event messages over TCP to `peer` and keeps the peer's in a file of its own; at a
   * takeover the new active sends what the peer had accepted and not delivered. Absent: off.
   */
  replica: z.strictObject({
    /** Where this device accepts the peer's stream. */
    listen: hostPort,
    /** The peer's `replica.listen`. */
    peer: hostPort,
    /** Beyond it the stream is reported `behind` (log, `vigilctl status`). */
    max_lag_ms: z.number().int().min(50).max(600_000).default(1000),
  }).optional(),
}).superRefine((v, ctx) => {
  if (!v.enabled) return;
  for (const key of ['peer', 'peer_device', 'key'] as const) {
    if (v[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'is required when pair.enabled is true' });
  }
});
export type PairConfig = z.infer<typeof pairSchema>;

/** Splits a validated host:port (IPv6 in brackets). */
export function splitHostPort(value: string): { host: string; port: number } {
  const at = value.lastIndexOf(':');
  return { host: value.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(value.slice(at + 1)) };
}
