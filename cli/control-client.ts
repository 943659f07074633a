import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { replySchema, type Reply, type Request } from '../daemon/control/protocol.js';
import { CliError, EXIT } from './errors.js';

export const DEFAULT_SOCKET = process.env['VIGIL_SOCKET'] ?? '/run/vigil/vigild.sock';

type RequestWithoutId = Request extends infer R ? R extends Request ? Omit<R, 'id'> : never : never;

/** Sends one request over the local socket and returns the body of an `ok` reply; typed errors otherwise. */
export async function call(socketPath: string, request: RequestWithoutId, timeoutMs = 5000): Promise<unknown> {
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
  if (reply.status === 'error') throw new CliError(`${reply.error.code}: ${reply.error.message}`, EXIT.failed);
  return reply.body;
}
