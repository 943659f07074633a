import { randomBytes, randomUUID } from 'node:crypto';
import type { IPublishPacket } from 'mqtt';
import { errorMessage } from '../../daemon/errors.js';
import { replySchema, type Reply } from '../../daemon/control/protocol.js';
import { signRequest } from '../../daemon/control/signature.js';
import { TOPIC_ROOT } from '../../daemon/uplink/topics.js';
import { stateSchema, type StatePayload } from '../../daemon/uplink/payloads.js';
import { CliError, EXIT } from '../errors.js';
import { lastSeen } from './states.js';
import type { RemoteRoute } from './route.js';

/**
 * One command through the hub: MQTT 5 request/response. The request goes to
 * `…/{site}/{device}/cmd/{method}`, signed when an operator key is given, with a Response Topic
 * under the device's `…/reply/{operator}/` and random Correlation Data; the broker drops it after
 * the timeout (Message Expiry) so that a device coming back later does not run a stale command.
 * No answer within the timeout: exit 3, saying when the device was last seen.
 */
export async function remoteCall(route: RemoteRoute, request: { method: string; params?: unknown }): Promise<Reply> {
  // One deadline for the whole call, connecting to the hub included: --timeout is what the operator waits at most.
  const deadline = Date.now() + route.timeoutMs;
  let connectTimer: NodeJS.Timeout | undefined;
  const { client, replyLevel } = await Promise.race([
    route.connection(),
    new Promise<never>((_, reject) => {
      connectTimer = setTimeout(() => reject(new CliError(
        `the hub ${route.hub.url} did not accept a connection within ${route.timeoutMs / 1000} s`, EXIT.unreachable)), route.timeoutMs);
    }),
  ]).finally(() => clearTimeout(connectTimer));
  const id = randomUUID();
  const base = `${TOPIC_ROOT}/${route.site}/${route.device}`;
  const replyTopic = `${base}/reply/${replyLevel}/${client.options.clientId ?? 'vigilctl'}`;
  const correlation = randomBytes(16);
  const body: Record<string, unknown> = { ...request, id };
  if (route.signer) {
    body['auth'] = signRequest(route.signer, {
      target: `${route.site}/${route.device}`, method: request.method, id, params: request.params,
    });
  }
  let state: StatePayload | undefined;
  let settle: ((reply: Reply | Error) => void) | undefined;
  const answered = new Promise<Reply | Error>((resolve) => (settle = resolve));
  const onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void => {
    if (topic === `${base}/state`) {
      const parsed = stateSchema.safeParse(safeJson(payload));
      if (parsed.success) state = parsed.data;
      return;
    }
    if (topic !== replyTopic || !correlation.equals(packet.properties?.correlationData ?? Buffer.alloc(0))) return;
    const parsed = replySchema.safeParse(safeJson(payload));
    settle?.(parsed.success ? parsed.data : new CliError(`unexpected reply from ${route.site}/${route.device}: ${parsed.error.message}`, EXIT.failed));
  };
  client.on('message', onMessage);
  const timer = setTimeout(() => settle?.(new CliError(
    `${route.site}/${route.device} did not answer within ${route.timeoutMs / 1000} s; ${lastSeen(state)}`, EXIT.unreachable)),
  Math.max(0, deadline - Date.now()));
  const send = async (): Promise<void> => {
    await client.subscribeAsync([replyTopic, `${base}/state`], { qos: 1 });
    await client.publishAsync(`${base}/cmd/${request.method}`, JSON.stringify(body), {
      qos: 1,
      properties: {
        responseTopic: replyTopic, correlationData: correlation, contentType: 'application/json',
        messageExpiryInterval: Math.max(1, Math.ceil(route.timeoutMs / 1000)),
      },
    });
  };
  send().catch((err: unknown) => {
    // MQTT 5 PUBACK 135: the broker's ACL does not let this client send commands.
    const code = (err as { code?: unknown }).code;
    settle?.(code === 135
      ? new CliError(`the hub refused to pass the command on: not authorised to publish on ${base}/cmd/ (an operator certificate is needed)`, EXIT.unauthorised)
      : new CliError(`cannot send the command through the hub: ${errorMessage(err)}`, EXIT.unreachable));
  });
  try {
    const outcome = await answered;
    if (outcome instanceof Error) throw outcome;
    return outcome;
  } finally {
    clearTimeout(timer);
    client.off('message', onMessage);
    await client.unsubscribeAsync([replyTopic, `${base}/state`]).catch(() => undefined);
  }
}

function safeJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}
