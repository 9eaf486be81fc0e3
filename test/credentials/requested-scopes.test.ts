import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';

/**
 * A denied request's scopes are audited as requested, capped at the scope length (128) and
 * redacted. A caller who pastes a token as an over-long scope must not leave the part of it that
 * fits under the cap in the log: cut first, a JWT without its signature or a `ckr_` token of under
 * 20 characters no longer looks like one and would be kept.
 */
describe('requested scopes in credential.denied rows', () => {
  let broker: TestBroker;
  let agentToken: string;
  let jwt: string;

  beforeAll(async () => {
    broker = await startBroker();
    agentToken = await broker.agent('paster', 'demo:read');
    const issued = await issue(broker.url, agentToken, { backend: 'demo', scopes: ['read'] });
    expect(issued.status).toBe(201);
    jwt = issued.body.token as string;
  });
  afterAll(async () => broker?.stop());

  it('redacts a token-shaped scope longer than the cap before cutting it', async () => {
    expect(jwt.length).toBeGreaterThan(200);
    const padded = `${'x'.repeat(109)}:${agentToken}`; // the token straddles character 128
    const res = await issue(broker.url, agentToken, { backend: 'demo', scopes: [jwt, padded] });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_SCOPE_INVALID');
    const [row] = await broker.services.store.audit.query({ agent: 'paster', type: 'credential.denied', limit: 1 });
    expect(row?.scopes).toEqual(['[REDACTED]', `${'x'.repeat(109)}:[REDACTED]`]);
    expect(row?.details).toMatchObject({ field: 'scopes', index: 0, scope: '[REDACTED]' });
    const text = JSON.stringify(row);
    expect(text).not.toContain(jwt.slice(0, 40));
    expect(text).not.toContain(agentToken.slice(0, 12));
  });
});
