/**
 * Key-pair agents from the CLI: `agent create --generate-key | --public-key`, `agent key
 * add|list|remove`, the caller commands authenticating with CREDDY_AGENT_KEY_FILE +
 * CREDDY_AGENT, and `creddy verify` reporting a DPoP-bound token as such.
 */
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentSigner, generateAgentKey } from '../../src/client/agent-key.js';
import { createDpopProof } from '../../src/client/proofs.js';
import { runCli } from '../helpers/cli.js';
import { eventually, startBroker, type TestBroker } from '../helpers/harness.js';

let broker: TestBroker;
const operator = (...args: string[]) => runCli([...args, '--config', broker.configPath], broker.env);
const file = (name: string) => join(broker.dir, name);
// The broker is reached at its port, not at its issuer (http://127.0.0.1:8400): CREDDY_ISSUER names it.
const caller = (agent: string, keyFile: string, extra: NodeJS.ProcessEnv = {}) => ({
  CREDDY_URL: broker.url,
  CREDDY_ISSUER: broker.services.config.issuer,
  CREDDY_AGENT: agent,
  CREDDY_AGENT_KEY_FILE: keyFile,
  ...extra,
});

beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => broker?.stop());

describe('agent create with a key pair', () => {
  it('--generate-key writes a PKCS#8 PEM (0600), registers the public half, and the CLI authenticates with it', async () => {
    const path = file('gen.pem');
    const r = await operator('agent', 'create', 'gen', '--can', 'demo:read', '--generate-key', path, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toEqual({
      name: 'gen',
      id: expect.stringMatching(/^agt_/),
      keys: [expect.stringMatching(/^[A-Za-z0-9_-]{43}$/)],
      grants: ['demo:read'],
      // agents.default_ttl (90d): key-pair agents expire like bearer ones.
      expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      require_dpop: false,
      private_key_file: path,
      private_key_format: 'pem',
    });
    expect(JSON.stringify(out)).not.toMatch(/ckr_|PRIVATE/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);

    const get = await runCli(['get', 'demo'], caller('gen', path));
    expect(get.code, get.stderr).toBe(0);
    const claims = decodeJwt(get.stdout.trim());
    expect(claims).toMatchObject({ sub: 'gen', scope: 'read' });
    // The CLI hands credentials to other programs: they are bearer credentials, not DPoP-bound.
    expect(claims.cnf).toBeUndefined();
    const list = await runCli(['list', '--json'], caller('gen', path));
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as Array<{ id: string }>).map((c) => c.id)).toContain(claims.jti);
  });

  it('--generate-key FILE.json writes a private JWK; the human output names the format and prints the thumbprint', async () => {
    const path = file('gen.json');
    const r = await operator('agent', 'create', 'gen-jwk', '--can', 'demo:read', '--generate-key', path, '--require-dpop');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('created key-pair agent "gen-jwk"');
    expect(r.stderr).toContain('DPoP-bound credentials only');
    expect(r.stderr).toContain(`wrote the private key to ${path} (private JWK, mode 0600)`);
    const jwk = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', d: expect.any(String), x: expect.any(String), kid: r.stdout.trim() });
    // require_dpop holds for the CLI too: it asks for bearer credentials, which this agent may not get.
    const get = await runCli(['get', 'demo'], caller('gen-jwk', path));
    expect(get.code).toBe(1);
    expect(get.stderr).toContain('ERR_DPOP_INVALID');
  });

  it('--public-key takes an SPKI PEM or an OKP JWK, and refuses a private key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file('pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
    writeFileSync(file('key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const pem = await operator('agent', 'create', 'from-pem', '--can', 'demo:read', '--public-key', file('pub.pem'));
    expect(pem.code, pem.stderr).toBe(0);
    const get = await runCli(['get', 'demo'], caller('from-pem', file('key.pem')));
    expect(get.code, get.stderr).toBe(0);

    const other = generateKeyPairSync('ed25519');
    writeFileSync(file('pub.jwk'), JSON.stringify(other.publicKey.export({ format: 'jwk' })));
    expect((await operator('agent', 'create', 'from-jwk', '--can', 'demo:read', '--public-key', file('pub.jwk'))).code).toBe(0);

    writeFileSync(file('private.jwk'), JSON.stringify(generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })));
    for (const [path, why] of [
      [file('key.pem'), 'private key'],
      [file('private.jwk'), 'private key'],
      [file('nope.pem'), 'cannot read'],
    ] as const) {
      const r = await operator('agent', 'create', 'refused', '--can', 'demo:read', '--public-key', path);
      expect(r.code, path).toBe(2);
      expect(r.stderr).toContain(why);
    }
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' });
    writeFileSync(file('rsa.pem'), rsa);
    expect((await operator('agent', 'create', 'refused', '--can', 'demo:read', '--public-key', file('rsa.pem'))).stderr).toContain(
      'Ed25519',
    );
    // The same key cannot name two agents.
    const twice = await operator('agent', 'create', 'copycat', '--can', 'demo:read', '--public-key', file('pub.pem'));
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('already registered for agent "from-pem"');
  });

  it('never overwrites a key file, and leaves none behind when the agent cannot be created', async () => {
    writeFileSync(file('taken.pem'), 'keep me');
    const exists = await operator('agent', 'create', 'kept', '--can', 'demo:read', '--generate-key', file('taken.pem'));
    expect(exists.code).toBe(2);
    expect(exists.stderr).toContain('never overwritten');
    expect(readFileSync(file('taken.pem'), 'utf8')).toBe('keep me');
    const both = await operator(
      'agent',
      'create',
      'x',
      '--can',
      'demo:read',
      '--generate-key',
      file('a.pem'),
      '--public-key',
      file('pub.pem'),
    );
    expect(both.code).toBe(2);
    const duplicate = await operator('agent', 'create', 'gen', '--can', 'demo:read', '--generate-key', file('dup.pem'));
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('ERR_CONFLICT');
    expect(existsSync(file('dup.pem'))).toBe(false);
  });
});

describe('agent key add | list | remove', () => {
  it('rotates a key without downtime, two at most, never the last one; each change is an audit row with the thumbprint', async () => {
    const old = file('rot-old.pem');
    expect((await operator('agent', 'create', 'rot', '--can', 'demo:read', '--generate-key', old)).code).toBe(0);
    const next = file('rot-next.pem');
    const added = await operator('agent', 'key', 'add', 'rot', '--generate-key', next, '--json');
    expect(added.code, added.stderr).toBe(0);
    const { added: nextJkt, keys } = JSON.parse(added.stdout) as { added: string; keys: Array<{ jkt: string }> };
    expect(keys).toHaveLength(2);
    for (const key of [old, next]) expect((await runCli(['get', 'demo'], caller('rot', key))).code).toBe(0);

    const third = await operator('agent', 'key', 'add', 'rot', '--generate-key', file('rot-third.pem'));
    expect(third.code).toBe(1);
    expect(third.stderr).toContain('already holds 2 keys');
    expect(existsSync(file('rot-third.pem'))).toBe(false);

    const list = await operator('agent', 'key', 'list', 'rot', '--json');
    const oldJkt = (JSON.parse(list.stdout) as Array<{ jkt: string }>).map((k) => k.jkt).find((jkt) => jkt !== nextJkt)!;
    const removed = await operator('agent', 'key', 'remove', 'rot', oldJkt);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('(1 left)');
    const refused = await runCli(['get', 'demo'], caller('rot', old));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('ERR_UNAUTHENTICATED');
    expect((await runCli(['get', 'demo'], caller('rot', next))).code).toBe(0);

    const last = await operator('agent', 'key', 'remove', 'rot', nextJkt);
    expect(last.code).toBe(1);
    expect(last.stderr).toContain('last key');
    expect((await operator('agent', 'key', 'remove', 'rot', 'A'.repeat(43))).stderr).toContain('ERR_NOT_FOUND');
    expect((await operator('agent', 'key', 'add', 'nobody', '--generate-key', file('nobody.pem'))).stderr).toContain('ERR_NOT_FOUND');

    const audit = await operator('audit', 'list', '--agent', 'rot', '--json');
    const rows = (JSON.parse(audit.stdout) as Array<{ type: string; details: { jkt?: string } | null }>).filter((r) =>
      r.type.startsWith('agent.key'),
    );
    expect(rows.map((r) => [r.type, r.details?.jkt]).reverse()).toEqual([
      ['agent.key_added', nextJkt],
      ['agent.key_removed', oldJkt],
    ]);
  });
  it('takes a thumbprint that starts with - as the key to remove (one in 64 does)', async () => {
    const dashed = () => {
      for (;;) {
        const { publicKey } = generateKeyPairSync('ed25519');
        const x = publicKey.export({ format: 'jwk' }).x!;
        const jkt = createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
        if (jkt.startsWith('-')) return { jkt, pem: publicKey.export({ format: 'pem', type: 'spki' }) as string };
      }
    };
    const first = dashed();
    writeFileSync(file('dash-1.pem'), first.pem);
    expect((await operator('agent', 'create', 'dash', '--can', 'demo:read', '--public-key', file('dash-1.pem'))).code).toBe(0);
    writeFileSync(file('dash-2.pem'), dashed().pem);
    expect((await operator('agent', 'key', 'add', 'dash', '--public-key', file('dash-2.pem'))).code).toBe(0);
    const removed = await operator('agent', 'key', 'remove', 'dash', first.jkt);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`removed key ${first.jkt}`);
  });
});

describe('key-pair agents and agent records (ids, updates, names used again)', () => {
  it('grant keeps the keys, rotate-token is refused, and a revoked name is created again with its old key', async () => {
    const key = file('reuse.pem');
    const created = await operator('agent', 'create', 'reuse', '--can', 'demo:read', '--generate-key', key, '--json');
    expect(created.code, created.stderr).toBe(0);
    const first = JSON.parse(created.stdout) as { id: string; keys: string[] };

    // agent.update leaves the keys (and the log's facts about them) as they are.
    expect((await operator('agent', 'grant', 'reuse', '--can', 'demo:write')).code).toBe(0);
    expect((await runCli(['get', 'demo', '--scopes', 'write'], caller('reuse', key))).code).toBe(0);
    const rotated = await operator('agent', 'rotate-token', 'reuse');
    expect(rotated.code).toBe(2);
    expect(rotated.stderr).toContain('ERR_USAGE');
    expect(rotated.stdout).not.toMatch(/ckr_/);

    // The revoked record keeps its audit trail; the new one (its own id) takes the key again.
    expect((await operator('agent', 'revoke', 'reuse')).code).toBe(0);
    writeFileSync(file('reuse.pub.pem'), createPublicKey(readFileSync(key, 'utf8')).export({ format: 'pem', type: 'spki' }) as string);
    const again = await operator('agent', 'create', 'reuse', '--can', 'demo:read', '--public-key', file('reuse.pub.pem'), '--json');
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout) as { id: string; keys: string[] };
    expect(second.id).not.toBe(first.id);
    expect(second.keys).toEqual(first.keys);
    expect((await runCli(['get', 'demo'], caller('reuse', key))).code).toBe(0);

    const next = await operator('agent', 'key', 'add', 'reuse', '--generate-key', file('reuse-next.pem'), '--json');
    expect(next.code, next.stderr).toBe(0);
    const audit = await operator('audit', 'list', '--agent', 'reuse', '--type', 'agent.key_added', '--json');
    const [row] = JSON.parse(audit.stdout) as Array<{ details: { agent_id?: string } }>;
    expect(row?.details.agent_id).toBe(second.id);
    for (const k of [key, file('reuse-next.pem')]) expect((await runCli(['get', 'demo'], caller('reuse', k))).code).toBe(0);
    const verified = await operator('audit', 'verify');
    expect(verified.code, verified.stderr + verified.stdout).toBe(0);
  });

  it('renew gives a key-pair agent, expired or not, a new lifetime; a bearer agent renews with a new token instead', async () => {
    const key = file('renewed.pem');
    expect((await operator('agent', 'create', 'renewed', '--can', 'demo:read', '--generate-key', key, '--expires', '1s')).code).toBe(0);
    // Real time, not the server's clock: the caller's assertion is signed on the real one.
    let expired = '';
    await eventually(async () => {
      expired = (await runCli(['get', 'demo'], caller('renewed', key))).stderr;
      return expired.includes('ERR_AGENT_REVOKED');
    }, 5000);
    const renewed = await operator('agent', 'renew', 'renewed', '--expires', '30d', '--json');
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(JSON.parse(renewed.stdout)).toMatchObject({ name: 'renewed', expires_at: expect.any(String) });
    expect((await runCli(['get', 'demo'], caller('renewed', key))).code).toBe(0);
    expect((await operator('agent', 'create', 'bearer-renew', '--can', 'demo:read')).code).toBe(0);
    const bearer = await operator('agent', 'renew', 'bearer-renew');
    expect(bearer.code).toBe(2);
    expect(bearer.stderr).toContain('renew it with creddy agent rotate-token bearer-renew --expires');
  });

  it('a bearer agent takes no key: its token would stay valid and never be rotatable again', async () => {
    expect((await operator('agent', 'create', 'bearer-bot', '--can', 'demo:read')).code).toBe(0);
    const added = await operator('agent', 'key', 'add', 'bearer-bot', '--generate-key', file('bearer-bot.pem'));
    expect(added.code).toBe(1);
    expect(added.stderr).toContain('ERR_CONFLICT: agent "bearer-bot" authenticates with a bearer token');
    expect(existsSync(file('bearer-bot.pem'))).toBe(false);
    expect((await operator('agent', 'rotate-token', 'bearer-bot')).code).toBe(0);
  });
});

describe('caller commands with a key pair', () => {
  it('CREDDY_TOKEN wins over CREDDY_AGENT_KEY_FILE; a key file needs CREDDY_AGENT; a bad key file is a usage error', async () => {
    const token = await broker.agent('bearer-too', 'demo:read');
    const get = await runCli(['get', 'demo'], caller('gen', file('gen.pem'), { CREDDY_TOKEN: token }));
    expect(get.code, get.stderr).toBe(0);
    expect(decodeJwt(get.stdout.trim()).sub).toBe('bearer-too');
    const noAgent = await runCli(['get', 'demo'], { CREDDY_URL: broker.url, CREDDY_AGENT_KEY_FILE: file('gen.pem') });
    expect(noAgent.code).toBe(2);
    expect(noAgent.stderr).toContain('CREDDY_AGENT is not');
    writeFileSync(file('junk.pem'), 'not a key');
    const junk = await runCli(['get', 'demo'], caller('gen', file('junk.pem')));
    expect(junk.code).toBe(2);
    const missing = await runCli(['get', 'demo'], caller('gen', file('missing.pem')));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read');
  });

  it('the type check before credential-process and the git helper authenticates with the key pair too', async () => {
    const path = file('gen.pem');
    const before = JSON.parse((await runCli(['list', '--json'], caller('gen', path))).stdout) as unknown[];
    // It used to demand CREDDY_TOKEN; now the lookup signs its own assertion and the broker
    // answers with the backend's type, so the refusal names the real mismatch.
    const aws = await runCli(['get', 'demo', '--format', 'credential-process'], caller('gen', path));
    expect(aws.code).toBe(2);
    expect(aws.stderr).toContain('needs an aws backend; "demo" is generic (nothing was issued)');
    const git = await runCli(['git-credential', 'get', '--backend', 'demo'], caller('gen', path), 'protocol=https\nhost=github.com\n\n');
    expect(git.stderr).toContain('needs a github backend; "demo" is generic (nothing was issued)');
    const after = JSON.parse((await runCli(['list', '--json'], caller('gen', path))).stdout) as unknown[];
    expect(after).toHaveLength(before.length);
  });
});

describe('creddy verify', () => {
  it('reports a DPoP-bound token as bound to its key; a revoked one is still refused', async () => {
    const token = await broker.agent('verified', 'demo:read');
    const signer = await createAgentSigner((await generateAgentKey()).privateJwk);
    const issueBound = async () => {
      const res = await fetch(`${broker.url}/v1/credentials`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          dpop: await createDpopProof(signer, { method: 'POST', url: 'http://127.0.0.1:8400/v1/credentials' }),
        },
        body: JSON.stringify({ backend: 'demo' }),
      });
      return (await res.json()) as { id: string; token: string };
    };
    const bound = await issueBound();
    const text = await runCli(['verify', bound.token], { CREDDY_URL: broker.url });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`valid token ${bound.id} (DPoP-bound to key ${signer.jkt}`);
    const json = await runCli(['verify', bound.token, '--json', '--audience', 'demo'], { CREDDY_URL: broker.url });
    expect(JSON.parse(json.stdout)).toMatchObject({ valid: true, dpop_bound: true, jkt: signer.jkt, claims: { cnf: { jkt: signer.jkt } } });
    const wrongAudience = await runCli(['verify', bound.token, '--audience', 'elsewhere'], { CREDDY_URL: broker.url });
    expect(wrongAudience.stderr).toContain('ERR_TOKEN_INVALID');

    const revoked = await issueBound();
    await fetch(`${broker.url}/v1/credentials/${revoked.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    const refused = await runCli(['verify', revoked.token], { CREDDY_URL: broker.url });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('ERR_TOKEN_REVOKED');
  });
});
