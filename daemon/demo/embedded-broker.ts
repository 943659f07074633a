import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from '../log.js';

/**
 * An in-process MQTT broker on loopback for `vigild --demo`, so the demo shows alerts leaving the
 * device without a broker installed. aedes 1.x speaks MQTT 3.1.1 only (it refuses protocol level 5
 * with "unacceptable protocol version"), so the uplink must connect to it with protocolVersion 4.
 */
export class EmbeddedBroker {
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private address: AddressInfo | undefined;

  constructor(private readonly log?: Logger) {}

  /** Listens on 127.0.0.1 on a free port and returns the broker's URL. */
  async start(): Promise<string> {
    if (this.address) return this.url;
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    broker.on('clientError', (client, err) => {
      this.log?.debug({ client: client.id, err: err.message }, 'embedded broker: client error');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the embedded broker has no TCP address');
    this.broker = broker;
    this.server = server;
    this.address = address;
    this.log?.info({ url: this.url }, 'embedded MQTT broker listening');
    return this.url;
  }

  /** The protocol level clients must use: aedes 1.x does not speak MQTT 5. */
  readonly protocolVersion = 4 as const;

  get url(): string {
    if (!this.address) throw new Error('the embedded broker is not started');
    return `mqtt://127.0.0.1:${this.address.port}`;
  }

  async stop(): Promise<void> {
    const { broker, server } = this;
    this.broker = undefined;
    this.server = undefined;
    this.address = undefined;
    // Closing the broker first disconnects its clients, so that server.close does not wait for them.
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
