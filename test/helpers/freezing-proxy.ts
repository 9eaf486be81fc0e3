import net from 'node:net';
import { listenInFrontOf } from './loopback-proxy.js';

/**
 * A loopback TCP proxy in front of PostgreSQL that can make connections go silent the way a
 * vanished host does (a DNS failover that moved the address, a partition): bytes stop passing in
 * either direction and nothing closes — no FIN, no RST reaches the other side. The machine's
 * kernel still acknowledges every byte, so neither TCP keepalive nor retransmission timeouts can
 * notice: only a deadline of creddy's own can.
 */
export interface FreezingProxy {
  /** `url` with the proxy's address in place of the server's. */
  readonly url: string;
  /** Every connection open now goes silent, for good. */
  freezeAll(): void;
  /** While true, new connections are accepted and then stay silent (the address leads nowhere). */
  blackholeNew(on: boolean): void;
  /**
   * Silences the next connection that sends an audit INSERT: `insert` drops that statement (the
   * server holds the transaction open, with the audit chain's lock); `commit` lets the INSERT and
   * the COMMIT after it through and drops the server's answer (committed, but nobody hears it).
   */
  trap(stage: 'insert' | 'commit'): void;
  /** Closes every connection (both sides) and the listener. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  frozen: boolean;
  /** The `commit` trap took this connection: freeze it once its COMMIT has gone through. */
  trapped: boolean;
}

const AUDIT_INSERT = 'INSERT INTO audit_events';

export async function startFreezingProxy(url: string): Promise<FreezingProxy> {
  const target = new URL(url);
  const pairs: Pair[] = [];
  let blackhole = false;
  let trap: 'insert' | 'commit' | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    const pair: Pair = { client, upstream, frozen: blackhole, trapped: false };
    pairs.push(pair);
    client.on('data', (data) => {
      if (pair.frozen) return;
      if (trap !== undefined && data.includes(AUDIT_INSERT)) {
        if (trap === 'insert') {
          trap = undefined;
          pair.frozen = true;
          return;
        }
        trap = undefined;
        pair.trapped = true;
      }
      upstream.write(data);
      if (pair.trapped && data.includes('COMMIT')) pair.frozen = true;
    });
    upstream.on('data', (data) => {
      if (!pair.frozen) client.write(data);
    });
    // A silent connection passes on no close either: each side only hears of its own end.
    client.on('close', () => {
      if (!pair.frozen) upstream.destroy();
    });
    upstream.on('close', () => {
      if (!pair.frozen) client.destroy();
    });
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  const proxied = await listenInFrontOf(server, url);
  return {
    url: proxied,
    freezeAll() {
      for (const pair of pairs) pair.frozen = true;
    },
    blackholeNew(on) {
      blackhole = on;
    },
    trap(stage) {
      trap = stage;
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
