import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Sustained issuing load for the shutdown tests: clients that each issue credentials one after
 * another on keep-alive connections, as SDKs do — node:http with a keep-alive Agent, and fetch
 * (Node's undici). Every request's outcome is kept with whether it went out on a connection that
 * had carried a request before (`reused`): a failure there is what a graceful shutdown must never
 * cause, while a fresh connection refused after the listener closed is the expected end.
 */

export interface LoadOutcome {
  readonly via: 'http' | 'fetch';
  /** The HTTP status of a complete response; null when the request failed. */
  readonly status: number | null;
  /** The credential id of a 201. */
  readonly jti?: string;
  /** The error code (`ECONNREFUSED`, `ECONNRESET`, `UND_ERR_SOCKET`, …) when the request failed. */
  readonly error?: string;
  /** The request was sent on a connection that had already carried one. */
  readonly reused: boolean;
  /** Whether the response header said `Connection: close`. */
  readonly closing: boolean;
  /** Settled after `signalled()` was called. */
  readonly afterSignal: boolean;
}

export interface Load {
  readonly outcomes: LoadOutcome[];
  /** Marks the moment the server was signalled (for `afterSignal`). */
  signalled(): void;
  /** Resolves once `n` credentials have been issued. */
  issued(n: number): Promise<void>;
  /** Resolves once every client has stopped: refused by a closed listener, failed, or told to stop. */
  readonly done: Promise<void>;
  /** Tells the clients to stop after their current request. */
  stop(): void;
}

const BODY = JSON.stringify({ backend: 'demo', scopes: ['read'] });

/** Starts `httpClients` node:http loops (each its own keep-alive Agent) and `fetchClients` fetch loops. */
export function startLoad(url: string, token: string, clients: { httpClients: number; fetchClients: number }): Load {
  const outcomes: LoadOutcome[] = [];
  let stopping = false;
  let signalSent = false;
  let waiters: Array<{ n: number; resolve: () => void }> = [];
  const record = (outcome: Omit<LoadOutcome, 'afterSignal'>): void => {
    outcomes.push({ ...outcome, afterSignal: signalSent });
    const issued = outcomes.filter((o) => o.status === 201).length;
    for (const w of waiters) if (issued >= w.n) w.resolve();
    waiters = waiters.filter((w) => issued < w.n);
  };

  // fetch gives no handle on its connection: its requests carry an id, and undici's diagnostics
  // channel reports which socket each one was written to.
  const uses = new WeakMap<Socket, number>();
  const fetchReused = new Map<string, boolean>();
  const onHeaders = (message: unknown): void => {
    const { headers, socket } = message as { headers: string; socket: Socket };
    const id = /\r\nx-load-id: (\S+)\r\n/.exec(headers)?.[1];
    if (!id) return;
    const count = uses.get(socket) ?? 0;
    uses.set(socket, count + 1);
    fetchReused.set(id, count > 0);
  };
  subscribe('undici:client:sendHeaders', onHeaders);

  const httpLoop = async (): Promise<void> => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      while (!stopping) {
        const outcome = await new Promise<Omit<LoadOutcome, 'afterSignal'>>((resolve) => {
          const req = request(
            `${url}/v1/credentials`,
            {
              method: 'POST',
              agent,
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) },
            },
            (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (d: string) => (text += d));
              res.on('end', () =>
                resolve({
                  via: 'http',
                  status: res.statusCode ?? 0,
                  ...(res.statusCode === 201 ? { jti: (JSON.parse(text) as { id: string }).id } : {}),
                  reused: req.reusedSocket,
                  closing: res.headers.connection === 'close',
                }),
              );
              res.on('error', (err: NodeJS.ErrnoException) =>
                resolve({ via: 'http', status: null, error: err.code ?? err.message, reused: req.reusedSocket, closing: false }),
              );
            },
          );
          req.on('error', (err: NodeJS.ErrnoException) =>
            resolve({ via: 'http', status: null, error: err.code ?? err.message, reused: req.reusedSocket, closing: false }),
          );
          req.end(BODY);
        });
        record(outcome);
        if (outcome.status === null) return;
      }
    } finally {
      agent.destroy();
    }
  };

  let nextId = 0;
  const fetchLoop = async (): Promise<void> => {
    while (!stopping) {
      const id = `${process.pid}-${nextId++}`;
      const outcome = await fetch(`${url}/v1/credentials`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-load-id': id },
        body: BODY,
      }).then(
        async (res): Promise<Omit<LoadOutcome, 'afterSignal'>> => {
          const text = await res.text();
          return {
            via: 'fetch',
            status: res.status,
            ...(res.status === 201 ? { jti: (JSON.parse(text) as { id: string }).id } : {}),
            reused: fetchReused.get(id) ?? false,
            closing: res.headers.get('connection') === 'close',
          };
        },
        (err: Error & { cause?: { code?: string } }): Omit<LoadOutcome, 'afterSignal'> => ({
          via: 'fetch',
          status: null,
          error: err.cause?.code ?? err.message,
          // A request never written to a socket (refused at connect) was not sent at all.
          reused: fetchReused.get(id) ?? false,
          closing: false,
        }),
      );
      fetchReused.delete(id);
      record(outcome);
      if (outcome.status === null) return;
    }
  };

  const loops = [...Array.from({ length: clients.httpClients }, httpLoop), ...Array.from({ length: clients.fetchClients }, fetchLoop)];
  const done = Promise.all(loops).then(() => {
    unsubscribe('undici:client:sendHeaders', onHeaders);
  });
  return {
    outcomes,
    signalled: () => void (signalSent = true),
    issued: (n) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ n, resolve });
        void done.then(() =>
          reject(new Error(`the load ended before ${n} credentials were issued: ${JSON.stringify(outcomes.slice(-5))}`)),
        );
      }),
    done,
    stop: () => void (stopping = true),
  };
}

/**
 * A new connection that raced the listener's close: refused, or accepted by the kernel (or by the
 * `--workers` primary) and then closed before creddy read a byte of it, so nothing was issued.
 */
const NEW_CONNECTION_ENDS = new Set(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET']);

/**
 * Outcomes a graceful shutdown must never produce: anything but a complete 201, or a new
 * connection ended before it carried a request. A failure on a reused connection always counts.
 */
export function failures(outcomes: readonly LoadOutcome[]): LoadOutcome[] {
  return outcomes.filter((o) => !(o.status === 201 || (o.status === null && !o.reused && NEW_CONNECTION_ENDS.has(o.error ?? ''))));
}
