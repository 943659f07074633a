import type { SecretProperty } from './pipeline.js';

/**
 * Messages between vigild and an isolated stream's child process (isolated-child.ts), over the
 * child's IPC channel. Credentials travel here, never in the child's argv or environment, which
 * other local users can read from /proc.
 */
export type ToChild =
  | {
    readonly type: 'start'; readonly description: string; readonly secrets: readonly SecretProperty[];
    /** The child's own directory, which holds `sockets`; it removes it when it ends. */
    readonly dir: string; readonly sockets: readonly string[];
  }
  | { readonly type: 'stop' };

export type FromChild =
  /** Every shmsink has created its socket: vigild's shmsrcs can connect. */
  | { readonly type: 'ready' }
  /**
   * The child's pipeline ended (a file): GDP does not carry EOS across (gdppay forwards the event
   * but writes no packet for it), so it comes this way.
   */
  | { readonly type: 'eos' }
  /** An error on the child's bus, as the in-process stream would have seen it. */
  | { readonly type: 'error'; readonly element: string | null; readonly message: string };

export function isFromChild(v: unknown): v is FromChild {
  if (typeof v !== 'object' || v === null || !('type' in v)) return false;
  switch (v.type) {
    case 'ready':
    case 'eos':
      return true;
    case 'error':
      return 'message' in v && typeof v.message === 'string';
    default:
      return false;
  }
}

export function isToChild(v: unknown): v is ToChild {
  if (typeof v !== 'object' || v === null || !('type' in v)) return false;
  switch (v.type) {
    case 'start':
      return 'description' in v && typeof v.description === 'string' && 'secrets' in v && Array.isArray(v.secrets)
        && 'sockets' in v && Array.isArray(v.sockets) && 'dir' in v && typeof v.dir === 'string';
    case 'stop':
      return true;
    default:
      return false;
  }
}
