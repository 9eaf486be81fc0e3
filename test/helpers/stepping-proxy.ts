import net from 'node:net';
import { listenInFrontOf } from './loopback-proxy.js';

/**
 * A loopback TCP proxy in front of PostgreSQL that runs the test's `before` hook ahead of each
 * message a client sends, and forwards the message only once the hook has finished. A test that
 * commits rows in the hook makes writes land between every two statements of the client, the
 * interleaving that a free-running race produces only now and then.
 */
export interface SteppingProxy {
  /** `url` with the proxy's address in place of the server's. */
  readonly url: string;
  /** Closes every connection (both sides) and the listener. */
  close(): Promise<void>;
}

/**
 * `before` sees each chunk the client wrote (node-postgres writes one statement's Parse, Bind,
 * Execute and Sync in one go); chunks of one connection are forwarded in order, each after its hook.
 */
export async function startSteppingProxy(url: string, before: (chunk: Buffer) => Promise<void>): Promise<SteppingProxy> {
  const target = new URL(url);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    let queue = Promise.resolve();
    client.on('data', (chunk) => {
      queue = queue.then(async () => {
        await before(chunk).catch(() => {});
        if (!upstream.destroyed) upstream.write(chunk);
      });
    });
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  const proxied = await listenInFrontOf(server, url);
  return {
    url: proxied,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
