import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import BetterSqlite3 from 'better-sqlite3';
import { waitFor } from '../helpers/shared.js';

/**
 * Freezes the active (SIGSTOP: it commits and sends nothing more) at a moment its peer's copy
 * holds every row of its outbox, and returns how many freezes that took. Replication is
 * asynchronous: what the active commits within the lag (a few ms) before it dies is lost with its
 * storage, by design, and a test that kills it at a random moment would fail whenever the kill
 * fell inside the lag. A freeze that does not see the copy catch up within 0.5 s lets the active
 * run on for a frame and freezes it again; the count says how often a random kill would have hit.
 */
export async function freezeWhenCopied(child: ChildProcess, dbFile: string, copyFile: string): Promise<number> {
  const db = new BetterSqlite3(dbFile, { readonly: true, fileMustExist: true });
  const copy = new BetterSqlite3(copyFile, { readonly: true, fileMustExist: true });
  try {
    const caughtUp = (): boolean => {
      const own = db.prepare('SELECT seq FROM outbox WHERE event_id IS NOT NULL AND payload_blob IS NULL AND evidence_kind IS NULL').pluck().all() as number[];
      const held = new Set(copy.prepare('SELECT seq FROM rows WHERE relayed_at IS NULL').pluck().all() as number[]);
      return own.every((seq) => held.has(seq));
    };
    for (let tries = 1; ; tries++) {
      child.kill('SIGSTOP');
      const held = await waitFor('the copy to hold the outbox', () => (caughtUp() ? true : undefined), 500, 20).catch(() => false);
      if (held) return tries;
      assert.ok(tries < 20, 'the peer\'s copy never caught up with the frozen active');
      child.kill('SIGCONT');
      await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    db.close();
    copy.close();
  }
}
