import type { Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../_utils/logger.js';
import type { HttpLimitsConfig } from '../config/types.js';
import { throttleKey } from './middleware/auth-failures.js';

/**
 * Options for the Node server itself. Node checks header and request timeouts on an interval
 * (30 s by default), which would let a slow client hold a socket for that long past its timeout:
 * the check runs at least every second, or more often for short limits.
 */
export function httpServerOptions(limits: HttpLimitsConfig): ServerOptions {
  return {
    headersTimeout: limits.headerTimeout * 1000,
    requestTimeout: limits.requestTimeout * 1000,
    keepAliveTimeout: limits.idleTimeout * 1000,
    connectionsCheckingInterval: Math.min(1000, (limits.headerTimeout * 1000) / 2),
  };
}

/**
 * Caps connections on a listening server: `max_connections` in all (Node refuses past it), and
 * `max_connections_per_address` per client address (IPv6 per /64, as the auth throttle counts),
 * so one host cannot take every socket. A connection over the cap is closed at once and logged
 * once per address and minute. Slow clients are bounded by the timeouts of httpServerOptions:
 * a request not received within `request_timeout` is answered 408 and closed.
 */
export function capConnections(server: Server, limits: HttpLimitsConfig, logger: Logger): void {
  server.maxConnections = limits.maxConnections;
  const open = new Map<string, number>();
  const warned = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const key = throttleKey(socket.remoteAddress ?? null);
    const count = (open.get(key) ?? 0) + 1;
    if (count > limits.maxConnectionsPerAddress) {
      const now = Date.now();
      if ((warned.get(key) ?? 0) < now - 60_000) {
        warned.set(key, now);
        logger.warn('connection refused: too many open connections from one address', {
          address: key,
          limit: limits.maxConnectionsPerAddress,
        });
      }
      socket.destroy();
      return;
    }
    open.set(key, count);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left <= 0) open.delete(key);
      else open.set(key, left);
    });
  });
}
