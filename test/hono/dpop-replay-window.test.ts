import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentSigner } from '../../src/client/agent-key.js';
import { createCreddyClient } from '../../src/client/client.js';
import { createDpopProof } from '../../src/client/proofs.js';
import { startResourceServer } from '../client/resource-server.js';
import { startBroker, type TestAgentKey, type TestBroker } from '../helpers/harness.js';

/**
 * The in-memory DPoP replay cache of `creddy/verify` (through `creddy/hono`, over HTTP) keeps a
 * proof's id for as long as the proof's `iat` passes the freshness window, to the last
 * millisecond. The window is in whole seconds, so a proof first used at N·1000+100 ms with
 * `iat` N + tol (a client clock as far ahead as the tolerance allows; N itself with tol 0) still
 * passes at (N+60+2·tol)·1000+500 ms: its replay then must be refused, and only by the cache (a
 * fresh proof with the same `iat` passes at that moment).
 */
describe('DPoP replay window (in-memory cache, injected clock)', () => {
  let broker: TestBroker;
  let key: TestAgentKey;
  let token: string;

  beforeAll(async () => {
    broker = await startBroker();
    key = await broker.keyPairAgent('dpop-bot', 'demo:read');
    const client = createCreddyClient({
      url: broker.url,
      issuer: broker.services.config.issuer,
      auth: { type: 'key-pair', agent: 'dpop-bot', privateKey: key.privateJwk },
    });
    token = (await client.issue({ backend: 'demo', scopes: ['read'] })).token;
  });
  afterAll(async () => broker?.stop());

  it.each([0, 10])('refuses a replay in the last second of the window (clockTolerance %i)', async (tol) => {
    const n = Math.floor(Date.now() / 1000);
    let clock = n * 1000 + 100;
    const api = await startResourceServer({
      issuer: broker.services.config.issuer,
      url: broker.url,
      audience: 'demo',
      now: () => clock,
      dpop: { clockTolerance: tol },
    });
    try {
      const url = `${api.url}/files/report.txt`;
      const signer = await createAgentSigner(key.privateJwk);
      const proofAt = (iat: number) => createDpopProof(signer, { method: 'GET', url, accessToken: token, now: () => iat * 1000 });
      const send = (dpop: string) => fetch(url, { headers: { authorization: `DPoP ${token}`, dpop } });

      const proof = await proofAt(n + tol);
      expect((await send(proof)).status).toBe(200);
      clock = (n + 60 + 2 * tol) * 1000 + 500;
      const replayed = await send(proof);
      expect(replayed.status, 'the replayed proof was accepted').toBe(401);
      expect(replayed.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof"');
      // The window itself is still open at this moment: only the cache stands in the way.
      expect((await send(await proofAt(n + tol))).status).toBe(200);
      // A second later the proof is too old anyway.
      clock = (n + 61 + 2 * tol) * 1000;
      expect((await send(proof)).status).toBe(401);
    } finally {
      await api.close();
    }
  });
});
