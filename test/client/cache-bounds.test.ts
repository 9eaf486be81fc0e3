import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCreddyClient, createCredentialCache, type IssueResponse } from '../../src/client/index.js';

/**
 * The client's credential cache over many distinct requests (one-off `metadata` per task): it
 * must forget what it can no longer hand out, stay within `maxEntries`, and `clear()` must not
 * let a request from before it fill the cache after it. The broker is a loopback fake that
 * issues a credential per request (expiring on the test clock) and can hold its answers.
 */
describe('credential cache bounds', () => {
  let url = '';
  let close: () => Promise<void>;
  let clock: number;
  let issued: number;
  let hold: boolean;
  let held: Array<() => void>;
  const AGENT = `ckr_${'a'.repeat(43)}`;

  beforeAll(async () => {
    const server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk));
      req.on('end', () => {
        const body = JSON.parse(raw) as { backend: string; ttl?: number; metadata?: Record<string, string> };
        const ttl = body.ttl ?? 120;
        const answer = () => {
          issued++;
          const credential = {
            id: `c${issued}`,
            token: randomBytes(600).toString('base64url'),
            token_type: 'Bearer',
            expires_at: new Date(clock + ttl * 1000).toISOString(),
            backend: body.backend,
            scopes: [],
            metadata: body.metadata ?? null,
            ttl: { requested: ttl, granted: ttl, clamped_by: null },
            credential: null,
          };
          res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(credential));
        };
        if (hold) held.push(answer);
        else answer();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterAll(() => close());
  beforeEach(() => {
    clock = 1_700_000_000_000;
    issued = 0;
    hold = false;
    held = [];
  });

  const client = (cache: { maxEntries?: number } = {}) => createCreddyClient({ url, auth: AGENT, cache: { now: () => clock, ...cache } });

  /** How many of these credentials something still holds, after a full garbage collection. */
  const stillHeld = async (refs: Array<WeakRef<IssueResponse>>): Promise<number> => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    await new Promise((resolve) => setTimeout(resolve, 10)); // WeakRefs hold their target for the current job
    gc();
    return refs.filter((ref) => ref.deref() !== undefined).length;
  };

  it('forgets credentials once they can no longer be handed out (20,000 one-off tasks keep ~60, not 20,000)', async () => {
    // Over a plain issue function, as createCredentialCache allows: 20,000 round trips to the
    // fake broker would take minutes on a shared machine, and the wire adds nothing here.
    let n = 0;
    const issue = async (request: { backend: string; metadata?: Readonly<Record<string, string>> | undefined }) =>
      ({
        id: `c${++n}`,
        token: randomBytes(600).toString('base64url'),
        token_type: 'Bearer',
        expires_at: new Date(clock + 120_000).toISOString(),
        backend: request.backend,
        scopes: [],
        metadata: request.metadata ?? null,
        ttl: { requested: 120, granted: 120, clamped_by: null },
        credential: null,
      }) as unknown as IssueResponse;
    const cache = createCredentialCache({ issue }, { now: () => clock });
    const refs: Array<WeakRef<IssueResponse>> = [];
    for (let i = 0; i < 20_000; i++) {
      refs.push(new WeakRef(await cache.get({ backend: 'demo', metadata: { task: `t${i}` } })));
      clock += 1000; // 120 s credentials, renewed in their last 60 s: about 60 can still be handed out
    }
    expect(await stillHeld(refs)).toBeLessThan(200);
    // The cache itself is alive (and still serves its newest entry): only what it dropped was collected.
    expect((await cache.get({ backend: 'demo', metadata: { task: 't19999' } })).id).toBe('c20000');
  });

  it('does not keep a credential too short-lived to ever be handed out', async () => {
    const creddy = client();
    const refs: Array<WeakRef<IssueResponse>> = [];
    for (let i = 0; i < 100; i++) refs.push(new WeakRef(await creddy.get('demo', { ttl: 30, metadata: { task: `t${i}` } })));
    expect(await creddy.get('demo', { ttl: 30, metadata: { task: 't0' } })).toMatchObject({ id: 'c101' });
    expect(await stillHeld(refs)).toBe(0);
    expect(await creddy.get('demo', { ttl: 30, metadata: { task: 't1' } })).toMatchObject({ id: 'c102' });
  });

  it('keeps at most maxEntries, dropping the least recently used', async () => {
    const creddy = client({ maxEntries: 2 });
    const a = await creddy.get('demo', { metadata: { task: 'a' } });
    const b = await creddy.get('demo', { metadata: { task: 'b' } });
    expect(await creddy.get('demo', { metadata: { task: 'a' } })).toBe(a); // a is now the most recent
    await creddy.get('demo', { metadata: { task: 'c' } }); // b goes
    expect(issued).toBe(3);
    expect(await creddy.get('demo', { metadata: { task: 'a' } })).toBe(a);
    expect(await creddy.get('demo', { metadata: { task: 'b' } })).not.toBe(b);
    expect(issued).toBe(4);
    expect(() => createCredentialCache(creddy, { maxEntries: 0 })).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    expect(() => createCredentialCache(creddy, { refreshFraction: 2 })).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });

  it('clear() forgets requests in flight: a get after it asks the broker again, and the old answer is not cached', async () => {
    const cache = createCredentialCache(createCreddyClient({ url, auth: AGENT }), { now: () => clock });
    hold = true;
    const before = cache.get({ backend: 'demo' });
    await waitFor(() => held.length === 1);
    cache.clear();
    const after = cache.get({ backend: 'demo' });
    await waitFor(() => held.length === 2); // a second request, not the first one's promise
    for (const answer of held) answer();
    expect((await before).id).toBe('c1');
    expect((await after).id).toBe('c2');
    hold = false;
    expect((await cache.get({ backend: 'demo' })).id).toBe('c2');
    expect(issued).toBe(2);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}
