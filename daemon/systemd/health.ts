/**
 * What "healthy" means for the systemd watchdog, computed from the app's public status.
 *
 * The question is not "does the event loop turn" but "is the daemon doing its job, or at least
 * trying to". Per stream:
 *
 * - `playing` is healthy while its newest frame is younger than the stall window.
 * - `starting` is healthy for one stall window per attempt: the video supervisor itself fails a
 *   start that yields no frame within `stall_timeout_ms`.
 * - `backoff` is healthy: a camera that fails and is retried is the supervisor working, and a
 *   restart of the whole daemon would not bring the camera back. It is stuck only if it stays in
 *   one backoff longer than the longest restart delay plus the window.
 * - `stopped`, `ended`, `disabled` are not watched (a file that ended has nothing more to give).
 *
 * The daemon is healthy while at least one watched stream is healthy, or when none is watched.
 * Only when every watched stream is stuck — which a working supervisor never lets last — do pings
 * stop, so that systemd restarts the service. A degraded store (docs/storage-faults.md) is named in
 * the status text but does not stop the pings: a restart cannot fix the disk.
 *
 * The window is 1.5 × `stall_timeout_ms`: the supervisor checks every quarter of the timeout, so a
 * stall is acted on by 1.25 × at the latest; the remaining quarter is slack for a busy event loop.
 * A stall the supervisor handles therefore never withholds a ping, and one it fails to handle does.
 */
import type { StreamConfig } from '../config/schema.js';
import type { StreamStatus } from '../video/frame.js';
import type { Health } from './notify.js';

/** The part of `App.status()` the health check reads; `AppStatus` satisfies it. */
export interface HealthInput {
  readonly streams: readonly Pick<StreamStatus, 'id' | 'state' | 'restarts' | 'lastFrameAt'>[];
  readonly uplink: { readonly connected: boolean; readonly outboxDepth: number } | null;
  /** Degraded mode (store/store-writer.ts): named first in the status text, never a reason to restart. */
  readonly storage?: { readonly health?: { readonly state: 'ok' | 'degraded'; readonly reason: string | null; readonly held: number } } | null;
}

export type StreamLimits = Pick<StreamConfig, 'id' | 'stall_timeout_ms' | 'restart_max_ms'>;

export interface HealthOptions {
  /** The streams' configs, for their stall timeouts and restart caps. */
  readonly streams: readonly StreamLimits[];
  readonly now?: () => number;
  /** Window = factor × stall_timeout_ms. */
  readonly windowFactor?: number;
}

/** Used for a stream that appears in the status but not in the config given (should not happen). */
const FALLBACK_LIMITS = { stall_timeout_ms: 15_000, restart_max_ms: 60_000 };

type Verdict = 'playing' | 'starting' | 'retrying' | 'stuck' | 'idle';

interface Seen {
  key: string;
  since: number;
}

/**
 * Builds the check. It is stateful: for `starting` and `backoff` it remembers when it first saw the
 * stream in that state for the current attempt (`restarts` increments on every new attempt), since
 * the status carries no timestamp for a state change. Seen only at the check's own rate, an attempt
 * looks younger than it is, which errs towards healthy by at most one period.
 */
export function createHealthCheck(status: () => HealthInput, opts: HealthOptions): () => Health {
  const now = opts.now ?? Date.now;
  const factor = opts.windowFactor ?? 1.5;
  const limits = new Map(opts.streams.map((s) => [s.id, s]));
  const seen = new Map<string, Seen>();

  const verdict = (s: HealthInput['streams'][number], t: number): { v: Verdict; detail?: string } => {
    const lim = limits.get(s.id) ?? FALLBACK_LIMITS;
    const windowMs = lim.stall_timeout_ms * factor;
    if (s.state === 'stopped' || s.state === 'ended' || s.state === 'disabled') {
      seen.delete(s.id);
      return { v: 'idle' };
    }
    const key = `${s.state}:${s.restarts}`;
    let entry = seen.get(s.id);
    if (entry?.key !== key) {
      entry = { key, since: t };
      seen.set(s.id, entry);
    }
    const inState = t - entry.since;
    switch (s.state) {
      case 'playing': {
        const idle = t - (s.lastFrameAt ?? entry.since);
        return idle <= windowMs ? { v: 'playing' } : { v: 'stuck', detail: `${s.id}: no frame for ${Math.round(idle / 1000)} s` };
      }
      case 'starting':
        return inState <= windowMs ? { v: 'starting' } : { v: 'stuck', detail: `${s.id}: starting for ${Math.round(inState / 1000)} s` };
      case 'backoff':
        return inState <= lim.restart_max_ms + windowMs ? { v: 'retrying' }
          : { v: 'stuck', detail: `${s.id}: in backoff for ${Math.round(inState / 1000)} s` };
    }
  };

  return () => {
    const st = status();
    const t = now();
    const counts: Record<Verdict, number> = { playing: 0, starting: 0, retrying: 0, stuck: 0, idle: 0 };
    const details: string[] = [];
    for (const s of st.streams) {
      const { v, detail } = verdict(s, t);
      counts[v]++;
      if (detail !== undefined) details.push(detail);
    }
    for (const id of seen.keys()) if (!st.streams.some((s) => s.id === id)) seen.delete(id);
    const watched = st.streams.length - counts.idle;
    const healthy = watched === 0 || counts.stuck < watched;
    const parts = [`${counts.playing}/${st.streams.length} streams playing`];
    if (counts.starting > 0) parts.push(`${counts.starting} starting`);
    if (counts.retrying > 0) parts.push(`${counts.retrying} retrying`);
    if (counts.stuck > 0) parts.push(`${counts.stuck} stalled (${details.join('; ')})`);
    if (st.uplink !== null) {
      parts.push(`uplink ${st.uplink.connected ? 'connected' : 'disconnected'}`,
        `${st.uplink.outboxDepth} event${st.uplink.outboxDepth === 1 ? '' : 's'} queued`);
    }
    // A store that cannot write is loud here (systemctl status shows this text) but keeps the
    // pings going: a restart does not make a read-only or full disk writable, it would only lose
    // the events held in memory and loop. The alarm, status, doctor and metrics say the rest.
    const storage = st.storage?.health;
    if (storage?.state === 'degraded') parts.unshift(`degraded: storage ${storage.reason ?? 'failing'}; ${storage.held} events held in memory`);
    const text = parts.join(', ');
    return { healthy, status: healthy ? text : `unhealthy: ${text}` };
  };
}
