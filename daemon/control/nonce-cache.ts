import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

const fileSchema = z.strictObject({
  schema: z.literal('vigil.nonces/1'),
  /** [key, expiry ms since the epoch] */
  nonces: z.array(z.tuple([z.string(), z.number()])),
});

export interface NonceCacheOptions {
  /** Where the cache is kept across restarts; null keeps it in memory only. */
  file: string | null;
  /** More than this many live nonces and new ones are refused, never old ones forgotten. */
  maxEntries?: number;
  log: Logger;
  now?: () => number;
}

/**
 * Nonces of accepted signed commands, each kept until its timestamp leaves the skew window: after
 * that the timestamp check refuses a replay on its own. Written to the state directory at each
 * accepted command (signed commands are rare; the file holds only the window's nonces), so a
 * restart right after a command does not open a window for its replay.
 */
export class NonceCache {
  private readonly entries = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: NonceCacheOptions) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
    this.load();
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    const expiry = this.entries.get(key);
    return expiry !== undefined && expiry > this.now();
  }

  /**
   * Remembers `key` until `expiresAt`; false (and nothing remembered) when the cache is full of live
   * nonces, which the caller must treat as a refusal: forgetting one would let its replay through.
   */
  add(key: string, expiresAt: number): boolean {
    this.prune();
    if (this.entries.size >= this.maxEntries) return false;
    this.entries.set(key, expiresAt);
    this.save();
    return true;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, expiry] of this.entries) if (expiry <= now) this.entries.delete(k);
  }

  private load(): void {
    const file = this.options.file;
    if (file === null) return;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.options.log.warn({ file, err: errorMessage(err) }, 'cannot read the nonce cache; starting empty');
      }
      return;
    }
    try {
      const parsed = fileSchema.parse(JSON.parse(text));
      const now = this.now();
      for (const [k, expiry] of parsed.nonces) if (expiry > now) this.entries.set(k, expiry);
    } catch (err) {
      this.options.log.warn({ file, err: errorMessage(err) }, 'the nonce cache is unreadable; starting empty');
    }
  }

  private save(): void {
    const file = this.options.file;
    if (file === null) return;
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.tmp`;
      writeFileSync(tmp, JSON.stringify({ schema: 'vigil.nonces/1', nonces: [...this.entries] }), { mode: 0o600 });
      renameSync(tmp, file);
    } catch (err) {
      // The in-memory cache still refuses replays until the next restart.
      this.options.log.warn({ file, err: errorMessage(err) }, 'cannot save the nonce cache');
    }
  }
}
