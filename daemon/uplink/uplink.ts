import { connect, type IClientPublishOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import type { MqttConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { withDeadline, type Service } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { DeviceIdentity } from './alert-message.js';
import { Backoff } from '../util/backoff.js';
import { clientOptions, readTlsMaterial, type ProtocolVersion, type TlsMaterial } from './client-options.js';
import type { OutboxPriorityStats } from '../store/types.js';
import { OutboxDrainer, type OutboxSource } from './outbox-drainer.js';
import { stateSchema, type StatePayload, type StreamState } from './payloads.js';
import { redactUri } from '../util/redact.js';
import { topicMatches, uplinkTopics, type UplinkTopics } from './topics.js';

/** Called for each message on a subscribed filter; a throw is logged, never fatal. */
export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

/** What the retained state message reports; asked for at every connect. */
export interface StateInfo {
  version: string;
  streams: StreamState[];
  providers: string[];
  /** Degraded mode (store/store-writer.ts); absent: not reported. */
  storage?: { state: 'ok' | 'degraded'; reason?: string; since?: string };
  /** A paired device's role, peer and epoch (pair/pair-service.ts); absent: not paired. */
  pair?: { role: 'active' | 'standby'; peer: string; epoch: number };
}

export interface UplinkOptions {
  config: MqttConfig;
  device: DeviceIdentity;
  /** The event store: its `onEnqueued` wakes the drainer when rows are committed (other sources: call notify()). */
  outbox: OutboxSource & { onEnqueued?(listener: () => void): () => void };
  log: Logger;
  state: () => StateInfo;
  /** 5 in production; 4 for brokers that speak only MQTT 3.1.1 (aedes, used by the demo). */
  protocolVersion?: ProtocolVersion;
  /** How long the broker keeps our session after a disconnect, seconds (MQTT 5 only). */
  sessionExpiryS?: number;
  connectTimeoutMs?: number;
  /** Graceful stop: publishing `offline` and waiting for acknowledgements get this long in all. */
  stopDeadlineMs?: number;
  /** A connection that lasted this long resets the reconnect backoff; a flapping one does not. */
  stableAfterMs?: number;
  /** Injected for deterministic backoff in tests. */
  random?: () => number;
  /**
   * How often the state is compared with the one last published, ms: a change (a stream that
   * started playing, a model that loaded, storage degraded) is republished within this, and never
   * more often. 0 turns the watch off.
   */
  stateCheckMs?: number;
}

export interface UplinkStatus {
  connected: boolean;
  url: string;
  published: number;
  acked: number;
  /** Rows sent again after an earlier attempt. */
  retries: number;
  failures: number;
  inFlight: number;
  /** PUBACKs per second over the last 10 s. */
  ackRate: number;
  /** Connection attempts that failed or connections that were lost. */
  disconnects: number;
  outboxDepth: number;
  oldestAgeMs: number | null;
  /** Depth and oldest age per priority (0 critical, 1 alert, 2 warning, 3 info). */
  outbox: OutboxPriorityStats[];
  lastError: string | null;
  /** Parts of evidence files handed to the client, their bytes, and files refused at sending (outbox-drainer.ts). */
  evidenceParts?: number;
  evidenceBytes?: number;
  evidenceRefused?: number;
}

/**
 * The link to the hub: a persistent MQTT session, a retained online/offline state with a last will,
 * and the outbox drained at QoS 1.
 *
 * Reconnection is driven here, not by mqtt.js: every attempt creates a fresh client with
 * `reconnectPeriod: 0`, after a delay from `Backoff`. mqtt.js's own reconnect retries at a fixed
 * period without jitter, and, with `clean: false`, replays unacknowledged publishes from its
 * in-memory store while the drainer replays the same rows from SQLite. A fresh client per attempt
 * leaves SQLite as the only source of replays, and its will is built at each connect.
 */
export class Uplink implements Service {
  readonly name = 'uplink';
  private readonly config: MqttConfig;
  private readonly log: Logger;
  private readonly topics: UplinkTopics;
  private readonly clientId: string;
  private readonly protocolVersion: ProtocolVersion;
  private readonly backoff: Backoff;
  private readonly drainer: OutboxDrainer;
  /** Ends the outbox subscription at stop. */
  private readonly endOutboxWatch: (() => void) | null;
  private readonly url: string;
  private tls: TlsMaterial = {};
  private current: MqttClient | undefined;
  private connected = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;
  private disconnects = 0;
  private lastError: string | null = null;
  private readonly subscriptions = new Map<string, { qos: 0 | 1; handler: MessageHandler }>();

  constructor(private readonly options: UplinkOptions) {
    this.config = options.config;
    this.log = options.log.child({ component: 'uplink' });
    this.topics = uplinkTopics(options.device.site, options.device.id);
    this.clientId = this.config.client_id ?? `vigil-${options.device.site}-${options.device.id}`;
    this.protocolVersion = options.protocolVersion ?? 5;
    this.backoff = new Backoff({
      minMs: this.config.reconnect_min_ms, maxMs: this.config.reconnect_max_ms,
      healthyAfterMs: options.stableAfterMs ?? 30_000, ...(options.random ? { random: options.random } : {}),
    });
    this.drainer = new OutboxDrainer(options.outbox, this.log, this.config.reconnect_min_ms,
      this.config.reconnect_max_ms);
    // Once, here: whoever writes to the outbox need not wake the uplink (store/event-store.ts).
    this.endOutboxWatch = options.outbox.onEnqueued?.(() => this.notify()) ?? null;
    this.url = redactUri(this.config.url);
  }

  /**
   * Reads the TLS files (a ConfigError if any is unreadable) and makes the first connection attempt.
   * It does not wait for the broker: the daemon must run, and keep events, without one.
   */
  start(signal: AbortSignal): Promise<void> {
    if (this.started) return Promise.resolve();
    this.started = true;
    try {
      this.tls = readTlsMaterial(this.config);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (!signal.aborted) this.connect();
    const every = this.options.stateCheckMs ?? 1000;
    if (every > 0) {
      this.stateWatch = setInterval(() => this.guard('state watch', () => {
        const client = this.current;
        if (!client || !this.connected) return;
        // The callback's answer is compared as it is: the message is built only when it changed.
        const info = this.stateInfo();
        if (JSON.stringify(info) !== this.publishedState) this.publishOnline(client, info);
      }), every);
      this.stateWatch.unref();
    }
    return Promise.resolve();
  }

  private stateWatch: NodeJS.Timeout | undefined;
  /** The state callback's answer last published online, to republish only what changed. */
  private publishedState: string | null = null;


  /** Wakes the drainer; the event store calls it through onEnqueued after every commit that queued rows. Cheap and safe in any state. */
  notify(): void {
    this.drainer.wake();
  }

  /** Publishes the retained online state again, e.g. after a stream changed state. */
  publishState(): void {
    const client = this.current;
    if (client && this.connected) this.publishOnline(client);
  }

  /**
   * Receives messages on `filter` (MQTT wildcards allowed) from now on, across reconnects: every
   * fresh client subscribes again at connect. The handler runs on the MQTT client's callbacks and
   * must not block; a throw is logged.
   */
  subscribe(filter: string, handler: MessageHandler, qos: 0 | 1 = 1): void {
    this.subscriptions.set(filter, { qos, handler });
    const client = this.current;
    if (client && this.connected) this.subscribeOn(client, filter, qos);
  }

  unsubscribe(filter: string): void {
    this.subscriptions.delete(filter);
    const client = this.current;
    if (client && this.connected) client.unsubscribe(filter);
  }

  /**
   * Publishes directly, outside the outbox: for replies and other messages that are worthless
   * later (a command reply nobody waits for any more). Rejects when not connected.
   */
  async publishDirect(topic: string, payload: string | Buffer, opts: IClientPublishOptions = { qos: 1 }): Promise<void> {
    const client = this.current;
    if (!client || !this.connected) throw new Error('not connected to the MQTT broker');
    await client.publishAsync(topic, payload, opts);
  }

  /** Whether a connection to the broker is up now (a direct publish can be tried). */
  get isConnected(): boolean {
    return this.connected && this.current !== undefined;
  }

  /**
   * Publishes one message of an event directly at QoS 1, outside the outbox, with the event's id
   * as the drainer sends it: for degraded mode (store/store-writer.ts), when the outbox cannot be
   * written. Resolves on the PUBACK; rejects when not connected or the broker refuses it.
   */
  async publishHeld(topic: string, payload: string, eventId: string | null): Promise<void> {
    const opts: IClientPublishOptions = { qos: 1 };
    if (eventId !== null && this.protocolVersion === 5) opts.properties = { userProperties: { event_id: eventId } };
    await this.publishDirect(topic, payload, opts);
  }

  status(): UplinkStatus {
    let outboxDepth = -1;
    let oldestAgeMs: number | null = null;
    let outbox: OutboxPriorityStats[] = [];
    try {
      const stats = this.options.outbox.outboxStats();
      outboxDepth = stats.depth;
      oldestAgeMs = stats.oldestAgeMs;
      outbox = this.options.outbox.outboxByPriority();
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot read outbox statistics');
    }
    return {
      connected: this.connected,
      url: this.url,
      ...this.drainer.metrics,
      inFlight: this.drainer.inFlightCount,
      ackRate: this.drainer.ackRate.rate(),
      disconnects: this.disconnects,
      outboxDepth,
      oldestAgeMs,
      outbox,
      lastError: this.lastError,
    };
  }

  /**
   * The live mqtt.js client, for tests that must break the connection the way a network does
   * (`client.stream.destroy()`); not for publishing.
   */
  get client(): MqttClient | undefined {
    return this.current;
  }

  /** Publishes the retained offline state if connected, lets in-flight rows settle, and disconnects. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.endOutboxWatch?.();
    clearInterval(this.stateWatch);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.drainer.pause();
    const client = this.current;
    if (!client) return;
    try {
      if (!this.connected) {
        // Still connecting: there is nobody to say goodbye to, and a DISCONNECT would wait for a
        // socket that may never open.
        client.end(true);
        return;
      }
      await withDeadline(this.options.stopDeadlineMs ?? 3000, 'uplink stop', async () => {
        await client.publishAsync(this.topics.state, JSON.stringify(this.statePayload('offline')),
          { qos: 1, retain: true });
        await this.drainer.idle();
        await client.endAsync();
      });
    } catch (err) {
      // Whatever is unacknowledged is still in the outbox and goes out after the next start.
      this.log.warn({ err: errorMessage(err) }, 'MQTT disconnect was not graceful');
      client.end(true);
    } finally {
      this.drainer.detach();
      this.connected = false;
      this.current = undefined;
    }
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.stopping) return;
    let client: MqttClient;
    try {
      client = connect(this.config.url, clientOptions({
        config: this.config,
        clientId: this.clientId,
        protocolVersion: this.protocolVersion,
        tls: this.tls,
        will: { topic: this.topics.state, payload: JSON.stringify(this.statePayload('offline')) },
        sessionExpiryS: this.options.sessionExpiryS ?? 7 * 24 * 3600,
        connectTimeoutMs: this.options.connectTimeoutMs ?? 10_000,
      }));
    } catch (err) {
      this.lastError = errorMessage(err);
      this.scheduleReconnect(false);
      return;
    }
    this.current = client;
    // Nagle's algorithm holds each small PUBLISH until the previous segment is acknowledged, and
    // the broker's delayed ACK then paces the whole drain: measured here, 800 msg/s with it on
    // against thousands without. Our packets are whole messages already; nothing gains from waiting.
    (client.stream as { setNoDelay?: (on: boolean) => unknown } | undefined)?.setNoDelay?.(true);
    // Handlers are bound to this client: a late event from an abandoned one is ignored, and an
    // 'error' listener stays attached so that mqtt.js never emits an unhandled 'error'.
    client.on('connect', (connack) => this.guard('connect', () => this.onConnect(client, connack)));
    client.on('error', (err) => this.guard('error', () => {
      if (client === this.current) this.lastError = errorMessage(err);
      this.log.debug({ err: errorMessage(err) }, 'MQTT client error');
    }));
    client.on('close', () => this.guard('close', () => this.onClose(client)));
    client.on('message', (topic, payload, packet) => this.guard('message', () => {
      if (client !== this.current) return;
      for (const [filter, sub] of this.subscriptions) {
        if (topicMatches(filter, topic)) sub.handler(topic, payload, packet);
      }
    }));
  }

  private subscribeOn(client: MqttClient, filter: string, qos: 0 | 1): void {
    client.subscribe(filter, { qos }, (err, granted) => {
      if (client !== this.current) return;
      const refused = granted?.some((g) => g.qos === 128) ?? false;
      if (err || refused) {
        this.log.warn({ filter, err: err ? errorMessage(err) : 'refused by the broker (not authorised?)' }, 'cannot subscribe');
      }
    });
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    if (client !== this.current || this.stopping) return;
    this.connected = true;
    this.backoff.succeeded();
    this.lastError = null;
    // The broker may accept fewer unacknowledged publishes than configured; exceeding its Receive
    // Maximum is a protocol error that costs the connection.
    const receiveMaximum = connack.properties?.receiveMaximum ?? Number.POSITIVE_INFINITY;
    const window = Math.min(this.config.inflight, receiveMaximum);
    this.log.info({ url: this.url, clientId: this.clientId, sessionPresent: connack.sessionPresent, window },
      'connected to the MQTT broker');
    this.publishOnline(client);
    for (const [filter, sub] of this.subscriptions) this.subscribeOn(client, filter, sub.qos);
    this.drainer.attach(client, window, this.protocolVersion);
  }

  private onClose(client: MqttClient): void {
    if (client !== this.current) return;
    const wasConnected = this.connected;
    this.connected = false;
    this.current = undefined;
    this.drainer.detach();
    // reconnectPeriod is 0, so this client would only sit idle; release its timers and socket.
    client.end(true);
    if (this.stopping) return;
    this.scheduleReconnect(wasConnected);
  }

  private scheduleReconnect(wasConnected: boolean): void {
    if (this.stopping) return;
    this.disconnects += 1;
    const delayMs = this.backoff.failed();
    let outboxDepth: number | undefined;
    try {
      outboxDepth = this.options.outbox.outboxStats().depth;
    } catch {
      // The log line matters more than the count in it.
    }
    // One line per attempt, so the journal shows both the cause and that we keep trying.
    this.log.warn({ url: this.url, err: this.lastError, retryInMs: delayMs, attempt: this.backoff.attempts, outboxDepth },
      wasConnected ? 'lost the connection to the MQTT broker; events stay queued' :
        'cannot reach the MQTT broker; events stay queued');
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }

  private publishOnline(client: MqttClient, info = this.stateInfo()): void {
    let payload: string;
    try {
      this.publishedState = JSON.stringify(info);
      payload = JSON.stringify(this.statePayload('online', info));
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'cannot build the online state message');
      return;
    }
    client.publish(this.topics.state, payload, { qos: 1, retain: true }, (err) => {
      if (err && client === this.current) this.log.warn({ err: errorMessage(err) }, 'cannot publish the online state');
    });
  }

  private stateInfo(): StateInfo {
    try {
      return this.options.state();
    } catch (err) {
      // A faulty state callback must not keep the device off the broker (the will is built from it).
      this.log.error({ err: errorMessage(err) }, 'the state callback failed; reporting an empty state');
      return { version: 'unknown', streams: [], providers: [] };
    }
  }

  private statePayload(state: 'online' | 'offline', info = this.stateInfo()): StatePayload {
    return stateSchema.parse({
      schema: 'vigil.state/1',
      state,
      device: this.options.device.id,
      site: this.options.device.site,
      version: info.version,
      ts: new Date().toISOString(),
      streams: state === 'online' ? info.streams : [],
      providers: info.providers,
      ...(info.storage ? { storage: info.storage } : {}),
      // Online only: an offline device (its last will included) has no role the hub could act on.
      ...(info.pair && state === 'online' ? { pair: info.pair } : {}),
    });
  }

  /** Event handlers run inside mqtt.js's stream callbacks: a throw there would crash the daemon. */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err: errorMessage(err), handler: what }, 'MQTT event handler failed');
    }
  }
}

