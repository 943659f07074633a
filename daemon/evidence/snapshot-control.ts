import type { RuleConfig, StreamConfig } from '../config/schema.js';
import type { FullFrame, FullFrameSource } from '../video/full-frame.js';
import type { EvidenceService } from './evidence-service.js';
import { EMPTY_OVERLAY, ruleGeometry, type SnapshotOverlay } from './full-snapshot.js';


/**
 * How long a snapshot waits for a stream's first full frame after adding its branch: a camera
 * usually reconnects within it, and vigilctl (5 s by default) still gets the answer; the branch
 * stays, so a retry is immediate.
 */
const FULL_FRAME_WAIT_MS = 3_000;

export interface SnapshotRequest {
  readonly stream: string;
  readonly overlay: boolean;
  readonly max_width?: number | undefined;
}

export interface SnapshotReply {
  stream: string;
  width: number;
  height: number;
  bytes: number;
  ts: number;
  jpeg_base64: string;
}

export interface SnapshotDeps {
  video: FullFrameSource | undefined;
  evidence: EvidenceService | null | undefined;
  streams: readonly StreamConfig[];
  rules: readonly RuleConfig[];
}

/**
 * The `snapshot` control method (`vigilctl snapshot`, the console): the stream's newest decoded
 * frame at the camera's size, with the latest tracks and its rules' zones and lines when asked,
 * scaled and encoded like an event's snapshot. Errors name the stream and what is missing.
 */
export async function takeSnapshot(deps: SnapshotDeps, req: SnapshotRequest): Promise<SnapshotReply> {
  const config = deps.streams.find((s) => s.id === req.stream);
  if (!config) {
    const ids = deps.streams.map((s) => s.id);
    throw new Error(`no stream "${req.stream}" (streams: ${ids.length > 0 ? ids.join(', ') : 'none'})`);
  }
  if (!config.enabled) throw new Error(`stream "${req.stream}" is disabled`);
  const { video, evidence } = deps;
  if (!video || !evidence) throw new Error('snapshots are not available: the daemon is starting or stopping');
  if (!video.isRunning(req.stream)) throw new Error(`stream "${req.stream}" is not running`);
  // Streams whose rules take no evidence snapshots, with the console off, decode no full frames
  // until asked: the first snapshot of such a stream restarts its pipeline once to add the branch.
  const branch = await video.ensureFullFrames?.(req.stream, FULL_FRAME_WAIT_MS);
  if (branch === 'timeout') {
    throw new Error(`stream "${req.stream}" had no full-resolution frames (no evidence snapshots for its rules, console off); `
      + `its pipeline was restarted to add them, but no frame came within ${FULL_FRAME_WAIT_MS / 1000} s: try again (see vigilctl status)`);
  }
  const { jpeg, width, height, ts } = await evidence.snapshot(() => {
    const frame = video.latestFullFrame(req.stream);
    if (frame === null) throw new Error(`stream "${req.stream}" has no decoded frame yet (see vigilctl status)`);
    return { frame, overlay: req.overlay ? liveOverlay(deps, video, req.stream, frame) : EMPTY_OVERLAY };
  }, req.max_width);
  return { stream: req.stream, width, height, bytes: jpeg.length, ts, jpeg_base64: jpeg.toString('base64') };
}

/** The latest tracks (or detections) of the stream and its rules' zones and lines. */
function liveOverlay(deps: SnapshotDeps, video: FullFrameSource, stream: string, frame: FullFrame): SnapshotOverlay {
  const seen = video.latestObjects?.(stream) ?? null;
  // Rule geometry and boxes in the pixels of the analysed frame's source; scaled to this frame when it differs.
  const size = seen ? { width: seen.width, height: seen.height } : { width: frame.width, height: frame.height };
  return {
    objects: (seen?.objects ?? []).map((o) => ({ box: o.box, label: o.label, ...(o.id !== null ? { trackId: o.id } : {}) })),
    ...ruleGeometry(deps.rules.filter((r) => r.stream === stream), size.width, size.height),
    size,
    firstIsEvent: false,
  };
}
