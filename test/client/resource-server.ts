import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { type CreddyAuthEnv, creddyAuth } from '../../src/hono/index.js';
import type { VerifierOptions } from '../../src/verify/verifier.js';

/** A loopback API guarded by `creddyAuth`: `GET|POST /files/:name` answers with the verified claims. */
export async function startResourceServer(
  options: Omit<VerifierOptions, 'scopes'> & { scopes?: string[] },
): Promise<{ url: string; close(): Promise<void> }> {
  const app = new Hono<CreddyAuthEnv>();
  app.use('/files/*', creddyAuth(options));
  app.on(['GET', 'POST', 'PATCH'], '/files/:name', (c) => c.json({ name: c.req.param('name'), claims: c.get('creddy') }));
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
