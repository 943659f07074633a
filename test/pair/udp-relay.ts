import { createSocket, type Socket } from 'node:dgram';

/**
 * The LAN between the two devices of a pair, on loopback: each device sends its heartbeats to its
 * own relay port, and the relay forwards them to the other device's listen port. `cut()` drops
 * every datagram both ways (a pulled cable) until `heal()`.
 */
export interface UdpRelay {
  /** Where device A sends (its `pair.peer` port) and where B does. */
  readonly portForA: number;
  readonly portForB: number;
  /** Datagrams forwarded and dropped. */
  readonly counts: { forwarded: number; dropped: number };
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

async function bound(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => { socket.off('error', reject); resolve(); });
  });
  return socket;
}

/** A UDP port free now (bound, read and closed): for a daemon's `pair.listen`. */
export async function freeUdpPort(): Promise<number> {
  const socket = await bound();
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export async function startUdpRelay(t: { after(fn: () => Promise<void> | void): void }, listenA: number, listenB: number): Promise<UdpRelay> {
  const fromA = await bound();
  const fromB = await bound();
  const counts = { forwarded: 0, dropped: 0 };
  let cut = false;
  const forward = (to: number, via: Socket) => (data: Buffer): void => {
    if (cut) {
      counts.dropped += 1;
      return;
    }
    counts.forwarded += 1;
    via.send(data, to, '127.0.0.1');
  };
  fromA.on('message', forward(listenB, fromA));
  fromB.on('message', forward(listenA, fromB));
  const relay: UdpRelay = {
    portForA: fromA.address().port,
    portForB: fromB.address().port,
    counts,
    cut: () => { cut = true; },
    heal: () => { cut = false; },
    close: async () => {
      await Promise.all([fromA, fromB].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
  t.after(() => relay.close());
  return relay;
}
