/**
 * An event's evidence files (snapshots and clips) as the store records them: each file's size and
 * sha256 are kept so that a file changed on disk is found before it is sent, and what was sent.
 */

export type EvidenceKind = 'snapshot' | 'clip';

export interface EvidenceFile {
  readonly eventId: string;
  readonly kind: EvidenceKind;
  /** Absolute path, under `<storage.dir>/evidence/`. */
  readonly path: string;
  readonly bytes: number;
  /** Lower-case hex sha256 of the file's bytes. */
  readonly sha256: string;
  /** Pixels of the picture / video. */
  readonly width: number;
  readonly height: number;
  /** Clips: length in seconds, and the wall-clock time (ms since epoch) of the first frame. */
  readonly durationS?: number;
  readonly startedAt?: number;
  /** Clips: why a clip is shorter than asked (`no keyframe in pre-roll`, `disk full`, `stopped`, ...); absent when whole. */
  readonly truncated?: string;
  readonly createdAt: number;
}

/** What produces evidence needs of the store (EventStore implements it). */
export interface EvidenceFileSink {
  /**
   * Records a finished file for its event and queues it for the hub (after the event's own
   * messages). False when the event no longer exists (evicted): the caller deletes the file.
   */
  addEvidenceFile(file: EvidenceFile): boolean;
}
