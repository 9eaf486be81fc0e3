/**
 * The CLI side of federation through the built binary: `creddy get` finds an ID token by itself
 * (CREDDY_OIDC_TOKEN[_FILE], GitHub Actions' token service; CREDDY_TOKEN wins), `creddy
 * federation explain` judges a token rule by rule, `creddy audit list --rule/--run-id` finds a run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agents/create.js';
import { type FakeOidcIssuer, startFakeOidcIssuer } from '../fakes/oidc-issuer.js';
import { BIN, runCli, runProcess } from '../helpers/cli.js';
import { AUDIENCE, baseYaml, type FederationBroker, rulesYaml, startFederationBroker } from './fixture.js';

let gha: FakeOidcIssuer;
let k8s: FakeOidcIssuer;
let broker: FederationBroker;
let tokenFile: string;

beforeAll(async () => {
  gha = await startFakeOidcIssuer();
  k8s = await startFakeOidcIssuer();
  broker = await startFederationBroker((dataDir) => baseYaml(dataDir) + rulesYaml(gha.url, k8s.url));
  tokenFile = join(broker.dir, 'id-token');
});
afterAll(async () => {
  await broker.stop();
  await gha.close();
  await k8s.close();
});

const ghaToken = (overrides: Record<string, unknown> = {}) => gha.sign(gha.githubClaims(AUDIENCE, overrides));

describe('creddy get with an OIDC ID token', () => {
  it('reads CREDDY_OIDC_TOKEN_FILE', async () => {
    writeFileSync(tokenFile, `${ghaToken()}\n`);
    const r = await runCli(['get', 'demo', '--scopes', 'read'], { CREDDY_URL: broker.url, CREDDY_OIDC_TOKEN_FILE: tokenFile });
    expect(r.code, r.stderr).toBe(0);
    expect(decodeJwt(r.stdout.trim()).sub).toBe('gha:my-org/infra@refs/heads/main');
  });

  it('reads CREDDY_OIDC_TOKEN, and exec revokes with the same identity', async () => {
    const env = { CREDDY_URL: broker.url, CREDDY_OIDC_TOKEN: ghaToken() };
    const r = await runCli(['exec', 'demo', '--', process.execPath, '-e', 'console.log(process.env.CREDDY_CREDENTIAL_ID)'], env);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect((await broker.services.store.credentials.get(id))?.revokedAt).not.toBeNull();
  });

  it("asks GitHub Actions' token service for the broker's issuer as audience", async () => {
    const env = {
      CREDDY_URL: broker.url,
      // Reached at its port, not at its issuer: the issuer is configured (test/client/issuer.test.ts).
      CREDDY_ISSUER: AUDIENCE,
      ACTIONS_ID_TOKEN_REQUEST_URL: gha.ghaRequestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: gha.ghaRequestToken,
    };
    const r = await runCli(['get', 'demo', '--format', 'json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).scopes).toEqual(['read']);
    expect(gha.ghaAudiences.at(-1)).toBe(AUDIENCE);

    // CREDDY_OIDC_AUDIENCE picks another: the single_use rule's.
    const once = await runCli(['get', 'demo'], { ...env, CREDDY_OIDC_AUDIENCE: 'https://once.example' });
    expect(once.code, once.stderr).toBe(0);
    expect(decodeJwt(once.stdout.trim()).sub).toBe('once:my-org/infra');
    expect(gha.ghaAudiences.at(-1)).toBe('https://once.example');
  });

  it("the bin's get asks the token service over node:http, never loading undici (the global fetch)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'creddy-gha-'));
    try {
      const log = join(dir, 'builtins.log');
      const atExit = `process.on('exit', () => process.getBuiltinModule('node:fs').writeFileSync(${JSON.stringify(log)}, process.moduleLoadList.join('\\n')));`;
      const r = await runProcess(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(atExit)}`, BIN, 'get', 'demo'], {
        PATH: process.env['PATH'],
        CREDDY_URL: broker.url,
        CREDDY_ISSUER: AUDIENCE,
        ACTIONS_ID_TOKEN_REQUEST_URL: gha.ghaRequestUrl,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: gha.ghaRequestToken,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('.')).toHaveLength(3);
      expect(gha.ghaAudiences.at(-1)).toBe(AUDIENCE);
      expect(
        readFileSync(log, 'utf8')
          .split('\n')
          .filter((m) => m.includes('undici')),
      ).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('explains a refused request token without printing it', async () => {
    const r = await runCli(['get', 'demo'], {
      CREDDY_URL: broker.url,
      CREDDY_ISSUER: AUDIENCE,
      ACTIONS_ID_TOKEN_REQUEST_URL: gha.ghaRequestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'wrong-request-token',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERR_UNAUTHENTICATED: GitHub Actions refused an ID token \(HTTP 401\).*id-token: write/);
    expect(r.stderr).not.toContain('wrong-request-token');
  });

  it('CREDDY_TOKEN wins over any ID token source', async () => {
    const { token } = await createAgent(broker.services, {
      name: 'ci-bot',
      grants: [{ backend: 'demo', scope: 'read' }],
      ttlSeconds: null,
      actor: 'cli',
    });
    const before = gha.hits.ghaToken;
    const r = await runCli(['get', 'demo'], {
      CREDDY_URL: broker.url,
      CREDDY_TOKEN: token,
      CREDDY_OIDC_TOKEN_FILE: tokenFile,
      ACTIONS_ID_TOKEN_REQUEST_URL: gha.ghaRequestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: gha.ghaRequestToken,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(decodeJwt(r.stdout.trim()).sub).toBe('ci-bot');
    expect(gha.hits.ghaToken).toBe(before);
  });

  it('says where a token could come from when there is none, and refuses a file that holds no JWT', async () => {
    const none = await runCli(['get', 'demo'], { CREDDY_URL: broker.url });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/CREDDY_TOKEN is not set.*CREDDY_OIDC_TOKEN_FILE/);
    writeFileSync(join(broker.dir, 'junk'), 'not a token');
    const junk = await runCli(['get', 'demo'], { CREDDY_URL: broker.url, CREDDY_OIDC_TOKEN_FILE: join(broker.dir, 'junk') });
    expect(junk.code).toBe(2);
    expect(junk.stderr).toMatch(/CREDDY_OIDC_TOKEN_FILE does not hold a JWT/);
  });
});

describe('creddy federation explain', () => {
  const explain = (args: string[], input?: string) => runCli(['federation', 'explain', '--config', broker.configPath, ...args], {}, input);

  it('shows every rule condition by condition, the selected rule and its grants (--json)', async () => {
    writeFileSync(tokenFile, ghaToken());
    const r = await explain(['--token', tokenFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e).toMatchObject({ selected: 'gha-deploy', would_accept: true, signature: { status: 'verified' } });
    const rule = e.rules.find((x: { name: string }) => x.name === 'gha-deploy');
    expect(rule.conditions).toContainEqual({ claim: 'repository', expected: ['my-org/*'], actual: 'my-org/infra', matched: true });
    expect(rule.subject).toBe('gha:my-org/infra@refs/heads/main');
    expect(rule.grants).toContainEqual({ backend: 'demo', scope: 'read', max_ttl: 600 });
    const once = e.rules.find((x: { name: string }) => x.name === 'gha-once');
    expect(once.conditions).toContainEqual(expect.objectContaining({ claim: 'aud', matched: false }));
  });

  it('names the failing claim in text, reading the token from stdin; a refusal exits 1', async () => {
    const r = await explain(['--token', '-'], ghaToken({ ref: 'refs/heads/feature' }));
    // A script tests the exit code: 1 when the token would be refused, 0 for a match.
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/rule gha-deploy: no match/);
    expect(r.stdout).toMatch(/ref\s+NOT matched\s+want refs\/heads\/main\s+got "refs\/heads\/feature"/);
    expect(r.stdout).toMatch(/signature VERIFIED/);
    expect(r.stdout).toMatch(/refused: no rule matches/);
  });

  it('exits 1 for a refusal with --json too, and for a token whose signature checks fail (expired)', async () => {
    const unmatched = await explain(['--token', '-', '--json'], ghaToken({ ref: 'refs/heads/feature' }));
    expect(unmatched.code, unmatched.stderr).toBe(1);
    expect(JSON.parse(unmatched.stdout)).toMatchObject({ selected: null, would_accept: false });
    const expired = gha.sign(gha.githubClaims(AUDIENCE, {}, Date.now() - 2 * 3600_000));
    const r = await explain(['--token', '-'], expired);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/signature INVALID/);
    expect(r.stdout).toMatch(/^refused: /m);
  });

  it('says so when the signature could not be verified (issuer unreachable)', async () => {
    writeFileSync(tokenFile, ghaToken());
    gha.setDown(true);
    try {
      const r = await explain(['--token', tokenFile]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/signature UNVERIFIED: could not fetch the issuer's keys/);
      expect(r.stdout).toMatch(/would match rule gha-deploy .* but the signature was not verified here/);
    } finally {
      gha.setDown(false);
    }
  });

  it('refuses what is not a JWT as a usage error', async () => {
    const r = await explain(['--token', '-'], 'hello');
    expect(r.code).toBe(2);
  });
});

describe('creddy audit list --rule / --run-id', () => {
  it('answers "which CI run got this credential" in one query', async () => {
    writeFileSync(tokenFile, ghaToken({ run_id: '777001' }));
    const got = await runCli(['get', 'demo', '--format', 'json'], { CREDDY_URL: broker.url, CREDDY_OIDC_TOKEN_FILE: tokenFile });
    expect(got.code, got.stderr).toBe(0);
    const r = await runCli(
      ['audit', 'list', '--rule', 'gha-deploy', '--run-id', '777001', '--json', '--config', broker.configPath],
      broker.env,
    );
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: 'credential.issued', jti: JSON.parse(got.stdout).id, agent: 'gha:my-org/infra@refs/heads/main' });
    expect(rows[0].details.federation).toMatchObject({ rule: 'gha-deploy', run_id: '777001', claims: { workflow: 'deploy' } });
  });
});
