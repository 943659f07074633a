import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import BetterSqlite3 from 'better-sqlite3';
import { peerReplicaStatusSchema, type PeerReplicaStatus } from '../../daemon/pair/pair-status.js';
import { waitFor } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';

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

/**
 * A TCP port below the kernel's ephemeral range (32768+), free now: vigild binds it seconds later,
 * after its start, and a port from listen(0) can meanwhile be handed to some outgoing connection
 * of the other tests running on the machine (which made a replica listener fail to start once).
 */
export async function freeListenPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free TCP port in 20000-32000');
}

/** A daemon's replica log lines, for a failure message. */
export const replicaLines = (lines: readonly { msg: string }[]): string =>
  lines.filter((l) => l.msg.startsWith('pair replica')).map((l) => JSON.stringify(l)).join('\n');

/** The pair replica's status of the vigild behind `socket`, as `vigilctl status --json` gives it. */
export async function replicaStatus(socket: string): Promise<PeerReplicaStatus> {
  const shown = await vigilctl(['status', '--json', '--socket', socket]);
  assert.equal(shown.code, 0, shown.err);
  return peerReplicaStatusSchema.parse((JSON.parse(shown.out) as { pair?: { replica?: unknown } }).pair?.replica);
}
