import type { SecretProperty } from './pipeline.js';

/**
 * What vigild and the stream host (daemon/video/child/stream-host.c, the server that forks an
 * isolated stream's process) say to each other over the host's stdin and stdout. The pipeline and
 * its credentials travel here, never in argv or the environment, which other local users can read
 * from /proc.
 */

export interface StartRequest {
  /** vigild's number for this stream process; every line about it carries it. */
  readonly id: number;
  /** The child's pipeline (isolated-descriptions.ts), without credentials. */
  readonly description: string;
  /** The process's own directory, which holds `sockets`; removed when the process ends. */
  readonly dir: string;
  /** Every shmsink's socket: once all exist, the process reports `ready`. */
  readonly sockets: readonly string[];
  readonly secrets: readonly SecretProperty[];
}

/** What the stream host says about one stream process, one line each. */
export type HostMessage =
  /** The host's own start. */
  | { readonly type: 'hello'; readonly pid: number }
  /** The process was forked. */
  | { readonly type: 'spawned'; readonly id: number; readonly pid: number }
  /** Every shmsink has created its socket: vigild's shmsrcs can connect. */
  | { readonly type: 'ready'; readonly id: number }
  /**
   * The process's pipeline ended (a file): GDP does not carry EOS across (gdppay forwards the event
   * but writes no packet for it), so it comes this way.
   */
  | { readonly type: 'eos'; readonly id: number }
  /** An error on the process's bus, as the in-process stream would have seen it. */
  | { readonly type: 'error'; readonly id: number; readonly element: string | null; readonly message: string }
  /** The process ended and was reaped (pid 0: it was never forked). */
  | { readonly type: 'exit'; readonly id: number; readonly pid: number; readonly code: number | null; readonly signal: number | null };

/** The host's bound on a frame (stream-host.c's MAX_FRAME): it cannot skip a longer one, and ends. */
export const MAX_HOST_FRAME_BYTES = (1 << 20) - 1;

/** The frame the host reads: a 4-byte little-endian length, then NUL-terminated fields. */
function frame(fields: readonly string[]): Buffer {
  for (const f of fields) {
    // The host splits fields at NUL; one inside a value would shift every field after it.
    if (f.includes('\0')) throw new Error('a pipeline or credential holds a NUL character, which cannot be passed to the stream process');
  }
  const body = Buffer.from(fields.map((f) => `${f}\0`).join(''), 'utf8');
  // Beyond it the host would end, and every stream process with it, for one stream's request.
  if (body.length > MAX_HOST_FRAME_BYTES) throw new Error(`the stream process's request is ${body.length} bytes, beyond the stream host's bound of ${MAX_HOST_FRAME_BYTES}`);
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body.length);
  return Buffer.concat([head, body]);
}

export function encodeStart(r: StartRequest): Buffer {
  return frame(['start', String(r.id), r.description, r.dir, String(r.sockets.length), ...r.sockets,
    String(r.secrets.length), ...r.secrets.flatMap((s) => [s.element, s.property, s.value])]);
}

/** Sent through the host, which signals only a process it has not reaped yet (so never a reused pid). */
export function encodeSignal(id: number, signal: 'SIGTERM' | 'SIGKILL'): Buffer {
  return frame(['signal', String(id), String(signal === 'SIGTERM' ? 15 : 9)]);
}

const LINE = /^(hello|spawned|ready|eos|error|exit) (\d+)(?: (.*))?$/;
type LineKind = 'hello' | 'spawned' | 'ready' | 'eos' | 'error' | 'exit';

/** One line of the host's stdout; null for anything else (a line it did not write). */
export function parseHostLine(line: string): HostMessage | null {
  const m = LINE.exec(line);
  if (m === null) return null;
  const n = Number(m[2]);
  const rest = m[3] ?? '';
  switch (m[1] as LineKind) {
    case 'hello':
      return { type: 'hello', pid: n };
    case 'spawned':
      return /^\d+$/.test(rest) ? { type: 'spawned', id: n, pid: Number(rest) } : null;
    case 'ready':
      return { type: 'ready', id: n };
    case 'eos':
      return { type: 'eos', id: n };
    case 'error': {
      const sp = rest.indexOf(' ');
      const element = sp < 0 ? rest : rest.slice(0, sp);
      const message = sp < 0 ? '' : rest.slice(sp + 1);
      return { type: 'error', id: n, element: element === '-' || element === '' ? null : element, message: message || 'unknown GStreamer error' };
    }
    case 'exit': {
      const e = /^(\d+) (code|signal) (-?\d+)$/.exec(rest);
      if (e === null) return null;
      const v = Number(e[3]);
      return { type: 'exit', id: n, pid: Number(e[1]), code: e[2] === 'code' ? v : null, signal: e[2] === 'signal' ? v : null };
    }
  }
}
