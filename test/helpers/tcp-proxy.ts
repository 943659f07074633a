import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback between a client and a real server (mosquitto): a test cuts the link
 * (every connection dropped, new ones refused until `resume`) to make a real outage for the
 * client while the server stays up, and can slow the client's upload to a fixed rate so that a
 * transfer is still under way when it acts.
 */
export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  /** Drops every connection and refuses new ones. */
  cut(): void;
  resume(): void;
  /** Bytes per second from the client to the server; null: as fast as it goes. */
  setRate(bytesPerSecond: number | null): void;
  close(): Promise<void>;
}

export async function startTcpProxy(t: { after(fn: () => Promise<void> | void): void }, targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let cut = false;
  let rate: number | null = null;
  const server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    open.add(client);
    open.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (rate === null) return;
      // Holds the client back for as long as the chunk takes at the rate.
      client.pause();
      setTimeout(() => { if (!client.destroyed) client.resume(); }, (chunk.length / rate) * 1000);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const proxy: TcpProxy = {
    port: address.port,
    url: `mqtt://127.0.0.1:${address.port}`,
    cut() {
      cut = true;
      for (const s of open) s.destroy();
      open.clear();
    },
    resume() {
      cut = false;
    },
    setRate(r) {
      rate = r;
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
  t.after(() => proxy.close());
  return proxy;
}
