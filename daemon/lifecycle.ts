/**
 * Every long-lived part of the daemon is a Service: started once by the composition root, stopped
 * in reverse order (the one ordered list is in app.ts, run by services.ts). `start` may be aborted between phases; `stop` has its own deadline and must
 * never throw past the caller (it logs instead).
 */
export interface Service {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

/** Runs `fn` but gives up after `ms`, so that one stuck part cannot hold up shutdown. */
export async function withDeadline<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([fn(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
