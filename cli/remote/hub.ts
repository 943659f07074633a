import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { errorMessage } from '../../daemon/errors.js';
import { CliError, EXIT } from '../errors.js';

/** How vigilctl reaches the hub's broker: URL and, for mqtts, the operator's client certificate. */
export interface HubOptions {
  url: string;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  timeoutMs: number;
}

export interface HubConnection {
  client: MqttClient;
  /**
   * The topic level replies to this operator go under: the certificate's common name (the broker's
   * ACL, with use_identity_as_username, lets operators read only replies under their own name), or
   * the client id without a certificate.
   */
  replyLevel: string;
}

function read(file: string | undefined, what: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError(`cannot read the ${what} ${file}: ${errorMessage(err)}`, EXIT.usage);
  }
}

/** The certificate's CN as one safe topic level, or null. */
function commonName(cert: Buffer): string | null {
  try {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(cert).subject)?.[1]?.trim();
    return cn !== undefined && cn.length > 0 && !/[+#/\u0000]/.test(cn) ? cn : null;
  } catch {
    return null;
  }
}

export async function connectHub(hub: HubOptions): Promise<HubConnection> {
  const ca = read(hub.ca, 'CA file (--ca)');
  const cert = read(hub.cert, 'client certificate (--cert)');
  const key = read(hub.key, 'client key (--key)');
  if ((cert === undefined) !== (key === undefined)) throw new CliError('--cert and --key go together', EXIT.usage);
  const clientId = `vigilctl-${Math.random().toString(36).slice(2, 12)}`;
  const options: IClientOptions = {
    protocolVersion: 5, clientId, clean: true, reconnectPeriod: 0, connectTimeout: hub.timeoutMs,
    ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}),
  };
  let client: MqttClient;
  try {
    client = await connectAsync(hub.url, options, false);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // CONNACK 134 bad user name or password, 135 not authorised, 138 banned.
    if (code === 134 || code === 135 || code === 138) {
      throw new CliError(`the hub ${hub.url} refused this client: ${errorMessage(err)}`, EXIT.unauthorised);
    }
    throw new CliError(`cannot reach the hub ${hub.url}: ${errorMessage(err)}`, EXIT.unreachable);
  }
  client.on('error', () => undefined); // errors after connect surface as timeouts of the calls waiting
  return { client, replyLevel: (cert ? commonName(cert) : null) ?? clientId };
}
