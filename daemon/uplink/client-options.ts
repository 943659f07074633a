import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { MqttConfig } from '../config/schema.js';
import { ConfigError, errorMessage } from '../errors.js';

export type ProtocolVersion = 4 | 5;

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Reads the CA, certificate and key named in the config, once, at start. Every unreadable file is
 * reported in one error, so a technician fixes them all in one go.
 */
export function readTlsMaterial(config: Pick<MqttConfig, 'ca' | 'cert' | 'key'>): TlsMaterial {
  const problems: string[] = [];
  const material: TlsMaterial = {};
  for (const name of ['ca', 'cert', 'key'] as const) {
    const file = config[name];
    if (file === undefined) continue;
    try {
      material[name] = readFileSync(file);
    } catch (err) {
      problems.push(`mqtt.${name}: cannot read ${file}: ${errorMessage(err)}`);
    }
  }
  if ((config.cert === undefined) !== (config.key === undefined)) {
    problems.push('mqtt.cert and mqtt.key: give both or neither');
  }
  if (problems.length > 0) throw new ConfigError(problems, 'the MQTT TLS settings');
  return material;
}

export interface ClientOptionsInput {
  config: MqttConfig;
  clientId: string;
  protocolVersion: ProtocolVersion;
  tls: TlsMaterial;
  will: { topic: string; payload: string };
  sessionExpiryS: number;
  connectTimeoutMs: number;
}

export function clientOptions(input: ClientOptionsInput): IClientOptions {
  const { config, protocolVersion } = input;
  const options: IClientOptions = {
    clientId: input.clientId,
    protocolVersion,
    // A persistent session keeps the broker's state for our future command subscriptions across
    // short outages. Our own publishes never rely on it: they are replayed from SQLite.
    clean: false,
    keepalive: config.keepalive_s,
    connectTimeout: input.connectTimeoutMs,
    // Reconnects are ours (see Uplink): mqtt.js's would retry at a fixed period and replay its
    // in-memory store next to our SQLite replay.
    reconnectPeriod: 0,
    // Nothing may wait in memory for a connection: what must survive is in the outbox.
    queueQoSZero: false,
    will: { topic: input.will.topic, payload: input.will.payload, qos: 1, retain: true },
    ...input.tls,
  };
  if (protocolVersion === 5) options.properties = { sessionExpiryInterval: input.sessionExpiryS };
  if (config.username !== undefined) options.username = config.username;
  if (config.password !== undefined) options.password = config.password;
  return options;
}
