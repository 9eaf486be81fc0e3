import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCredentialCache } from '../../src/client/cache.js';
import { createCreddyClient } from '../../src/client/client.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';

describe('client credential cache', () => {
  let broker: TestBroker;
  let token: string;
  beforeAll(async () => {
    broker = await startBroker();
    token = await broker.agent('cached', 'demo:read');
  });
  afterAll(async () => broker.stop());

  it('merges concurrent identical requests and reuses until the refresh margin', async () => {
    let clock = Date.now();
    const cache = createCredentialCache(createCreddyClient({ url: broker.url, token }), { now: () => clock });
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => cache.get({ backend: 'demo', scopes: ['read'], ttl: '10m' })));
    expect(a!.id).toBe(b!.id);
    expect(b!.id).toBe(c!.id);
    const issued = await broker.services.store.credentials.listActive('cached', Math.floor(Date.now() / 1000));
    expect(issued).toHaveLength(1);

    clock += 7 * 60_000; // 3 of 10 minutes left: still above the 20% margin
    expect((await cache.get({ backend: 'demo', scopes: ['read'], ttl: '10m' })).id).toBe(a!.id);
    clock += 90_000; // 1.5 minutes left: inside the margin, refresh
    expect((await cache.get({ backend: 'demo', scopes: ['read'], ttl: '10m' })).id).not.toBe(a!.id);
  });

  it('does not cache failures', async () => {
    const cache = createCredentialCache(createCreddyClient({ url: broker.url, token }));
    await expect(cache.get({ backend: 'demo', scopes: ['write'] })).rejects.toMatchObject({ code: 'ERR_SCOPE_DENIED' });
    await expect(cache.get({ backend: 'demo', scopes: ['write'] })).rejects.toMatchObject({ code: 'ERR_SCOPE_DENIED' });
  });
});
