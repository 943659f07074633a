import { errorMessage } from './errors.js';
import { withDeadline } from './lifecycle.js';
import type { Logger } from './log.js';

/** How long one service may take to stop before the next one's turn comes. */
export const STOP_DEADLINE_MS = 2000;

/**
 * A service in the daemon's one ordered list. `deadline: false` for a service that bounds its own
 * stop (it stops several parts, each with its own deadline or none).
 */
export interface ListedService {
  readonly name: string;
  /** May be aborted between services; one that must start earlier than its place (to exist for another) does so there. */
  start(signal: AbortSignal): Promise<void> | void;
  stop(): Promise<void> | void;
  readonly deadline?: boolean;
}

/**
 * The daemon's services in start order; stopped in the reverse order, each in its own try/catch
 * (and deadline), so one that fails or hangs cannot keep the rest from stopping.
 */
export class ServiceList {
  constructor(private readonly services: readonly ListedService[], private readonly log: Logger) {}

  async start(signal: AbortSignal): Promise<void> {
    for (const service of this.services) {
      signal.throwIfAborted();
      await service.start(signal);
    }
  }

  async stop(): Promise<void> {
    for (const service of [...this.services].reverse()) {
      await stopOne(service.name, () => service.stop(), this.log, service.deadline ?? true);
    }
  }
}

/** Stops one part, logging instead of throwing; also for the parts a service stops side by side. */
export async function stopOne(what: string, fn: () => Promise<void> | void, log: Logger, deadline = true): Promise<void> {
  try {
    if (deadline) await withDeadline(STOP_DEADLINE_MS, what, async () => { await fn(); });
    else await fn();
  } catch (err) {
    log.warn({ err: errorMessage(err) }, `stop: ${what} failed`);
  }
}
