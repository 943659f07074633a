import { randomUUID } from 'node:crypto';
import { renameSync } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventStore } from '../store/event-store.js';
import type { OutboxMessage } from '../store/types.js';
import { TOPIC_ROOT } from '../uplink/topics.js';
import type { PairConfig } from './pair-config.js';
import { splitHostPort } from './pair-config.js';
import type { PeerReplicaStatus } from './pair-status.js';
import { PeerCopy, peerCopyFile, type PendingRow } from './peer-replica-copy.js';
import { ReplicaReceiver } from './peer-replica-receiver.js';
import { ReplicaSender } from './peer-replica-sender.js';

export interface PeerReplicaOptions {
  replica: NonNullable<PairConfig['replica']>;
  key: string;
  device: { id: string; site: string };
  peer: string;
  store: EventStore;
  /** The store's database file (the sender reads it on a connection of its own). */
  dbFile: string;
  /** Where the copy of the peer's rows is kept (storage.dir). */
  stateDir: string;
  log: Logger;
  /** Told after the peer's messages were queued at a takeover (perhaps on a retry): for the audit record. */
  onRelayed?: (count: number) => void;
  now?: () => number;
}

/** A takeover whose relay failed (the store degraded) tries again this often, until a step-down. */
const RELAY_RETRY_MS = 5000;

/**
 * The pair's replica of the event database (docs/data-replication.md, "Replication to the standby
 * peer"). Both devices run both sides, whatever their role: each streams its own undelivered event
 * messages to the other and keeps the other's. When this device takes over from standby, it sends
 * the peer's rows the peer had not delivered (its storage may be gone with it), unchanged: the same
 * event ids, device, epoch and producer, on this device's own topics.
 */
export class PeerReplica {
  private readonly sender: ReplicaSender;
  private readonly receiver: ReplicaReceiver;
  private readonly copy: PeerCopy;
  private readonly now: () => number;
  private unsubscribe: (() => void) | null = null;
  private relayed = 0;
  private counts: { at: number; pending: number; relayed: number } | null = null;

  constructor(private readonly opts: PeerReplicaOptions) {
    this.now = opts.now ?? Date.now;
    this.copy = openCopy(opts.stateDir, opts.peer, opts.log, this.now());
    this.receiver = new ReplicaReceiver({
      listen: splitHostPort(opts.replica.listen), key: opts.key, device: opts.device.id, peer: opts.peer,
      copy: this.copy, log: opts.log, now: this.now,
    });
    this.sender = new ReplicaSender({
      peer: splitHostPort(opts.replica.peer), key: opts.key, device: opts.device.id, peerDevice: opts.peer,
      dbFile: opts.dbFile, source: sourceId(opts.store), maxLagMs: opts.replica.max_lag_ms, log: opts.log, now: this.now,
    });
  }

  async start(): Promise<void> {
    try {
      await this.receiver.start();
    } catch (err) {
      this.copy.close();
      throw new Error(`pair.replica.listen ${this.opts.replica.listen}: ${errorMessage(err)}`);
    }
    this.sender.start();
    // The store tells of every commit that queued rows (the store writer's thread's too): sent at once.
    this.unsubscribe = this.opts.store.onEnqueued(() => this.sender.kick());
    this.opts.log.info({ listen: this.opts.replica.listen, peer: this.opts.replica.peer, copy: this.copy.counts() }, 'pair replica started');
  }

  async stop(): Promise<void> {
    clearTimeout(this.retry);
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.sender.stop();
    await this.receiver.stop();
    try {
      this.copy.sync();
    } finally {
      this.copy.close();
    }
  }

  /** A heartbeat of the peer arrived (pair-service.ts). */
  peerHeard(): void {
    this.sender.nudge();
  }

  /** The receiver's bound port (tests bind port 0). */
  get port(): number {
    return this.receiver.port;
  }

  /** Main-thread ms spent reading and sending this device's rows. */
  get busyMs(): number {
    return this.sender.busyMs;
  }

  /**
   * At a takeover from standby: queues, durably and in one transaction, every row the peer had not
   * delivered when last heard, on this device's topics; a row is relayed once. Returns how many.
   */
  takeover(): number {
    clearTimeout(this.retry);
    const relayed = this.relay();
    if (relayed === null) {
      // The store failing must not cost the peer's events: they stay in the copy and are tried again.
      this.retry = setTimeout(() => this.takeover(), RELAY_RETRY_MS);
      this.retry.unref();
      return 0;
    }
    if (relayed > 0) {
      try {
        this.opts.onRelayed?.(relayed);
      } catch (err) {
        this.opts.log.warn({ err: errorMessage(err) }, 'pair replica: the relay could not be recorded');
      }
    }
    return relayed;
  }

  /** A step-down: a relay still to be retried is not (the new active has the peer's copy too, or the peer is back). */
  standby(): void {
    clearTimeout(this.retry);
  }

  private retry: NodeJS.Timeout | undefined;

  /** Queues the copy's unrelayed rows; null: the store refused them (they stay unrelayed). */
  private relay(): number | null {
    let rows: PendingRow[];
    try {
      rows = this.copy.toRelay();
    } catch (err) {
      // Thrown from the retry's timer it would end vigild; from a transition, skip what follows it (a cold standby's streams).
      this.opts.log.error({ err: errorMessage(err), retry_ms: RELAY_RETRY_MS }, 'pair replica: the copy of the peer\'s rows could not be read');
      return null;
    }
    if (rows.length === 0) return 0;
    const from = `${TOPIC_ROOT}/${this.opts.device.site}/${this.opts.peer}/`;
    const to = `${TOPIC_ROOT}/${this.opts.device.site}/${this.opts.device.id}/`;
    const messages: OutboxMessage[] = [];
    // The same message kept under two sources (the peer's database restored from an older copy) goes once.
    const seen = new Set<string>();
    let foreign = 0;
    for (const r of rows) {
      if (!r.topic.startsWith(from)) {
        foreign += 1;
        continue;
      }
      const key = `${r.topic}\n${r.payload}`;
      if (seen.has(key)) continue;
      seen.add(key);
      messages.push({ topic: to + r.topic.slice(from.length), payload: r.payload, qos: r.qos === 0 ? 0 : 1, priority: r.priority });
    }
    try {
      this.opts.store.enqueueDurable(messages);
    } catch (err) {
      this.opts.log.error({ err: errorMessage(err), rows: messages.length, retry_ms: RELAY_RETRY_MS }, 'pair replica: the peer\'s undelivered events could not be queued');
      return null;
    }
    // Queued first, then marked: a crash in between sends them twice (the same ids), never not at all.
    try {
      this.copy.markRelayed(rows, this.now());
    } catch (err) {
      // They are queued: a retry would queue them again. Left unmarked, a later takeover sends them twice (the same ids).
      this.opts.log.error({ err: errorMessage(err), rows: rows.length }, 'pair replica: the relayed rows could not be marked in the copy');
    }
    this.relayed += messages.length;
    this.counts = null;
    this.opts.log.warn({ peer: this.opts.peer, relayed: messages.length, foreign, oldest: new Date(rows[0]!.created_at).toISOString(),
      newest: new Date(rows.at(-1)!.created_at).toISOString() }, 'pair replica: the peer\'s accepted and undelivered events queued for the hub');
    return messages.length;
  }

  status(): PeerReplicaStatus {
    const now = this.now();
    // The copy's counts scan its table: at most every 200 ms, however often status is asked.
    if (this.counts === null || now - this.counts.at >= 200) this.counts = { at: now, ...this.copy.counts() };
    const oldestMs = this.sender.oldestUnackedMs();
    const connected = this.sender.connected;
    return {
      state: !connected ? 'disconnected' : oldestMs > this.opts.replica.max_lag_ms ? 'behind' : 'ok',
      connected, behind: this.sender.behind(), oldestMs, lag: this.sender.lagPercentiles(), maxLagMs: this.opts.replica.max_lag_ms,
      lastAckMsAgo: this.sender.lastAckAt === null ? null : now - this.sender.lastAckAt,
      sent: this.sender.sent, acked: this.sender.acked, cpuMs: Math.round(this.sender.busyMs * 10) / 10,
      incoming: {
        connected: this.receiver.connected, pending: this.counts.pending, relayed: this.counts.relayed,
        lastRowsMsAgo: this.receiver.lastRowsAt === null ? null : now - this.receiver.lastRowsAt, received: this.receiver.received,
        cpuMs: Math.round(this.receiver.busyMs * 10) / 10,
        refused: this.receiver.refused, lastRefusal: this.receiver.lastRefusal,
      },
    };
  }
}

/**
 * The copy of the peer's rows; one that cannot be opened or fails its check (a crash of the card
 * it is on) is moved aside, never deleted, and a new one started: the peer sends its undelivered
 * rows again at the next connection (its watermark is gone with the file).
 */
function openCopy(dir: string, peer: string, log: Logger, now: number): PeerCopy {
  const file = path.join(dir, peerCopyFile(peer));
  try {
    const copy = new PeerCopy(dir, peer);
    const check = copy.db.pragma('quick_check', { simple: true });
    if (check === 'ok') return copy;
    copy.close();
    throw new Error(`quick_check: ${String(check)}`);
  } catch (err) {
    const aside = `${file}.corrupt-${now}`;
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        renameSync(file + suffix, aside + suffix);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    log.error({ err: errorMessage(err), file, moved_to: aside }, 'pair replica: the copy of the peer\'s rows was unreadable; moved aside, starting a new one');
    return new PeerCopy(dir, peer);
  }
}

/**
 * This database's id, kept in the database itself: a fresh database (the old one quarantined, or
 * lost with its card) starts its outbox seqs again and gets a new id with them, so that the peer
 * never takes its rows for ones it already holds.
 */
function sourceId(store: EventStore): string {
  store.db.exec('CREATE TABLE IF NOT EXISTS pair_replica_source (id TEXT NOT NULL) STRICT');
  const existing = store.db.prepare<[], string>('SELECT id FROM pair_replica_source LIMIT 1').pluck().get();
  if (existing !== undefined) return existing;
  const id = randomUUID();
  store.db.prepare('INSERT INTO pair_replica_source (id) VALUES (?)').run(id);
  return id;
}
