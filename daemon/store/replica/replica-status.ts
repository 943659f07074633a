import { z } from 'zod';

/**
 * What `vigilctl status` (control `status`) shows of the replica and of the evidence scrub
 * (docs/data-replication.md): defined once here, the types inferred from it.
 */

const count = z.number().int().min(0);
const rowCounts = z.strictObject({ events: count, outbox: count, evidence: count, reviews: count });

export const replicaStatusSchema = z.strictObject({
  /** ok: within its lag bound; behind: beyond it (a slow volume); degraded: the copy cannot be written; starting: not reached yet. */
  state: z.enum(['starting', 'ok', 'behind', 'degraded']),
  dir: z.string(),
  file: z.string(),
  reason: z.string().nullable(),
  /** Since when not ok (ms since the epoch). */
  since: z.number().nullable(),
  /** How far behind the primary the copy is now, ms (null before the first copy). */
  lag_ms: count.nullable(),
  /** The largest lag seen since start, ms. */
  max_lag_ms: count,
  copied: rowCounts,
  removed: rowCounts,
  /** Ticks that failed (the volume missing, read-only, full, failing). */
  faults: count,
  last_tick_ms: z.number().min(0).nullable(),
  evidence: z.strictObject({
    /** Files copied since start, and their bytes. */
    copied: count,
    bytes: count,
    /** Files with a known sha256 not copied yet. */
    pending: count,
    /** Files whose bytes on the primary no longer matched their sha256: not copied. */
    mismatched: count,
  }),
  /** The copy is on the same filesystem as the primary: it covers a corrupt file, not a failed card. */
  same_volume: z.boolean(),
});
export type ReplicaStatus = z.infer<typeof replicaStatusSchema>;

export const scrubStatsSchema = z.strictObject({
  running: z.boolean(),
  passes: count,
  /** Files and bytes re-hashed since start. */
  files: count,
  bytes: count,
  mismatches: count,
  missing: count,
  repaired: count,
  /** Found bad and not repaired (no good copy): refused, never sent as if good. */
  unrepaired: count,
  /** When the last pass ended (ms since the epoch). */
  lastPassAt: z.number().nullable(),
});
export type ScrubStats = z.infer<typeof scrubStatsSchema>;
