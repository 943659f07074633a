import { AsyncLocalStorage } from 'node:async_hooks';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errorMessage } from '../../daemon/errors.js';
import { CliError, EXIT } from '../errors.js';
import { connectHub, type HubConnection, type HubOptions } from './hub.js';

/** The root program's options that send a command through the hub instead of the local socket. */
export interface RemoteOptions {
  device?: string;
  hub?: string;
  ca?: string;
  cert?: string;
  key?: string;
  operatorKey?: string;
  timeout: number;
}

export interface RemoteRoute {
  site: string;
  device: string;
  hub: HubOptions;
  signer: KeyObject | null;
  timeoutMs: number;
  /** One connection per vigilctl invocation, opened at the first call (`top` calls many times). */
  connection(): Promise<HubConnection>;
}

interface Scope {
  route: RemoteRoute | null;
  connection: Promise<HubConnection> | null;
}

/**
 * Commands call `call(socket, request)` and need not know where the device is: the root program's
 * preAction hook puts the route here, in a scope that `runVigilctl` opens per invocation (async
 * local storage, so that the fan-out over many devices can run invocations side by side).
 */
const scopes = new AsyncLocalStorage<Scope>();

export async function inRouteScope<T>(fn: () => Promise<T>): Promise<T> {
  const scope: Scope = { route: null, connection: null };
  try {
    return await scopes.run(scope, fn);
  } finally {
    const conn = scope.connection;
    if (conn) await conn.then((c) => c.client.endAsync(true), () => undefined).catch(() => undefined);
  }
}

export function currentRoute(): RemoteRoute | null {
  return scopes.getStore()?.route ?? null;
}

export function loadOperatorKey(file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file));
  } catch (err) {
    throw new CliError(`cannot read the operator key ${file}: ${errorMessage(err)}`, EXIT.usage);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new CliError(`${file} is not an Ed25519 private key (vigilctl keygen makes one)`, EXIT.usage);
  return key;
}

export function hubOptions(opts: RemoteOptions): HubOptions {
  if (opts.hub === undefined) throw new CliError('--hub URL (or VIGIL_HUB) is needed to reach devices through the hub', EXIT.usage);
  return { url: opts.hub, ca: opts.ca, cert: opts.cert, key: opts.key, timeoutMs: opts.timeout * 1000 };
}

/** Splits `site/device`; a usage error otherwise. */
export function parseDevice(text: string): { site: string; device: string } {
  const m = /^([^/+#*\s]+)\/([^/+#*\s]+)$/.exec(text);
  if (!m?.[1] || !m[2]) throw new CliError(`--device expects SITE/DEVICE (or SITE/* for every device of a site), not "${text}"`, EXIT.usage);
  return { site: m[1], device: m[2] };
}

/** Called by the root's preAction hook with its options: sets the route when `--device` is given. */
export function selectRoute(opts: RemoteOptions): void {
  if (opts.device === undefined) return;
  const scope = scopes.getStore();
  if (!scope) throw new CliError('remote commands run through runVigilctl (cli/run.ts)', EXIT.usage);
  const { site, device } = parseDevice(opts.device);
  const hub = hubOptions(opts);
  scope.route = {
    site, device, hub, timeoutMs: hub.timeoutMs,
    signer: opts.operatorKey !== undefined ? loadOperatorKey(opts.operatorKey) : null,
    connection: () => (scope.connection ??= connectHub(hub)),
  };
}
