/**
 * Key-pair agents behind a load balancer: two `creddy server` processes on one PostgreSQL
 * database. An assertion or a DPoP proof spent on one replica is refused by the other (the
 * replay record is the store's), and a key removed by the CLI stops working on both at once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentSigner } from '../../src/client/agent-key.js';
import { createClientAssertion, createDpopProof } from '../../src/client/proofs.js';
import { tempDir } from '../helpers/harness.js';
import { issueOn, type ReplicaSet, startReplicas } from './harness.js';

const ISSUER = 'http://127.0.0.1:8400';

describe('key-pair agents on replicas', () => {
  let set: ReplicaSet;
  const keys = tempDir('creddy-replica-keys-');
  /** Creates a key-pair agent with the CLI (`--generate-key`) and returns a signer over its key file. */
  const create = async (name: string, file: string) => {
    const r = await set.cli('agent', 'create', name, '--can', 'demo:read', '--generate-key', join(keys.dir, file));
    expect(r.code, r.stderr).toBe(0);
    return createAgentSigner(readFileSync(join(keys.dir, file), 'utf8'));
  };

  beforeAll(async () => {
    set = await startReplicas(2);
  });
  afterAll(async () => {
    await set?.stop();
    keys.cleanup();
  });

  it('an assertion, and a DPoP proof, are spent once across replicas', async () => {
    const signer = await create('kp', 'kp.pem');
    const [a, b] = set.replicas.map((r) => r.url) as [string, string];

    const assertion = await createClientAssertion(signer, { agent: 'kp', audience: ISSUER });
    expect((await issueOn(a, assertion)).status).toBe(201);
    const replayed = await issueOn(b, assertion);
    expect(replayed.status).toBe(401);
    expect(replayed.body.error.message).toContain('replay');

    const proof = await createDpopProof(signer, { method: 'POST', url: `${ISSUER}/v1/credentials` });
    const withProof = async (url: string) => {
      const res = await fetch(`${url}/v1/credentials`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await createClientAssertion(signer, { agent: 'kp', audience: ISSUER })}`,
          'content-type': 'application/json',
          dpop: proof,
        },
        body: JSON.stringify({ backend: 'demo' }),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const bound = await withProof(b);
    expect(bound.status, JSON.stringify(bound.body)).toBe(201);
    expect(bound.body.token_type).toBe('DPoP');
    const again = await withProof(a);
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('ERR_DPOP_INVALID');
  });

  it('a key added and removed by the CLI applies on every replica at once', async () => {
    const old = await create('rot', 'rot-old.pem');
    const added = await set.cli('agent', 'key', 'add', 'rot', '--generate-key', join(keys.dir, 'rot-new.pem'), '--json');
    expect(added.code, added.stderr).toBe(0);
    const next = await createAgentSigner(readFileSync(join(keys.dir, 'rot-new.pem'), 'utf8'));
    const ask = async (url: string, by: typeof old) =>
      (await issueOn(url, await createClientAssertion(by, { agent: 'rot', audience: ISSUER }))).status;
    for (const { url } of set.replicas) {
      expect(await ask(url, old)).toBe(201);
      expect(await ask(url, next)).toBe(201);
    }
    const removed = await set.cli('agent', 'key', 'remove', 'rot', old.jkt);
    expect(removed.code, removed.stderr).toBe(0);
    for (const { url } of set.replicas) {
      expect(await ask(url, old)).toBe(401);
      expect(await ask(url, next)).toBe(201);
    }
    const verify = await set.cli('audit', 'verify');
    expect(verify.code, verify.stderr).toBe(0);
  });
});
