import type { Reply } from '../../daemon/control/protocol.js';

/** The reply of a method the test knows to be synchronous; a pending one is a test bug, so it throws. */
export function settled(reply: Reply | Promise<Reply>): Reply {
  if (reply instanceof Promise) throw new Error('expected a synchronous reply, got a promise');
  return reply;
}
