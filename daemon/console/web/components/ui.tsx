import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../api.js';

/** An error from the device, shown where the action was taken (forms put it next to their button). */
export function ErrorBox({ error }: { error: unknown }): preact.JSX.Element | null {
  if (error === null || error === undefined || error === '') return null;
  return <div class="error" role="alert">{errorText(error)}</div>;
}

export function Notice({ children }: { children: ComponentChildren }): preact.JSX.Element {
  return <div class="notice" role="status">{children}</div>;
}

/**
 * Calls `load` now and then every `everyMs` while the page is visible (a hidden tab costs the
 * device nothing), never two at once; `deps` restart it. Returns the latest value and error.
 */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: unknown[] = []): { data: T | null; error: unknown; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const run = async (): Promise<void> => {
      if (stopped) return;
      if (document.visibilityState === 'visible') {
        try {
          const v = await loadRef.current();
          if (!stopped) {
            setData(v);
            setError(null);
          }
        } catch (err) {
          if (!stopped) setError(err);
        }
      }
      if (!stopped && everyMs > 0) timer = window.setTimeout(() => void run(), everyMs);
    };
    void run();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [everyMs, tick, ...deps]);
  return { data, error, reload: () => setTick((n) => n + 1) };
}

export const fmtTime = (ms: number): string => new Date(ms).toLocaleString(undefined, { hour12: false });
export const fmtNum = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));

export function Badge({ tone, children }: { tone: string; children: ComponentChildren }): preact.JSX.Element {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}
