import { connect, type Socket } from 'node:net';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import {
  FrameReader, FrameSigner, PROTOCOL_VERSION, newNonce, parseBody, receiverMessageSchema, type ReceiverMessage, type ReplicaRow,
} from './peer-replica-protocol.js';

export interface SenderOptions {
  peer: { host: string; port: number };
  key: string;
  device: string;
  peerDevice: string;
  /** The event database (the store's file): read on a connection of the sender's own. */
  dbFile: string;
  /** This database's id (peer-replica.ts keeps it in the database itself). */
  source: string;
  /** Beyond it the copy is reported `behind` (and logged once). */
  maxLagMs: number;
  log: Logger;
  now?: () => number;
}

/**
 * The rows streamed: text messages of events (alerts, events, audit records, storage notices) and
 * the peer's event messages this device relayed at a takeover (they have no event row here, and
 * must survive this device too). Not evidence parts, not telemetry or learning updates.
 */
const ELIGIBLE = `(payload_blob IS NULL AND evidence_kind IS NULL
  AND (event_id IS NOT NULL OR topic LIKE '%/alerts' OR topic LIKE '%/events' OR topic LIKE '%/audit'))`;

/** Rows read per batch, and the most batches sent before the first is acknowledged. */
const BATCH_ROWS = 500;
const BATCH_BYTES = 2 * 1024 * 1024;
const WINDOW = 4;
/** The poll that notices acknowledgements (commits of the main connection) and anything not announced. */
const POLL_MS = 100;
/** Undelivered rows the peer holds, checked against the outbox per cycle (a large backlog is swept in turns). */
const SWEEP_ROWS = 2000;
const SWEEP_EVERY_MS = 250;
const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 5000;
const LAG_SAMPLES = 2048;
/** A batch not acknowledged within this long: the connection is taken for dead. */
const ACK_TIMEOUT_MS = 5000;

interface OutboxScan {
  seq: number;
  event_id: string | null;
  topic: string;
  payload: string;
  qos: number;
  priority: number;
  created_at: number;
  text: number;
}

/**
 * The active side of the replica stream: reads this device's outbox rows (the messages of its
 * events: alerts, events, audit and storage notices; not evidence parts nor telemetry) and streams
 * them to the peer, in seq order, resuming after a cut from the last row the peer committed. It
 * also tells the peer which rows left the outbox (the hub acknowledged them), so that the peer
 * never relays what the hub already has, beyond the lag.
 *
 * New rows are noticed at once (the store announces every commit, the store writer's included);
 * acknowledgements, committed on the store's main connection, by a `PRAGMA data_version` poll every
 * 100 ms on the sender's own read connection (which sees every other connection's commits).
 */
export class ReplicaSender {
  private readonly now: () => number;
  private db: Database | null = null;
  private scan: Statement<[number, number], OutboxScan> | null = null;
  private socket: Socket | null = null;
  private signer: FrameSigner | null = null;
  private resumed = false;
  private sentUpto = 0;
  private ackedUpto = 0;
  /** Batches sent and not yet acknowledged: their last seq, and each row's commit time. */
  private inflight: { upto: number; created: number[]; sentAt: number }[] = [];
  /** Rows the peer holds as undelivered (as far as this side knows). */
  private peerPending = new Set<number>();
  private sweepAt = 0;
  private lastSweep = 0;
  private sweepDue = false;
  /** Every committed row up to the last data_version seen has been read. */
  private readAll = false;
  private dataVersion = -1;
  private timer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoff = RECONNECT_MIN_MS;
  private stopped = true;
  private scheduled = false;
  private warnedUnreachable = false;
  private behindSince: number | null = null;
  private readonly lags: number[] = [];
  private lagAt = 0;
  /** Event-loop time spent reading, sending and on the peer's answers (ms): what replication costs the active. */
  busyMs = 0;
  private lastErrorLog = 0;
  sent = 0;
  acked = 0;
  connects = 0;
  lastAckAt: number | null = null;
  lastError: string | null = null;

  constructor(private readonly opts: SenderOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    this.db = new BetterSqlite3(this.opts.dbFile, { readonly: true, fileMustExist: true });
    // Text rows only: a binary evidence JPEG is not read (payload_blob is tested, never loaded). A
    // relayed peer's message has no event row here: its id is the payload's (CASE: json_extract
    // only runs on a row that is JSON).
    this.scan = this.db.prepare(`SELECT seq, CASE WHEN event_id IS NOT NULL THEN event_id
        WHEN ${ELIGIBLE} AND json_valid(payload) THEN json_extract(payload, '$.id') END AS event_id,
      topic, payload, qos, priority, created_at, ${ELIGIBLE} AS text FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`);
    this.timer = setInterval(() => this.kick(), POLL_MS);
    this.timer.unref();
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
    this.socket = null;
    this.db?.close();
    this.db = null;
    this.oldest = null;
  }

  /** Something was committed: look for rows to send at the next turn of the event loop. */
  kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const t0 = performance.now();
      try {
        this.cycle();
      } catch (err) {
        // Once per error and minute: a database gone from under it (its card dead) fails every poll.
        const message = errorMessage(err);
        if (message !== this.lastError || this.now() - this.lastErrorLog >= 60_000) {
          this.lastErrorLog = this.now();
          this.opts.log.warn({ err: message }, 'pair replica: reading the outbox failed');
        }
        this.lastError = message;
      } finally {
        this.busyMs += performance.now() - t0;
      }
    });
  }

  get connected(): boolean {
    return this.resumed;
  }

  /**
   * The peer was heard (a heartbeat): if the stream is waiting out a backoff, it connects now, so
   * that a peer that has just started gets the rows within a heartbeat, not a backoff of seconds.
   */
  nudge(): void {
    // Only while the peer was unreachable: a peer that answers and fails keeps its backoff.
    if (this.stopped || this.socket !== null || !this.warnedUnreachable || this.backoff <= RECONNECT_MIN_MS) return;
    clearTimeout(this.reconnectTimer);
    this.backoff = RECONNECT_MIN_MS;
    this.connect();
  }

  /** Rows not yet committed by the peer. */
  behind(): number {
    const db = this.db;
    if (db === null) return 0;
    return db.prepare<[number], number>(`SELECT count(*) FROM outbox WHERE seq > ? AND ${ELIGIBLE}`).pluck().get(this.ackedUpto) ?? 0;
  }

  /** Commit → committed on the peer, over the last rows acknowledged (ms). */
  lagPercentiles(): { p50: number; p99: number; max: number; samples: number } | null {
    if (this.lags.length === 0) return null;
    const sorted = [...this.lags].sort((a, b) => a - b);
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
    return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0, samples: sorted.length };
  }

  /** The age of the oldest row the peer has not committed (ms); 0: caught up. */
  oldestUnackedMs(): number {
    const first = this.inflight[0]?.created[0];
    if (first !== undefined) return Math.max(0, this.now() - first);
    // Seq order is commit order (one write lock), so the first eligible row after the mark is the oldest.
    this.oldest ??= this.db?.prepare<[number], number>(`SELECT created_at FROM outbox WHERE seq > ? AND ${ELIGIBLE}
      ORDER BY seq LIMIT 1`).pluck() ?? null;
    const at = this.oldest?.get(this.sentUpto);
    return at === undefined ? 0 : Math.max(0, this.now() - at);
  }

  private oldest: Statement<[number], number> | null = null;

  private connect(): void {
    if (this.stopped) return;
    const socket = connect({ host: this.opts.peer.host, port: this.opts.peer.port, timeout: ACK_TIMEOUT_MS });
    socket.setNoDelay(true);
    // A connect into a dead link (no route, a cut cable) gives up like a silent batch does.
    socket.on('timeout', () => { if (!this.resumed) socket.destroy(new Error('no answer from the peer')); });
    this.socket = socket;
    const signer = new FrameSigner(this.opts.key, 's');
    const reader = new FrameReader();
    const nonce = newNonce();
    let hello = false;
    const fail = (why: string): void => {
      this.lastError = why;
      this.opts.log.warn({ peer: this.opts.peerDevice, reason: why }, 'pair replica: the peer\'s answer was refused');
      socket.destroy();
    };
    socket.on('error', (err) => {
      this.lastError = err.message;
      if (!this.warnedUnreachable) {
        this.warnedUnreachable = true;
        this.opts.log.warn({ peer: this.opts.peerDevice, err: err.message }, 'pair replica: cannot reach the peer; retrying');
      }
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      if (this.resumed) this.opts.log.warn({ peer: this.opts.peerDevice, behind: this.behindOrNull() }, 'pair replica: the stream to the peer closed');
      this.resumed = false;
      this.signer = null;
      this.inflight = [];
      // What was sent and not acknowledged is sent again after the resume: until then it is behind.
      this.sentUpto = this.ackedUpto;
      if (this.stopped) return;
      const delay = this.backoff * (0.75 + Math.random() * 0.5);
      this.backoff = Math.min(RECONNECT_MAX_MS, this.backoff * 2);
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
      this.reconnectTimer.unref();
    });
    const onData = (chunk: Buffer): void => {
      const read = reader.push(chunk);
      if ('error' in read) return fail(read.error);
      for (const f of read.frames) {
        if (socket.destroyed) return;
        if (!hello) {
          if (!signer.checkHello(f.body, f.tag, '')) return fail('bad signature on the peer\'s hello (another pair key?)');
          const parsed = parseBody(f.body, receiverMessageSchema);
          if ('error' in parsed) return fail(parsed.error);
          const m = parsed.message;
          if (m.t !== 'hello') return fail(`expected a hello, got "${m.t}"`);
          if (m.device !== this.opts.peerDevice) return fail(`hello from device "${m.device}", expected "${this.opts.peerDevice}"`);
          hello = true;
          signer.open(nonce, m.nonce);
          socket.write(signer.hello({ t: 'hello', v: PROTOCOL_VERSION, device: this.opts.device, nonce, source: this.opts.source, high: this.high() }, m.nonce));
          continue;
        }
        if (!signer.check(f.body, f.tag)) return fail('bad signature (garbled, replayed or reordered frame)');
        const parsed = parseBody(f.body, receiverMessageSchema);
        if ('error' in parsed) return fail(parsed.error);
        this.onMessage(socket, signer, parsed.message);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      const t0 = performance.now();
      try {
        onData(chunk);
      } catch (err) {
        // The outbox unreadable (the hello's high mark, a resume's read): thrown from a socket's handler it would end vigild.
        fail(`reading the outbox failed: ${errorMessage(err)}`);
      } finally {
        this.busyMs += performance.now() - t0;
      }
    });
  }

  /** `behind()` for a log line, which must not throw from a socket's handler when the outbox is unreadable. */
  private behindOrNull(): number | null {
    try {
      return this.behind();
    } catch {
      return null;
    }
  }

  private onMessage(socket: Socket, signer: FrameSigner, m: ReceiverMessage): void {
    switch (m.t) {
      case 'hello':
        socket.destroy();
        return;
      case 'resume': {
        // From here on silence is judged by the acknowledgements, not by the connect's timeout.
        socket.setTimeout(0);
        this.signer = signer;
        this.resumed = true;
        this.connects += 1;
        this.warnedUnreachable = false;
        this.sentUpto = m.upto;
        this.ackedUpto = m.upto;
        this.inflight = [];
        this.peerPending = new Set();
        for (const [from, to] of m.pending) for (let s = from; s <= to; s++) this.peerPending.add(s);
        this.sweepAt = 0;
        this.lastSweep = 0;
        this.sweepDue = true;
        this.dataVersion = -1;
        this.readAll = false;
        this.opts.log.info({ peer: this.opts.peerDevice, upto: m.upto, pending: this.peerPending.size }, 'pair replica: streaming to the peer');
        this.kick();
        return;
      }
      case 'ack': {
        const now = this.now();
        while (this.inflight.length > 0 && this.inflight[0]!.upto <= m.upto) {
          const batch = this.inflight.shift()!;
          for (const c of batch.created) this.sample(now - c);
          this.acked += batch.created.length;
        }
        this.ackedUpto = Math.max(this.ackedUpto, m.upto);
        this.lastAckAt = now;
        // Reset only once the peer has stored something: a peer that fails at every batch (its disk
        // full) is retried with a growing delay, not five times a second.
        this.backoff = RECONNECT_MIN_MS;
        this.kick();
        return;
      }
    }
  }

  private sample(lag: number): void {
    if (this.lags.length < LAG_SAMPLES) this.lags.push(lag);
    else this.lags[this.lagAt++ % LAG_SAMPLES] = lag;
  }

  /** The largest seq the outbox ever handed out (AUTOINCREMENT keeps it in sqlite_sequence). */
  private high(): number {
    const v = this.db?.prepare<[], number>("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").pluck().get();
    return v ?? 0;
  }

  private cycle(): void {
    const db = this.db;
    const socket = this.socket;
    const signer = this.signer;
    this.watchLag();
    if (db === null || socket === null || signer === null || !this.resumed) return;
    // A cable pulled out sends no reset: TCP would retransmit for minutes before giving up. A batch
    // unacknowledged for this long ends the connection, and the next one resumes from the peer's mark.
    const waiting = this.inflight[0];
    if (waiting !== undefined && this.now() - waiting.sentAt > ACK_TIMEOUT_MS) {
      this.opts.log.warn({ peer: this.opts.peerDevice, waited_ms: this.now() - waiting.sentAt }, 'pair replica: no acknowledgement from the peer; reconnecting');
      socket.destroy();
      return;
    }
    const version = db.pragma('data_version', { simple: true }) as number;
    // A commit by any connection (an acknowledgement on the store's) may have removed rows the peer holds.
    const changed = version !== this.dataVersion;
    if (changed) this.sweepDue = true;
    this.dataVersion = version;
    // Idle: nothing committed by anyone since every row was read. The poll costs this check only.
    if (!changed && this.readAll && !this.sweepDue) return;
    this.readAll = false;
    while (this.inflight.length < WINDOW && socket.writableLength < BATCH_BYTES * 2) {
      const scanned = this.scan!.all(this.sentUpto, BATCH_ROWS);
      if (scanned.length === 0) {
        this.readAll = true;
        break;
      }
      const rows: ReplicaRow[] = [];
      let bytes = 0;
      let upto = this.sentUpto;
      let full = false;
      for (const r of scanned) {
        if (bytes > BATCH_BYTES) {
          full = true;
          break;
        }
        upto = r.seq;
        if (r.text !== 1 || r.event_id === null) continue;
        rows.push({ seq: r.seq, event_id: r.event_id, topic: r.topic, payload: r.payload, qos: r.qos === 0 ? 0 : 1, priority: r.priority, created_at: r.created_at });
        bytes += r.payload.length + r.topic.length + 100;
      }
      socket.write(signer.encode({ t: 'rows', rows, upto }));
      this.inflight.push({ upto, created: rows.map((r) => r.created_at), sentAt: this.now() });
      for (const r of rows) this.peerPending.add(r.seq);
      this.sent += rows.length;
      this.sentUpto = upto;
      if (scanned.length < BATCH_ROWS && !full) {
        this.readAll = true;
        break;
      }
    }
    if (this.sweepDue) this.sweep(db, socket, signer);
  }

  /**
   * Tells the peer which of the rows it holds left the outbox, a turn of the sweep at a time: all
   * of them when they are few (acknowledgements flowing), a large backlog in turns of 2000 rows,
   * at most every 250 ms: with 100 000 held, a turn costs the event loop 1.2 ms (p50, measured).
   */
  private sweep(db: Database, socket: Socket, signer: FrameSigner): void {
    const now = this.now();
    if (this.peerPending.size === 0) {
      this.sweepDue = false;
      return;
    }
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    // Insertion order is seq order: the resume's ranges come sorted, later rows are added as sent.
    const all = [...this.peerPending];
    if (this.sweepAt >= all.length) this.sweepAt = 0;
    const turn = all.slice(this.sweepAt, this.sweepAt + SWEEP_ROWS);
    this.sweepAt += SWEEP_ROWS;
    // Done once a turn has covered the whole set; a large backlog goes on turning.
    if (all.length <= SWEEP_ROWS) this.sweepDue = false;
    const present = new Set(db.prepare<[string], number>('SELECT seq FROM outbox WHERE seq IN (SELECT value FROM json_each(?))').pluck().all(JSON.stringify(turn)));
    const gone = turn.filter((s) => !present.has(s));
    if (gone.length === 0) return;
    for (const s of gone) this.peerPending.delete(s);
    this.sweepAt = Math.max(0, this.sweepAt - gone.length);
    socket.write(signer.encode({ t: 'gone', seqs: gone }));
  }

  /** One log line when the copy falls behind its bound, one when it is back. */
  private watchLag(): void {
    const age = this.oldestUnackedMs();
    if (age > this.opts.maxLagMs) {
      if (this.behindSince === null) {
        this.behindSince = this.now();
        this.opts.log.warn({ peer: this.opts.peerDevice, lag_ms: age, max_lag_ms: this.opts.maxLagMs, connected: this.resumed },
          'pair replica behind its lag bound');
      }
    } else if (this.behindSince !== null) {
      this.opts.log.info({ peer: this.opts.peerDevice, behind_ms: this.now() - this.behindSince }, 'pair replica caught up');
      this.behindSince = null;
    }
  }

  get isBehind(): boolean {
    return this.behindSince !== null;
  }
}
