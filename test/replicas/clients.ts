/**
 * Closed-loop clients for fault tests: each sends one issuance after another to the replicas in
 * turn and records every answer; with `retry`, a failed attempt (connection error or 5xx) is
 * retried on the next replica, as a client behind a load balancer would.
 */

/** A credential a client received. */
export interface Received {
  readonly id: string;
  readonly token: string;
  readonly replica: number;
}

/** One attempt: its replica, when it ended (Date.now()), its status or error. */
export interface Attempt {
  readonly replica: number;
  readonly at: number;
  readonly status: number | 'network';
  readonly code?: string;
}

export interface ClientRun {
  readonly received: Received[];
  readonly attempts: Attempt[];
  /** Logical requests that failed on every replica they tried. */
  readonly gaveUp: number;
  /** Stops the clients after their current request. */
  stop(): Promise<void>;
}

export function runClients(
  urls: readonly string[],
  token: string,
  options: { clients: number; retry: boolean; body?: unknown },
): ClientRun {
  const run: ClientRun & { gaveUp: number } = { received: [], attempts: [], gaveUp: 0, stop: async () => {} };
  let stopped = false;
  const body = JSON.stringify(options.body ?? { backend: 'demo', scopes: ['read'] });
  const attempt = async (replica: number): Promise<boolean> => {
    try {
      const res = await fetch(`${urls[replica]}/v1/credentials`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const json = (await res.json()) as { id?: string; token?: string; error?: { code: string } };
      run.attempts.push({ replica, at: Date.now(), status: res.status, ...(json.error ? { code: json.error.code } : {}) });
      if (res.status === 201) run.received.push({ id: json.id!, token: json.token!, replica });
      return res.status < 500;
    } catch {
      run.attempts.push({ replica, at: Date.now(), status: 'network' });
      return false;
    }
  };
  const loop = async (client: number): Promise<void> => {
    let next = client % urls.length;
    while (!stopped) {
      let done = false;
      for (let tries = 0; tries < (options.retry ? urls.length : 1) && !done; tries++) {
        done = await attempt(next);
        next = (next + 1) % urls.length;
      }
      if (!done && options.retry) run.gaveUp += 1;
      // Without retries a refused request comes back at once: pace the loop, not the server.
      if (!done) await new Promise((r) => setTimeout(r, 20));
    }
  };
  const loops = Array.from({ length: options.clients }, (_, i) => loop(i));
  run.stop = async () => {
    stopped = true;
    await Promise.all(loops);
  };
  return run;
}

/** Polls until `check` holds, for at most `ms`; resolves with the ms it took. */
export async function within(ms: number, check: () => boolean | Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - start;
}
