import { createRemoteJWKSet, customFetch, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { creddyJwks, verifyCreddyToken } from '../../src/verify/token.js';
import { createVerifier } from '../../src/verify/verifier.js';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker, useFakeTimers } from '../helpers/harness.js';

/**
 * Why the verifier's JWKS cache must follow the server's Cache-Control: with `jwks_max_age: 2s`
 * and `publish_ahead: 3s`, every key is published 3 s (+3 s lag) before it signs, which covers any
 * cache that keeps the set at most 2 s. The SDK's former `creddyJwks(issuer)` (jose's remote set
 * with a fixed 5-minute cacheMaxAge and a 30 s unknown-kid cooldown) kept the set regardless and
 * rejected fresh tokens after each rotation. Every token issued during five CLI rotations is
 * verified the moment it is issued by the former verifier, by `createVerifier` with its defaults,
 * by a strict `createVerifier` that practically never refetches on an unknown kid (so only
 * max-age can save it), and by the reimplemented `creddyJwks`.
 *
 * Time is fake (as in ../keys/rotation.test.ts): the broker, the CLI's `--wait`, jose's cache and
 * the SDK's cache all read it, and it moves STEP_MS at a time; between two steps three callers
 * each get a token and have it verified at once, so every cache is mid-life somewhere when a key
 * changes, and the five rotations take about 35 fake seconds instead of real ones.
 */
const KEYS = 'keys: {rotation_period: 1h, publish_ahead: 3s, jwks_max_age: 2s, clock_skew: 1s}';
const ISSUER = 'http://127.0.0.1:8400';
const ROTATIONS = 5;
const STEP_MS = 200;

describe('verifiers through key rotations (jwks_max_age 2s, publish_ahead 3s)', () => {
  let broker: TestBroker;
  let agentToken: string;

  beforeAll(async () => {
    // Everything that reads or waits on time, except setImmediate (the audit writer's batching).
    await useFakeTimers(['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval']);
    broker = await startBroker({ extra: KEYS });
    agentToken = await broker.agent('rotator', 'demo:read');
  });
  afterAll(async () => {
    vi.useRealTimers();
    await broker?.stop();
  });

  it('the max-age-honouring verifiers reject none of the fresh tokens; the fixed 5-minute cache rejects many', async () => {
    const fetches: Record<string, number> = { legacy: 0, verifier: 0, strict: 0, creddyJwks: 0 };
    const counting =
      (name: string): typeof fetch =>
      (input, init) => {
        fetches[name]!++;
        return fetch(input, init);
      };
    const legacyKeys = createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`), {
      cacheMaxAge: 5 * 60_000,
      [customFetch]: counting('legacy'),
    });
    const jwks = creddyJwks(broker.url, { fetch: counting('creddyJwks') });
    const verifier = createVerifier({ issuer: ISSUER, url: broker.url, audience: 'demo', fetch: counting('verifier') });
    const strict = createVerifier({
      issuer: ISSUER,
      url: broker.url,
      audience: 'demo',
      fetch: counting('strict'),
      jwks: { cooldownMs: 10 * 60_000 },
    });
    const verifiers: Record<string, (token: string) => Promise<unknown>> = {
      legacy: (token) => verifyCreddyToken(token, { issuer: ISSUER, audience: 'demo', keys: legacyKeys }),
      verifier: (token) => verifier.verify(token),
      strict: (token) => strict.verify(token),
      creddyJwks: (token) => verifyCreddyToken(token, { issuer: ISSUER, audience: 'demo', keys: jwks }),
    };
    const rejected: Record<string, string[]> = { legacy: [], verifier: [], strict: [], creddyJwks: [] };
    const kids = new Set<string>();
    const issueFailures: string[] = [];
    let tokens = 0;

    const caller = async (): Promise<void> => {
      const res = await issue(broker.url, agentToken, { backend: 'demo' });
      if (res.status !== 201) return void issueFailures.push(`${res.status} ${JSON.stringify(res.body)}`);
      const token = res.body.token as string;
      tokens++;
      kids.add(decodeProtectedHeader(token).kid!);
      await Promise.all(
        Object.entries(verifiers).map(([name, verify]) =>
          verify(token).catch((err: { code?: string; message?: string }) => rejected[name]!.push(`${err.code}: ${err.message}`)),
        ),
      );
    };
    /** Time moves one step; then three callers each get a token and have it verified. */
    const step = async (): Promise<void> => {
      await vi.advanceTimersByTimeAsync(STEP_MS);
      await Promise.all([caller(), caller(), caller()]);
    };
    for (let i = 0; i < ROTATIONS; i++) {
      // Waits until `next` has been published for publish_ahead + 3 s, then promotes it.
      let settled = false;
      const rotating = runCli(['keys', 'rotate', '--wait', '--json', '--config', broker.configPath], broker.env).finally(
        () => (settled = true),
      );
      while (!settled) await step();
      const rotated = await rotating;
      expect(rotated.code, rotated.stderr).toBe(0);
      expect(JSON.parse(rotated.stdout)).toMatchObject({ rotated: true });
    }
    // Tokens of the newest key, too (1.5 s).
    for (let i = 0; i < 1500 / STEP_MS; i++) await step();

    const count = (name: string) => rejected[name]!.length;
    console.log(
      `rotation verifiers: ${tokens} tokens, ${kids.size} signing keys; rejected: former creddyJwks (5 min) ${count('legacy')}, ` +
        `createVerifier ${count('verifier')}, strict createVerifier ${count('strict')}, creddyJwks now ${count('creddyJwks')}; ` +
        `JWKS requests: ${JSON.stringify(fetches)}`,
    );
    expect(issueFailures).toEqual([]);
    expect(kids.size).toBe(ROTATIONS + 1);
    expect(rejected['verifier']).toEqual([]);
    expect(rejected['strict']).toEqual([]);
    expect(rejected['creddyJwks']).toEqual([]);
    // The scenario reproduces the bug: the fixed cache rejects fresh tokens of unknown kids.
    expect(count('legacy')).toBeGreaterThan(0);
    expect(
      rejected['legacy']!.every((line) => /ERR_TOKEN_INVALID: token rejected \(no key with kid ".*" in the issuer's JWKS\)/.test(line)),
    ).toBe(true);
    // And the new cache still caches: about one request per max-age, not one per token.
    expect(fetches['strict']!).toBeLessThan(tokens / 10);
  });
});
