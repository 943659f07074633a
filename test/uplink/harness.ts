import { Writable } from 'node:stream';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { mqttSchema, type MqttConfig } from '../../daemon/config/schema.js';
import { createLogger, type Logger } from '../../daemon/log.js';
import { EventStore } from '../../daemon/store/event-store.js';
import type { NewEvent, StoredEvent } from '../../daemon/store/types.js';
import { alertOutbox, type DeviceIdentity } from '../../daemon/uplink/alert-message.js';
import { Uplink, type StateInfo, type UplinkOptions } from '../../daemon/uplink/uplink.js';
import { tempDir } from '../helpers/shared.js';

/** Shared pieces of the uplink tests: real store, real broker, real subscriber. */

interface TestContext {
  after(fn: () => Promise<void> | void): void;
}

export const device: DeviceIdentity = { id: 'cam-box-7', site: 'depot-north' };
export const stateTopic = `vigil/v1/${device.site}/${device.id}/state`;
export const alertsTopic = `vigil/v1/${device.site}/${device.id}/alerts`;

export const stateInfo = (): StateInfo => ({
  version: '0.1.0-test',
  streams: [{ id: 'gate', state: 'playing', decoder: 'avdec_h264', provider: 'cpu' }],
  providers: ['cpu'],
});

export function mqttConfig(url: string, overrides: Partial<MqttConfig> = {}): MqttConfig {
  return mqttSchema.parse({ url, reconnect_min_ms: 100, reconnect_max_ms: 1000, ...overrides });
}

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A real pino logger whose JSON lines are kept for assertions. */
export function captureLogger(level = 'debug'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  return { log: createLogger(level, sink), lines };
}

export async function openStore(t: TestContext, dir?: string): Promise<EventStore> {
  const store = EventStore.open(dir ?? await tempDir(t));
  t.after(() => store.close());
  return store;
}

export function alertEvent(i: number, overrides: Partial<NewEvent> = {}): NewEvent {
  return {
    ts: Date.parse('2025-06-01T12:00:00.000Z') + i * 1000,
    stream: 'gate',
    rule: 'people-at-gate',
    severity: 'alert',
    kind: 'presence',
    payload: { objects: [{ label: 'person', score: 0.91, box: [100 + i, 50, 180 + i, 300] }] },
    ...overrides,
  };
}

export function record(store: EventStore, event: NewEvent): StoredEvent {
  return store.recordEvent(event, alertOutbox(device));
}

export function startUplink(t: TestContext, options: Partial<UplinkOptions> & Pick<UplinkOptions, 'config' | 'outbox'>): Uplink {
  const uplink = new Uplink({ device, log: captureLogger().log, state: stateInfo, ...options });
  t.after(() => uplink.stop());
  void uplink.start(new AbortController().signal);
  return uplink;
}

export interface Received {
  topic: string;
  json: unknown;
  retain: boolean;
  userProperties: Record<string, string | string[]>;
}

/** A hub-side subscriber: an mqtt.js client that records every message on `filter`. */
export async function subscribe(t: TestContext, url: string, filter: string,
  options: IClientOptions = {}): Promise<{ client: MqttClient; messages: Received[] }> {
  const client = await connectAsync(url, { protocolVersion: 5, reconnectPeriod: 100, ...options });
  t.after(() => client.endAsync(true));
  const messages: Received[] = [];
  client.on('message', (topic, payload, packet) => {
    messages.push({
      topic,
      json: JSON.parse(payload.toString()) as unknown,
      retain: packet.retain,
      userProperties: { ...packet.properties?.userProperties },
    });
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, messages };
}
