import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * `mkdir -p`, one level at a time. Node's own recursive mkdir loops for ever, synchronously, on a
 * path it cannot create in some pseudo file systems (`/proc/x/y`: mkdir answers ENOENT under a
 * directory that exists), so the daemon spun at full CPU and never saw SIGTERM. Here each missing
 * level is made on its own and the first that fails is named.
 */
export function makeDirs(dir: string, mode?: number): void {
  const target = path.resolve(dir);
  const missing: string[] = [];
  for (let p = target; ; p = path.dirname(p)) {
    let st;
    try {
      st = statSync(p);
    } catch {
      missing.unshift(p);
      if (path.dirname(p) === p) break;
      continue;
    }
    if (!st.isDirectory()) throw new Error(`${p} is not a directory`);
    break;
  }
  for (const p of missing) {
    try {
      mkdirSync(p, mode === undefined ? undefined : { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new Error(`cannot create ${p}${p === target ? '' : ` (for ${target})`}: ${(err as Error).message}`, { cause: err });
    }
  }
}
