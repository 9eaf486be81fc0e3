/** Without `federation:` rules nothing changes for callers: a JWT bearer is not an agent token. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/harness.js';
import { exchange, exchangeForm, issueWith } from './fixture.js';

let broker: TestBroker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(() => broker.stop());

const jwt = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from('{"iss":"https://x"}').toString('base64url')}.c2ln`;

it('answers a JWT bearer 401 ERR_UNAUTHENTICATED, and the token endpoint invalid_grant', async () => {
  const res = await issueWith(broker.url, jwt, { backend: 'demo' });
  expect(res.status).toBe(401);
  expect(res.body.error.code).toBe('ERR_UNAUTHENTICATED');
  const form = await exchange(broker.url, exchangeForm(jwt, 'demo'));
  expect(form.body).toMatchObject({ error: 'invalid_grant', code: 'ERR_UNAUTHENTICATED' });
});
