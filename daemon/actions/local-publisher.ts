import { connect, type MqttClient } from 'mqtt';
import type { ActionsConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { redactUri } from '../util/redact.js';

type LocalMqttConfig = NonNullable<ActionsConfig['mqtt']>;

/** How long a message waits for the local broker before it counts as failed. */
const CONNECT_WAIT_MS = 1000;

/**
 * The client of the site's local broker. Separate from the hub's uplink on purpose: a local
 * consumer (a siren, a PLC gateway) must hear about an event in milliseconds whether the hub is
 * reachable or not, and nothing here is stored for later. A message while disconnected waits at
 * most a second for the connection and then fails instead of waiting in memory: a siren that
 * sounds a minute late is worse than one that is counted as failed. mqtt.js reconnects on its own
 * every second; this broker is on the device or the site's LAN, so a fixed period is fine.
 */
export class LocalPublisher {
  private client: MqttClient | null = null;
  private readonly url: string;

  constructor(private readonly config: LocalMqttConfig, private readonly clientId: string, private readonly log: Logger) {
    this.url = redactUri(config.url);
  }

  start(): void {
    if (this.client) return;
    const client = connect(this.config.url, {
      clientId: this.config.client_id ?? this.clientId,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      queueQoSZero: false,
      ...(this.config.username !== undefined ? { username: this.config.username } : {}),
      ...(this.config.password !== undefined ? { password: this.config.password } : {}),
    });
    // Same reason as the uplink: a small message must not wait for the previous segment's ACK.
    client.on('connect', () => {
      (client.stream as { setNoDelay?: (on: boolean) => unknown } | undefined)?.setNoDelay?.(true);
      this.log.info({ url: this.url }, 'connected to the local broker');
    });
    client.on('error', (err) => this.log.debug({ err: errorMessage(err) }, 'local broker client error'));
    client.on('offline', () => this.log.warn({ url: this.url }, 'local broker unreachable: local messages fail until it is back'));
    this.client = client;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /**
   * Resolves when the broker took it (PUBACK at QoS 1, written to the socket at QoS 0). While not
   * connected it waits up to `CONNECT_WAIT_MS` (the first connection at start, a broker restarting)
   * and then fails.
   */
  async publish(topic: string, payload: string): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('the local broker client is stopped');
    if (!client.connected) await this.connection(client);
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: this.config.qos }, (err) => (err ? reject(err) : resolve()));
    });
  }

  private connection(client: MqttClient): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('connect', onConnect);
        reject(new Error(`not connected to the local broker ${this.url}`));
      }, CONNECT_WAIT_MS);
      const onConnect = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('connect', onConnect);
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    await client.endAsync(true);
  }
}
