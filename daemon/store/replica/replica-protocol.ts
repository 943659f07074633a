/** What the main thread and the replica's worker (replica-worker.ts) say to each other: plain data only. */
import type { EvidenceCopyStats } from './replica-evidence.js';
import type { RowCounts } from './replica-sync.js';

export interface ReplicaInit {
  primaryFile: string;
  storageDir: string;
  replicaDir: string;
  intervalMs: number;
  /** Copy evidence files too. */
  evidence: boolean;
  /** Evidence bytes copied per tick at most. */
  evidenceBytesPerTick: number;
  batch: number;
}

export type ToReplica = { type: 'flush'; id: number } | { type: 'close' };

export interface ReplicaFault {
  code: string;
  message: string;
}

export type FromReplica =
  /** A tick that reached the copy: every commit before `currentAsOf` is in it (null: still catching up). */
  | { type: 'tick'; at: number; currentAsOf: number | null; copied: RowCounts; removed: RowCounts; ms: number; evidence: EvidenceCopyStats; replaced: string | null }
  | { type: 'fault'; fault: ReplicaFault; at: number }
  | { type: 'flushed'; id: number; ok: boolean }
  | { type: 'closed' };
