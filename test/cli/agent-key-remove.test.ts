/**
 * `creddy agent key remove` after a key leak: besides refusing the key's assertions from the next
 * request on, it revokes the active credentials the key obtained (its client assertion asked) or
 * can present (they are DPoP-bound to it), and leaves those of the agent's other key alive.
 * Checked at the wire: the public deny-list, introspection, and the audit rows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentSigner } from '../../src/client/agent-key.js';
import { createCreddyClient } from '../../src/client/client.js';
import { createClientAssertion, createDpopProof } from '../../src/client/proofs.js';
import { type GitHubFixture, startGitHubFixture } from '../backends/github/fixture.js';
import { runCli } from '../helpers/cli.js';
import { eventually, startBroker, type TestBroker } from '../helpers/harness.js';

let broker: TestBroker;
let issuer: string;
const operator = (...args: string[]) => runCli([...args, '--config', broker.configPath], broker.env);
const file = (name: string) => join(broker.dir, name);
const jwk = (name: string) => JSON.parse(readFileSync(file(name), 'utf8')) as { kty: 'OKP'; crv: 'Ed25519'; d: string; x: string };

beforeAll(async () => {
  broker = await startBroker();
  issuer = broker.services.config.issuer;
});
afterAll(async () => broker?.stop());

/** A client for the agent with the key in `keyFile`; DPoP-bound credentials, as the SDK makes them by default. */
const sdk = (keyFile: string) =>
  createCreddyClient({ url: broker.url, issuer, auth: { type: 'key-pair', agent: 'leaky', privateKey: jwk(keyFile) } });

async function revocationStatus(jti: string): Promise<boolean> {
  const body = (await (await fetch(`${broker.url}/v1/revocations/${jti}`)).json()) as { revoked: boolean };
  return body.revoked;
}

async function introspect(token: string, byKeyFile: string): Promise<boolean> {
  const signer = await createAgentSigner(jwk(byKeyFile));
  const assertion = await createClientAssertion(signer, { agent: 'leaky', audience: issuer });
  const response = await fetch(`${broker.url}/oauth/introspect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${assertion}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { active: boolean }).active;
}

describe('agent key remove', () => {
  it('revokes what the removed key obtained or is bound to, and only that; says how many', async () => {
    expect((await operator('agent', 'create', 'leaky', '--can', 'demo:read', '--generate-key', file('k1.json'))).code).toBe(0);
    const added = await operator('agent', 'key', 'add', 'leaky', '--generate-key', file('k2.json'), '--json');
    expect(added.code, added.stderr).toBe(0);
    const k2 = (JSON.parse(added.stdout) as { added: string }).added;
    const k1 = (await createAgentSigner(jwk('k1.json'))).jkt;

    // K1: a DPoP-bound credential (SDK) and a bearer one (CLI); K2: the same two.
    const boundToK1 = await sdk('k1.json').issue({ backend: 'demo' });
    const boundToK2 = await sdk('k2.json').issue({ backend: 'demo' });
    const cli = (keyFile: string) =>
      runCli(['get', 'demo', '--format', 'json'], {
        CREDDY_URL: broker.url,
        CREDDY_ISSUER: issuer,
        CREDDY_AGENT: 'leaky',
        CREDDY_AGENT_KEY_FILE: file(keyFile),
      });
    const bearerByK1 = JSON.parse((await cli('k1.json')).stdout) as { id: string; token: string };
    const bearerByK2 = JSON.parse((await cli('k2.json')).stdout) as { id: string; token: string };
    // Asked for with K2's assertion, but bound to K1 (whoever holds K1 can present it).
    const assertion = await createClientAssertion(await createAgentSigner(jwk('k2.json')), { agent: 'leaky', audience: issuer });
    const proof = await createDpopProof(await createAgentSigner(jwk('k1.json')), { method: 'POST', url: `${issuer}/v1/credentials` });
    const crossed = (await (
      await fetch(`${broker.url}/v1/credentials`, {
        method: 'POST',
        headers: { authorization: `Bearer ${assertion}`, dpop: proof, 'content-type': 'application/json' },
        body: '{"backend":"demo"}',
      })
    ).json()) as { id: string; token: string; token_type: string };
    expect(crossed.token_type).toBe('DPoP');

    const removed = await operator('agent', 'key', 'remove', 'leaky', k1, '--json');
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ name: 'leaky', removed: k1, keys: [{ jkt: k2 }], credentials_revoked: 3 });

    const gone = [boundToK1, bearerByK1, crossed];
    const alive = [boundToK2, bearerByK2];
    for (const c of gone) {
      expect(await revocationStatus(c.id), `${c.id} should be deny-listed`).toBe(true);
      expect(await introspect(c.token, 'k2.json')).toBe(false);
    }
    for (const c of alive) {
      expect(await revocationStatus(c.id), `${c.id} should stay active`).toBe(false);
      expect(await introspect(c.token, 'k2.json')).toBe(true);
    }
    const rows = await broker.services.store.audit.query({ agent: 'leaky', type: 'credential.revoked', limit: 10 });
    expect(rows.map((r) => [r.jti, r.reason, r.actor]).sort()).toEqual(gone.map((c) => [c.id, 'agent.key_removed', 'cli']).sort());

    // Removing K2 in turn revokes K2's two; the text output says how many.
    const again = await operator('agent', 'key', 'add', 'leaky', '--generate-key', file('k3.json'));
    expect(again.code, again.stderr).toBe(0);
    const text = await operator('agent', 'key', 'remove', 'leaky', k2);
    expect(text.stdout).toMatch(/removed key .* \(1 left\) and revoked 2 active credential\(s\)/);
  });
});

describe('agent key remove, racing an issuance through that key', () => {
  let fixture: GitHubFixture;
  beforeAll(async () => {
    fixture = await startGitHubFixture();
  });
  afterAll(async () => fixture?.stop());

  it('a request that authenticated before the removal and commits after its scan is revoked, not handed out', async () => {
    const { broker: b, gh } = fixture;
    const op = (...args: string[]) => runCli([...args, '--config', b.configPath], b.env);
    const keyFile = join(b.dir, 'slow-k1.json');
    expect((await op('agent', 'create', 'slow', '--can', 'gh:contents:read', '--generate-key', keyFile)).code).toBe(0);
    const added = await op('agent', 'key', 'add', 'slow', '--generate-key', join(b.dir, 'slow-k2.json'), '--json');
    const k1 = (await createAgentSigner(JSON.parse(readFileSync(keyFile, 'utf8')))).jkt;
    expect(added.code, added.stderr).toBe(0);
    const client = createCreddyClient({
      url: b.url,
      issuer: b.services.config.issuer,
      auth: { type: 'key-pair', agent: 'slow', privateKey: JSON.parse(readFileSync(keyFile, 'utf8')) },
    });

    // GitHub takes its time minting: the request has authenticated with K1 and waits there.
    gh.faults.push({ delayMs: 800 });
    const before = gh.requests.length;
    const racing = client.issue({ backend: 'gh', scopes: ['contents:read'] }).catch((err: unknown) => err);
    await eventually(() => gh.requests.length > before);
    // K1 is removed meanwhile: its scan finds nothing yet, the credential not being committed.
    const removed = await op('agent', 'key', 'remove', 'slow', k1, '--json');
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ credentials_revoked: 0 });

    // The issuance commits after the scan: it hands nothing out and revokes what it recorded.
    expect(await racing).toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
    const [issued] = await b.services.store.audit.query({ agent: 'slow', type: 'credential.issued', limit: 1 });
    expect(issued?.jti).toBeDefined();
    const [revoked] = await b.services.store.audit.query({ agent: 'slow', type: 'credential.revoked', limit: 1 });
    expect(revoked).toMatchObject({ jti: issued!.jti, reason: 'agent.key_removed', actor: 'server' });
    // …downstream too: the installation token it minted is revoked at GitHub.
    await eventually(() => [...gh.tokens.values()].some((t) => t.revoked));
    expect([...gh.tokens.values()].filter((t) => !t.revoked)).toEqual([]);
  });
});
