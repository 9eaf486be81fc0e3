import type { Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

/** Longest a shutdown waits for in-flight requests before cutting connections. */
export const DRAIN_DEADLINE_MS = 10_000;

/**
 * During a drain, a keep-alive connection is closed once it has carried no request and read no
 * byte for this long (counted from the drain's start at the earliest). A client issuing one
 * request after another writes its next request well within it, so that request is answered
 * (with `Connection: close`) instead of meeting a socket the server closed under it.
 */
export const DRAIN_IDLE_MS = 1000;

/** How often a drain looks for connections idle past DRAIN_IDLE_MS. */
const SWEEP_MS = 50;

interface Connection {
  /** Requests on it whose response has not closed yet. */
  active: number;
  /**
   * When it last finished a response (or was accepted), or was seen reading: monotonic
   * (`performance.now()`), so a wall clock stepped back during a drain cannot keep idle
   * connections open until the deadline.
   */
  idleSince: number;
  /** `socket.bytesRead` at `idleSince`: bytes since then are a request on its way. */
  bytesRead: number;
}

export interface DrainableServer {
  /**
   * Stops accepting, answers every request that reaches an open connection (with
   * `Connection: close`, so the client does not send another on it), closes connections as they
   * become idle, and resolves once none is left; after DRAIN_DEADLINE_MS, whatever is left is cut.
   */
  drain(): Promise<void>;
}

/**
 * Tracks the connections of `server` so that a drain closes only those no client is using.
 *
 * Why not `server.close()` + `closeIdleConnections()`: they destroy every keep-alive connection
 * that is between requests at that instant, and under load that is a connection whose client has
 * just read a response and is writing its next request, or whose pool has just picked it for
 * one — which then fails with a reset or "socket hang up" although it was sent on an open
 * connection. Here every connection stays open for DRAIN_IDLE_MS after the signal and after its
 * last response, and a request that arrives meanwhile is answered in full. What a client may see
 * at shutdown is in docs/deploy.md ("Shutdown"). `idleMs` 0 closes every idle connection at once (in-process tests, which stop a broker after
 * each file and have no client racing them).
 */
export function drainable(server: Server, isDraining: () => boolean, idleMs = DRAIN_IDLE_MS): DrainableServer {
  const connections = new Map<Socket, Connection>();
  const responses = new Set<ServerResponse>();
  server.on('connection', (socket: Socket) => {
    connections.set(socket, { active: 0, idleSince: performance.now(), bytesRead: 0 });
    socket.once('close', () => connections.delete(socket));
  });
  server.prependListener('request', (req, res) => {
    if (isDraining()) res.setHeader('connection', 'close');
    const connection = connections.get(req.socket);
    responses.add(res);
    if (connection) connection.active += 1;
    res.once('close', () => {
      responses.delete(res);
      if (!connection) return;
      connection.active -= 1;
      connection.idleSince = performance.now();
      connection.bytesRead = req.socket.bytesRead;
    });
  });

  // Idle time counts from the drain's start at the earliest: a pooling client (undici) hands its
  // next request to whichever connection is free, one idle for minutes included, so closing those
  // at the signal would cut requests written at that very moment.
  let drainStart = 0;
  const closeIdle = (): void => {
    const now = performance.now();
    for (const [socket, connection] of connections) {
      if (connection.active > 0) continue;
      if (socket.bytesRead !== connection.bytesRead) {
        // Part of a request has arrived: it will be answered, so it is not idle.
        connection.bytesRead = socket.bytesRead;
        connection.idleSince = now;
      } else if (now - Math.max(connection.idleSince, drainStart) >= idleMs) {
        socket.destroy();
      }
    }
  };

  return {
    async drain() {
      drainStart = performance.now();
      // Responses not started yet tell their client to open no further request on this connection.
      for (const res of responses) if (!res.headersSent) res.setHeader('connection', 'close');
      // net.Server's close only stops listening; http.Server's would destroy idle connections now.
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
      closeIdle();
      const sweep = setInterval(closeIdle, SWEEP_MS);
      const deadline = setTimeout(() => server.closeAllConnections(), DRAIN_DEADLINE_MS);
      await closed;
      clearInterval(sweep);
      clearTimeout(deadline);
      // Nothing is left: http.Server's own close now just stops its connection-checking timer.
      server.close();
    },
  };
}
