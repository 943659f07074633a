/**
 * What the main thread and the store writer's worker (store-writer-worker.ts) say to each other:
 * plain data only, so every message survives the structured clone.
 */

export interface WireMessage {
  topic: string;
  payload: string;
  blob?: Uint8Array;
  qos: 0 | 1;
  priority: number;
}

export interface WireEvent {
  id: string;
  ts: number;
  stream: string;
  rule: string;
  severity: string;
  kind: string;
  /** JSON of the payload. */
  payload: string;
  createdAt: number;
}

export type WriteOp =
  /** A new event and its outbox row; `uplinkedAt` set (and no message) when the broker already has it. */
  | { op: 'record'; event: WireEvent; message: WireMessage | null; uplinkedAt: number | null }
  /**
   * A follow-up of an event (an activity's update or end): `merge` patched into the payload, the
   * still-queued rows whose `activity` is in `supersede` (a JSON array) dropped, `message` queued.
   * Nothing happens when the event is gone (evicted).
   */
  | { op: 'follow'; eventId: string; merge: string | null; supersede: string; message: WireMessage | null }
  | { op: 'merge'; eventId: string; fields: string };

export interface WorkerInit {
  file: string;
  busyTimeoutMs: number;
  /** How often the worker checkpoints the WAL (PASSIVE), ms; the main connection never does. */
  checkpointEveryMs: number;
  /** The WAL bound the main connection was opened with (open.ts), bytes. */
  walLimitBytes: number;
}

export type ToWorker = { type: 'batch'; id: number; ops: WriteOp[] } | { type: 'close' };

export interface WireFault {
  code: string;
  message: string;
}

export interface BatchReply {
  type: 'batch';
  id: number;
  /** How many ops from the front of the batch are done (committed, or refused for good: `errors`). */
  done: number;
  /** Ops among the done ones that failed for a reason of their own (not the disk); not retried. */
  errors: { index: number; message: string }[];
  /** The disk failed: the ops from `done` on are not stored and must be tried again later. */
  fault: WireFault | null;
  /** Time the commit took, ms (fsync included). */
  commitMs: number;
}

export type FromWorker = BatchReply | { type: 'closed' } | { type: 'checkpoint-failed'; fault: WireFault };
