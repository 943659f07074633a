import type { IClientPublishOptions } from 'mqtt';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { TOPIC_ROOT, assertTopicLevel } from '../uplink/topics.js';
import { readEpoch, writeEpoch } from './epoch-file.js';
import { HeartbeatLink, decodeHeartbeat, type Heartbeat, type PairRole } from './heartbeat.js';
import { splitHostPort, type PairConfig } from './pair-config.js';
import type { PairStatus, PeerReplicaStatus } from './pair-status.js';

export type { PairStatus } from './pair-status.js';

/** What the pair needs from the uplink (Uplink provides it): the broker is its second path to the peer. */
export interface PairBroker {
  readonly isConnected: boolean;
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void, qos?: 0 | 1): void;
  unsubscribe(filter: string): void;
  publishDirect(topic: string, payload: string | Buffer, opts?: IClientPublishOptions): Promise<void>;
}

/** What an alert of a paired device carries (uplink/alert-message.ts). */
export interface PairStamp {
  epoch: number;
  producer: string;
}

export interface PairTransition {
  from: PairRole;
  to: PairRole;
  epoch: number;
  reason: string;
  /** When the peer was last heard on either path (wall clock, ms); null: never. */
  peerHeardAt: number | null;
  /** A takeover because the peer fell silent (dead, or cut off): what it had not delivered may be lost with it. */
  peerSilent?: boolean;
}


export interface PairServiceOptions {
  config: PairConfig;
  device: { id: string; site: string };
  stateDir: string;
  log: Logger;
  /** Called after every change of role (a takeover, a step-down); a throw is logged. */
  onTransition(t: PairTransition): void;
  /** Whether this device's own pipelines are up (every enabled stream playing): the preferred one takes its role back only then. */
  ready?: () => boolean;
  /** The event database's replica stream to and from the peer (peer-replica.ts): its status joins the pair's, and it stops with it. */
  replica?: { status(): PeerReplicaStatus; stop(): Promise<void>; peerHeard(): void } | null;
  now?: () => number;
}

/**
 * The role of this device in a hot-standby pair (docs/fault-tolerance.md has the rules in prose).
 *
 * Two paths to the peer: signed UDP heartbeats on the LAN and the same heartbeats through the
 * broker, plus the peer's retained state and last will there. A standby takes over when the UDP
 * path has been silent for `heartbeat_ms × misses` AND the broker does not vouch for the peer (its
 * broker heartbeats silent for as long, or its last will published, or this device cannot reach
 * the broker itself). A peer heard only through the broker is alive behind a cut LAN link: the
 * standby stays standby. Two actives (a partition where each lost the other on both paths) resolve
 * as soon as either path carries the other's heartbeat: the higher epoch stays, a tie goes to the
 * preferred device, then to the lower device id.
 */
export class PairService {
  private readonly cfg: PairConfig & { peer: string; peer_device: string; key: string };
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly link: HeartbeatLink;
  private broker: PairBroker | null = null;
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private role: PairRole = 'standby';
  private epoch = 0;
  private startedAt = 0;
  private since = 0;
  private peerBeat: Heartbeat | null = null;
  private peerUdpAt: number | null = null;
  private peerBrokerAt: number | null = null;
  /** Since when the peer has been heard without a silence (for hand-back). */
  private heardSince: number | null = null;
  private peerState: 'online' | 'offline' | null = null;
  private lastBroker: { boot: string; seq: number } | null = null;
  /** Since when `ready` has said yes without a break; null: not ready now. */
  private readySince: number | null = null;
  private takeovers = 0;
  /** Peer beats older than one heard before on the other path, ignored (see onBeat). */
  private staleBeats = 0;
  private stepDowns = 0;
  /** One persisting write at a time, in order. */
  private writes: Promise<void> = Promise.resolve();
  private changing = false;
  private warnedCut = false;
  private readonly topics: { own: string; peer: string; peerState: string };

  constructor(private readonly opts: PairServiceOptions) {
    const { config } = opts;
    if (config.peer === undefined || config.peer_device === undefined || config.key === undefined) {
      throw new Error('pair: peer, peer_device and key are required when pair.enabled is true');
    }
    this.cfg = { ...config, peer: config.peer, peer_device: config.peer_device, key: config.key };
    assertTopicLevel('pair.peer_device', this.cfg.peer_device);
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.windowMs = config.heartbeat_ms * config.misses;
    const base = `${TOPIC_ROOT}/${opts.device.site}`;
    this.topics = { own: `${base}/${opts.device.id}/pair`, peer: `${base}/${this.cfg.peer_device}/pair`, peerState: `${base}/${this.cfg.peer_device}/state` };
    this.link = new HeartbeatLink({
      listen: splitHostPort(config.listen), peer: splitHostPort(this.cfg.peer), key: this.cfg.key,
      onBeat: (beat) => this.onBeat(beat, 'udp'),
      onDropped: (reason) => this.log.debug({ reason }, 'pair heartbeat dropped'),
    });
  }

  /** Loads the epoch and binds the heartbeat socket; the role starts as standby until the peer is heard or known dead. */
  async start(): Promise<void> {
    this.epoch = readEpoch(this.opts.stateDir);
    await this.link.start();
    this.startedAt = this.now();
    this.since = this.startedAt;
    // Four checks per heartbeat: a silence is noticed within a quarter period of its deadline.
    const every = Math.max(10, Math.floor(this.cfg.heartbeat_ms / 4));
    this.timer = setInterval(() => this.tick(), every);
    this.timer.unref();
    this.log.info({ epoch: this.epoch, peer: this.cfg.peer_device, preferred: this.cfg.preferred, listen: this.cfg.listen }, 'pair started as standby');
    this.beat();
  }

  /** The broker path: the uplink, once it exists. Subscriptions survive its reconnects. */
  attachBroker(broker: PairBroker): void {
    this.broker = broker;
    broker.subscribe(this.topics.peer, (_topic, payload) => {
      const decoded = decodeHeartbeat(payload, this.cfg.key);
      if (!('beat' in decoded) || decoded.beat.device !== this.cfg.peer_device) return;
      // As on UDP: a replayed "I am alive" must not keep a dead peer vouched for.
      const last = this.lastBroker;
      if (last && last.boot === decoded.beat.boot && decoded.beat.seq <= last.seq) return;
      this.lastBroker = { boot: decoded.beat.boot, seq: decoded.beat.seq };
      this.onBeat(decoded.beat, 'broker');
    }, 0);
    broker.subscribe(this.topics.peerState, (_topic, payload) => this.onPeerState(payload), 1);
  }

  stop(): void {
    clearInterval(this.timer);
    this.link.close();
    if (this.broker) {
      this.broker.unsubscribe(this.topics.peer);
      this.broker.unsubscribe(this.topics.peerState);
    }
    this.opts.replica?.stop().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'pair replica did not stop cleanly'));
  }

  /** Whether this device publishes alerts and runs actions now. */
  get active(): boolean {
    return this.role === 'active';
  }

  stamp(): PairStamp {
    return { epoch: this.epoch, producer: this.opts.device.id };
  }

  /** The bound heartbeat port (tests bind port 0). */
  get port(): number {
    return this.link.port;
  }

  status(): PairStatus {
    const now = this.now();
    return {
      role: this.role, epoch: this.epoch, preferred: this.cfg.preferred, peer: this.cfg.peer_device,
      peerRole: this.peerBeat?.role ?? null, peerEpoch: this.peerBeat?.epoch ?? null,
      peerHeardMsAgo: this.peerUdpAt === null ? null : now - this.peerUdpAt,
      peerBrokerHeardMsAgo: this.peerBrokerAt === null ? null : now - this.peerBrokerAt,
      peerState: this.peerState, takeovers: this.takeovers, stepDowns: this.stepDowns, dropped: this.link.dropped, stale: this.staleBeats,
      since: new Date(this.since).toISOString(),
      ...(this.opts.replica ? { replica: this.opts.replica.status() } : {}),
    };
  }

  private beat(): void {
    const beat = { device: this.opts.device.id, role: this.role, epoch: this.epoch, preferred: this.cfg.preferred };
    const data = this.link.send(beat);
    const broker = this.broker;
    if (broker?.isConnected) {
      // QoS 0: a late heartbeat is worth nothing; a failure is the silence the peer measures.
      broker.publishDirect(this.topics.own, data, { qos: 0 }).catch(() => undefined);
    }
  }

  private onBeat(beat: Heartbeat, path: 'udp' | 'broker'): void {
    if (beat.device !== this.cfg.peer_device) {
      this.log.warn({ device: beat.device, expected: this.cfg.peer_device }, 'pair heartbeat from an unexpected device ignored');
      return;
    }
    const now = this.now();
    this.opts.replica?.peerHeard();
    if (this.heardSince === null || this.silentFor(now) >= this.windowMs) this.heardSince = now;
    if (path === 'udp') this.peerUdpAt = now;
    else this.peerBrokerAt = now;
    // Both paths carry one sequence. A beat older than one already heard on the other path (the
    // broker's TCP backlog delivered after a partition heals) still shows the path works, but its
    // role and epoch are stale: taken as news, a peer already active again looked standby, and this
    // device "won the tie" and took over a second time.
    const last = this.peerBeat;
    if (last !== null && last.boot === beat.boot && beat.seq <= last.seq) {
      // Equal: the same beat arriving by its second path, as every beat normally does.
      if (beat.seq < last.seq) this.staleBeats += 1;
      return;
    }
    this.peerBeat = beat;
    this.guard(() => this.decide(now));
  }

  private onPeerState(payload: Buffer): void {
    try {
      const state = (JSON.parse(payload.toString('utf8')) as { state?: unknown }).state;
      if (state === 'online' || state === 'offline') this.peerState = state;
    } catch {
      this.log.debug('unreadable peer state ignored');
    }
    this.guard(() => this.decide(this.now()));
  }

  private tick(): void {
    this.ticks += 1;
    if (this.ticks % 4 === 0) this.beat();
    const now = this.now();
    if (!(this.opts.ready?.() ?? true)) this.readySince = null;
    else this.readySince ??= now;
    this.guard(() => this.decide(now));
  }

  /** Since the peer was last heard on either path (or since start). */
  private silentFor(now: number): number {
    const last = Math.max(this.peerUdpAt ?? this.startedAt, this.peerBrokerAt ?? this.startedAt);
    return now - last;
  }

  private decide(now: number): void {
    if (this.changing) return;
    const udpSilent = now - (this.peerUdpAt ?? this.startedAt) >= this.windowMs;
    const brokerSilent = now - (this.peerBrokerAt ?? this.startedAt) >= this.windowMs;
    const peer = this.peerBeat;
    if (this.role === 'standby') {
      if (udpSilent) {
        // The second witness: the broker vouches for a peer whose heartbeats still arrive through it
        // and whose last will has not fired. Without our own connection there is no witness.
        const brokerUp = this.broker?.isConnected ?? false;
        const vouched = brokerUp && !brokerSilent && this.peerState !== 'offline';
        if (!vouched) {
          this.warnedCut = false;
          this.change('active', this.nextEpoch(), brokerUp ? `peer silent for ${this.windowMs} ms on the LAN and the broker (state ${this.peerState ?? 'unknown'})`
            : `peer silent for ${this.windowMs} ms on the LAN, broker unreachable`, true);
          return;
        }
        if (!this.warnedCut) {
          this.warnedCut = true;
          this.log.warn({ peer: this.cfg.peer_device }, 'pair LAN link silent but the peer is alive through the broker: staying standby');
        }
      } else {
        this.warnedCut = false;
      }
      if (peer === null || (udpSilent && brokerSilent)) return;
      // The pair has one epoch: a standby follows the highest it hears, so that its next takeover is above it.
      if (peer.epoch > this.epoch) {
        this.adopt(peer.epoch);
        return;
      }
      if (peer.role === 'standby' && this.winsAgainst(peer)) {
        this.change('active', this.nextEpoch(), 'both standby: this device wins the tie');
        return;
      }
      const handBack = this.cfg.hand_back;
      const healthyMs = handBack === 'stay' ? Number.POSITIVE_INFINITY : handBack.preferred_after_s * 1000;
      if (peer.role === 'active' && this.cfg.preferred && !peer.preferred && this.heardSince !== null && this.readySince !== null
        && now - this.heardSince >= healthyMs && now - this.readySince >= healthyMs) {
        this.change('active', this.nextEpoch(), `hand back to the preferred device after ${healthyMs / 1000} s healthy`);
      }
      return;
    }
    if (peer === null || (udpSilent && brokerSilent)) return;
    // Active: another active that wins (higher epoch, then the tie rules) makes this one step down.
    if (peer.role === 'active' && !this.winsAgainst(peer)) {
      this.change('standby', Math.max(this.epoch, peer.epoch), `peer ${peer.device} is active with epoch ${peer.epoch}`);
      return;
    }
    // A standby that knows a later term (it was active in a partition this device never saw, then
    // restarted): this device's alerts must not look older than that term, so it opens a new one.
    if (peer.role === 'standby' && peer.epoch > this.epoch) {
      this.change('active', peer.epoch + 1, `peer ${peer.device} knew epoch ${peer.epoch}`);
    }
  }

  /** Higher epoch wins; a tie goes to the preferred device, then to the lower device id. */
  private winsAgainst(peer: Heartbeat): boolean {
    if (this.epoch !== peer.epoch) return this.epoch > peer.epoch;
    if (this.cfg.preferred !== peer.preferred) return this.cfg.preferred;
    return this.opts.device.id < peer.device;
  }

  private nextEpoch(): number {
    return Math.max(this.epoch, this.peerBeat?.epoch ?? 0) + 1;
  }

  /**
   * The epoch is on disk before the role changes, so a device restarted after a takeover never
   * reuses a term; the new role's first heartbeat goes out at once, so the peer learns it now.
   */
  private change(to: PairRole, epoch: number, reason: string, peerSilent = false): void {
    this.changing = true;
    const from = this.role;
    this.writes = this.writes.then(() => writeEpoch(this.opts.stateDir, epoch)).then(() => {
      this.role = to;
      this.epoch = epoch;
      this.since = this.now();
      if (to === 'active') this.takeovers += 1;
      else this.stepDowns += 1;
      this.heardSince = null;
      this.log.warn({ from, to, epoch, reason }, to === 'active' ? 'pair: this device is now active' : 'pair: this device is now standby');
      this.beat();
      try {
        const heard = Math.max(this.peerUdpAt ?? -1, this.peerBrokerAt ?? -1);
        this.opts.onTransition({ from, to, epoch, reason, peerHeardAt: heard < 0 ? null : heard, peerSilent });
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'pair transition could not be recorded');
      }
    }, (err: unknown) => {
      // Without the epoch on disk a takeover could reuse a term after a restart: not taken; retried at the next check.
      this.log.error({ err: errorMessage(err), dir: this.opts.stateDir }, 'pair epoch could not be saved; role unchanged');
    }).finally(() => { this.changing = false; });
  }

  /** Follows the pair's epoch without a change of role (persisted first, like a change). */
  private adopt(epoch: number): void {
    this.changing = true;
    this.writes = this.writes.then(() => writeEpoch(this.opts.stateDir, epoch)).then(() => {
      this.epoch = Math.max(this.epoch, epoch);
    }, (err: unknown) => {
      this.log.error({ err: errorMessage(err), dir: this.opts.stateDir }, 'pair epoch could not be saved');
    }).finally(() => { this.changing = false; });
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'pair decision failed');
    }
  }
}
