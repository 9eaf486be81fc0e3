/**
 * `DELETE /v1/credentials/:id` of another agent's credential answers exactly as an id that does not
 * exist: 404 ERR_NOT_FOUND, never 403, which would confirm the id is real (credentials/revoke.ts,
 * docs/api.md). Over HTTP and through `creddy revoke`; the credential stays valid for its holder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeOrderedId } from '../../src/_utils/ids.js';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';

let broker: TestBroker;
let alice: string;
let bob: string;
let id: string;
beforeAll(async () => {
  broker = await startBroker();
  alice = await broker.agent('alice', 'demo:read');
  bob = await broker.agent('bob', 'demo:read');
  const issued = await issue(broker.url, alice, { backend: 'demo' });
  expect(issued.status).toBe(201);
  id = issued.body.id as string;
});
afterAll(async () => broker.stop());

const revoke = async (credential: string, token: string) => {
  const response = await fetch(`${broker.url}/v1/credentials/${credential}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}` },
  });
  const body = (await response.json()) as { error: { code: string; message: string; request_id: string } };
  // Everything but the request id, which differs per request: the whole answer is compared.
  const { request_id, ...error } = body.error;
  expect(request_id).toMatch(/^\S+$/);
  return { status: response.status, headers: response.headers.get('content-type'), body: { ...body, error } };
};
const isRevoked = async () => ((await (await fetch(`${broker.url}/v1/revocations/${id}`)).json()) as { revoked: boolean }).revoked;

describe("revoking another agent's credential", () => {
  it('answers 404 ERR_NOT_FOUND over HTTP, as for an id that does not exist, and revokes nothing', async () => {
    const unknown = timeOrderedId(Date.now());
    const [theirs, none] = [await revoke(id, bob), await revoke(unknown, bob)];
    const answer = (credential: string) => ({
      status: 404,
      headers: 'application/json',
      body: { error: { code: 'ERR_NOT_FOUND', message: `no credential ${credential} for this caller` } },
    });
    expect(theirs).toEqual(answer(id));
    expect(none).toEqual(answer(unknown));
    expect(await isRevoked()).toBe(false);
    expect((await broker.services.store.credentials.get(id))?.revokedAt).toBeNull();
  });

  it('through `creddy revoke`: ERR_NOT_FOUND (exit 1) as for an unknown id; its holder can still revoke it', async () => {
    const unknown = timeOrderedId(Date.now());
    const theirs = await runCli(['revoke', id], { CREDDY_URL: broker.url, CREDDY_TOKEN: bob });
    const none = await runCli(['revoke', unknown], { CREDDY_URL: broker.url, CREDDY_TOKEN: bob });
    expect(theirs.code).toBe(1);
    expect(theirs.stderr).toMatch(new RegExp(`^creddy: ERR_NOT_FOUND: no credential ${id} for this caller \\(request id \\S+\\)\\n$`));
    expect(none.code).toBe(1);
    expect(none.stderr.replace(unknown, id).replace(/\(request id \S+\)/, '')).toBe(theirs.stderr.replace(/\(request id \S+\)/, ''));
    expect(await isRevoked()).toBe(false);

    const own = await runCli(['revoke', id, '--json'], { CREDDY_URL: broker.url, CREDDY_TOKEN: alice });
    expect(own.code, own.stderr).toBe(0);
    expect(JSON.parse(own.stdout)).toMatchObject({ id });
    expect(await isRevoked()).toBe(true);
  });
});
