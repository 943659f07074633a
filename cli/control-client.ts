import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { replySchema, type Reply, type Request } from '../daemon/control/protocol.js';
import { resultSchemas, type Result } from '../daemon/control/results.js';
import { CliError, EXIT } from './errors.js';
import { remoteCall } from './remote/remote-call.js';
import { currentRoute } from './remote/route.js';

export const DEFAULT_SOCKET = process.env['VIGIL_SOCKET'] ?? '/run/vigil/vigild.sock';

type RequestWithoutId = Request extends infer R ? R extends Request ? Omit<R, 'id'> : never : never;

/** An error reply as a typed error: `not_authorised` is exit 4, any other failure exit 1. */
export function replyError(reply: Reply & { status: 'error' }, where?: string): CliError {
  const prefix = where !== undefined ? `${where}: ` : '';
  return new CliError(`${prefix}${reply.error.code}: ${reply.error.message}`,
    reply.error.code === 'not_authorised' ? EXIT.unauthorised : EXIT.failed);
}

/**
 * Sends one request and returns the body of an `ok` reply; typed errors otherwise. Over the local
 * socket, or through the hub when vigilctl was given `--device` (see cli/remote/route.ts).
 */
export async function call<R extends RequestWithoutId>(socketPath: string, request: R, timeoutMs = 5000): Promise<Result<R['method']>> {
  return parseResult<R['method']>(request.method, await callUnchecked(socketPath, request, timeoutMs));
}

/**
 * A reply body checked against its method's result schema (daemon/control/results.ts): a daemon
 * of another version that answers differently is a clear error here, not a crash further on.
 */
function parseResult<M extends Request['method']>(method: M, body: unknown): Result<M> {
  const parsed = resultSchemas[method].safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `${issue.path.join('.') || '(reply)'}: ${issue.message}` : parsed.error.message;
    throw new CliError(`unexpected reply from vigild to ${method}: ${where} (is vigilctl the same version as vigild?)`, EXIT.failed);
  }
  return parsed.data as Result<M>;
}

/**
 * The transport alone: the body of an `ok` reply, unchecked. For tests of the socket itself, whose
 * targets answer with stand-ins; every command goes through `call`.
 */
export async function callUnchecked(socketPath: string, request: RequestWithoutId, timeoutMs = 5000): Promise<unknown> {
  const route = currentRoute();
  if (route) {
    const reply = await remoteCall(route, request);
    if (reply.status === 'error') throw replyError(reply, `${route.site}/${route.device}`);
    return reply.body;
  }
  const id = randomUUID();
  const reply = await new Promise<Reply>((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffered = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new CliError(`vigild did not answer within ${timeoutMs} ms on ${socketPath}`, EXIT.unreachable));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify({ ...request, id })}\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      socket.end();
      const parsed = replySchema.safeParse(JSON.parse(buffered.slice(0, nl)));
      if (parsed.success) resolve(parsed.data);
      else reject(new CliError(`unexpected reply from vigild: ${parsed.error.message}`, EXIT.failed));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'EACCES') {
        reject(new CliError(`not allowed to use ${socketPath} (join the vigil group)`, EXIT.unauthorised));
      } else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new CliError(`vigild is not running: nothing listens on ${socketPath}`, EXIT.unreachable));
      } else {
        reject(new CliError(`cannot reach vigild on ${socketPath}: ${err.message}`, EXIT.unreachable));
      }
    });
  });
  if (reply.status === 'error') throw replyError(reply);
  return reply.body;
}
