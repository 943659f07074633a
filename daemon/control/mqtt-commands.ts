import type { IClientPublishOptions, IPublishPacket } from 'mqtt';
import { errorMessage } from '../errors.js';
import type { Service } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { commandTopics } from '../uplink/topics.js';
import type { MessageHandler } from '../uplink/uplink.js';
import { handleRequest, type ControlTarget, type Gate } from './handler.js';
import { errorReply, type Reply } from './protocol.js';

/** The part of the Uplink that commands use: subscriptions that survive reconnects, and direct publishes. */
export interface CommandLink {
  subscribe(filter: string, handler: MessageHandler, qos?: 0 | 1): void;
  unsubscribe(filter: string): void;
  publishDirect(topic: string, payload: string | Buffer, opts?: IClientPublishOptions): Promise<void>;
}

export interface MqttCommandsOptions {
  link: CommandLink;
  device: { id: string; site: string };
  target: ControlTarget;
  gate: Gate;
  maxRequestBytes: number;
  log: Logger;
}

/**
 * The remote transport of the command protocol: MQTT 5 request/response through the hub's broker.
 * A request arrives on `vigil/v1/{site}/{device}/cmd/{method}` with a Response Topic and
 * Correlation Data; the body is the same request as on the local socket (`method` may be left out:
 * the topic names it). The reply, the same `Reply` as on the socket, goes to the Response Topic with
 * the Correlation Data echoed. The handler code path is the socket's, behind the remote gate.
 *
 * A response topic must lie under the device's own `…/reply/` prefix: the ACL lets a device publish
 * only there, and the device must never be steered into publishing anywhere else.
 */
export class MqttCommands implements Service {
  readonly name = 'remote-commands';
  private readonly topics: ReturnType<typeof commandTopics>;
  private handled = 0;
  private dropped = 0;

  constructor(private readonly options: MqttCommandsOptions) {
    this.topics = commandTopics(options.device.site, options.device.id);
  }

  start(): Promise<void> {
    this.options.link.subscribe(this.topics.requests, (topic, payload, packet) => this.onMessage(topic, payload, packet), 1);
    this.options.log.info({ filter: this.topics.requests }, 'accepting commands through the hub');
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.options.link.unsubscribe(this.topics.requests);
    return Promise.resolve();
  }

  get stats(): { handled: number; dropped: number } {
    return { handled: this.handled, dropped: this.dropped };
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const method = topic.slice(this.topics.requestPrefix.length);
    const responseTopic = packet.properties?.responseTopic;
    const log = this.options.log;
    // A retained command would run again at every reconnect of the device.
    if (packet.retain) {
      this.dropped += 1;
      log.warn({ topic }, 'retained command ignored: commands must not be retained');
      return;
    }
    if (responseTopic === undefined || responseTopic.length === 0) {
      this.dropped += 1;
      log.warn({ topic, bytes: payload.length }, 'command without a response topic dropped (MQTT 5 request/response required)');
      return;
    }
    if (!responseTopic.startsWith(this.topics.replyPrefix) || /[+#\u0000]/.test(responseTopic)) {
      this.dropped += 1;
      log.warn({ topic, responseTopic: responseTopic.slice(0, 200), expected: `${this.topics.replyPrefix}…` },
        'command dropped: its response topic is outside this device\'s reply prefix');
      return;
    }
    const answer = this.handle(method, payload);
    this.handled += 1;
    const correlationData = packet.properties?.correlationData;
    // QoS 0: a reply is worth nothing once its asker has timed out, and QoS 1 replies outside the
    // outbox's window could exceed the broker's Receive Maximum under a burst of requests, which
    // costs the connection (mosquitto: "protocol error").
    const opts: IClientPublishOptions = {
      qos: 0,
      properties: { contentType: 'application/json', ...(correlationData !== undefined ? { correlationData } : {}) },
    };
    // Long methods (a model install) answer when they finish; the reply then goes out on the link of that moment.
    void Promise.resolve(answer).then((reply) => this.options.link.publishDirect(responseTopic, JSON.stringify(reply), opts))
      .catch((err: unknown) => {
        log.warn({ responseTopic, err: errorMessage(err) }, 'cannot publish a command reply');
      });
  }

  /** Never throws: whatever arrives gets a reply. */
  private handle(method: string, payload: Buffer): Reply | Promise<Reply> {
    const max = this.options.maxRequestBytes;
    if (payload.length > max) return errorReply(null, 'too_large', `request of ${payload.length} bytes; at most ${max}`);
    let raw: unknown;
    try {
      raw = JSON.parse(payload.toString('utf8'));
    } catch {
      return errorReply(null, 'bad_request', 'request is not valid JSON');
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return errorReply(null, 'bad_request', 'request must be a JSON object');
    }
    const body = raw as Record<string, unknown>;
    const id = typeof body['id'] === 'string' ? body['id'].slice(0, 128) : null;
    if (body['method'] !== undefined && body['method'] !== method) {
      return errorReply(id, 'bad_request', `method in the body differs from the topic's "${method.slice(0, 64)}"`);
    }
    return handleRequest(this.options.target, { ...body, method }, this.options.log, this.options.gate);
  }
}
