import { createRemoteJWKSet, customFetch, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyCreddyToken } from '../../src/verify/token.js';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker, useFakeTimers } from '../helpers/harness.js';

/**
 * The zero-downtime promise, end to end: tokens are issued continuously while keys rotate by CLI
 * and by schedule, and a verifier that caches the JWKS as long as the server allows (max-age)
 * and never refetches early checks every token the moment it is issued.
 *
 * Time is fake and moves in steps of STEP_MS: the broker, the CLI, the jose verifier's cache and
 * the server's timers (key refresh and schedule every second, `keys rotate` waiting for
 * publish_ahead) all read it, so a rotation period of 5 s takes no real 5 s. Between two steps
 * three callers each get a token and verify it at once, so the verifier's cache (1 s) is always
 * mid-life somewhere when a key changes.
 */
const KEYS = 'keys: {rotation_period: 5s, publish_ahead: 1s, jwks_max_age: 1s, clock_skew: 1s}';
const JWKS_MAX_AGE_MS = 1000;
const STEP_MS = 200;

interface Issued {
  readonly token: string;
  readonly kid: string;
}

describe('signing-key rotation under load', () => {
  let broker: TestBroker;
  let agentToken: string;
  const op = (args: string[]) => runCli([...args, '--config', broker.configPath], broker.env);

  beforeAll(async () => {
    // Everything that reads or waits on time, except setImmediate (the audit writer's batching).
    await useFakeTimers(['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval']);
    broker = await startBroker({ extra: KEYS });
    agentToken = await broker.agent('loader', 'demo:read');
  });
  afterAll(async () => {
    vi.useRealTimers();
    await broker?.stop();
  });

  it('JWKS carries Cache-Control within jwks_max_age and answers If-None-Match with 304', async () => {
    const first = await fetch(`${broker.url}/.well-known/jwks.json`);
    expect(first.status).toBe(200);
    const maxAge = Number(/max-age=(\d+)/.exec(first.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(1);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    await first.arrayBuffer();
    const again = await fetch(`${broker.url}/.well-known/jwks.json`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(again.headers.get('cache-control')).toMatch(/max-age=\d+/);
  });

  it('a caching verifier accepts every token through 5 CLI rotations and a scheduled one; revoke then rejects', async () => {
    let fetches = 0;
    const maxAges = new Set<string>();
    // A strict verifier: caches for the full jwks_max_age and refetches on an unknown kid only
    // after a 60 s cooldown, i.e. never in this test, so only publish-ahead can save it.
    const keys = createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`), {
      cacheMaxAge: JWKS_MAX_AGE_MS,
      cooldownDuration: 60_000,
      [customFetch]: async (url: string, init: RequestInit) => {
        fetches++;
        const response = await fetch(url, init);
        maxAges.add(response.headers.get('cache-control') ?? '');
        return response;
      },
    });
    const verify = (token: string) => verifyCreddyToken(token, { issuer: 'http://127.0.0.1:8400', keys, audience: 'demo' });

    const issued: Issued[] = [];
    const failures: string[] = [];
    const caller = async (): Promise<void> => {
      const res = await issue(broker.url, agentToken, { backend: 'demo' });
      if (res.status !== 201) return void failures.push(`issue ${res.status} ${JSON.stringify(res.body)}`);
      const token = res.body.token as string;
      const kid = decodeProtectedHeader(token).kid!;
      issued.push({ token, kid });
      await verify(token).catch((err: unknown) => failures.push(`${kid}: ${(err as Error).message}`));
    };
    /** Time moves one step; then three callers each get a token and verify it. */
    const step = async (): Promise<void> => {
      await vi.advanceTimersByTimeAsync(STEP_MS);
      await Promise.all([caller(), caller(), caller()]);
    };
    /** Steps until `work` (which waits on fake time) settles. */
    const stepUntil = async <T>(work: Promise<T>): Promise<T> => {
      let settled = false;
      const done = work.finally(() => (settled = true));
      while (!settled) await step();
      return done;
    };

    const manual: string[] = [];
    for (let i = 0; i < 5; i++) {
      // Unforced: --wait waits until the next key has been published for publish_ahead.
      const rotated = await stepUntil(op(['keys', 'rotate', '--wait', '--json']));
      expect(rotated.code, rotated.stderr).toBe(0);
      const body = JSON.parse(rotated.stdout) as { rotated: boolean; current: string; next: string };
      expect(body.current).not.toBe(body.next);
      manual.push(body.current);
    }
    // Then let the schedule rotate on its own.
    const activations = () => broker.services.store.audit.query({ type: 'key.activated', limit: 100 });
    while (!(await activations()).some((row) => row.actor === 'schedule')) await step();
    // Keep issuing briefly under the newest key too.
    for (let i = 0; i < 8; i++) await step();

    const rows = await activations();
    const kidsSigning = new Set(issued.map((t) => t.kid));
    expect(failures).toEqual([]);
    // The schedule may win a race against a CLI run; that run then reports `rotated: false`.
    expect(rows.filter((r) => r.actor === 'cli').length).toBeGreaterThanOrEqual(3);
    expect(rows.filter((r) => r.actor === 'schedule').length).toBeGreaterThanOrEqual(1);
    expect(rows.length).toBeGreaterThanOrEqual(6);
    expect(kidsSigning.size).toBeGreaterThanOrEqual(6);
    // The verifier really cached: far fewer fetches than tokens, and never a max-age above 1 s.
    expect(fetches).toBeLessThan(issued.length / 4);
    expect([...maxAges].every((h) => /^public, max-age=[01]$/.test(h))).toBe(true);

    // The story in `keys list`: one current, one next, the rest retired with tokens and a removal plan.
    const listed = JSON.parse((await op(['keys', 'list', '--json'])).stdout) as Array<Record<string, any>>;
    expect(listed.filter((k) => k.state === 'current')).toHaveLength(1);
    expect(listed.filter((k) => k.state === 'next')).toHaveLength(1);
    const retired = listed.filter((k) => k.state === 'retired');
    expect(retired.length).toBeGreaterThanOrEqual(6);
    expect(retired.every((k) => k.published && k.planned_removal && k.retired_at)).toBe(true);
    expect(listed.find((k) => k.state === 'next')!.planned_activation).toBeTruthy();
    expect(listed.find((k) => k.state === 'current')!.planned_retirement).toBeTruthy();

    // Revoke a retired key that signed tokens; `creddy verify` rejects them at once.
    const victim = retired.find((k) => k.tokens_signed > 0 && manual.includes(k.kid))!;
    const victimToken = issued.find((t) => t.kid === victim.kid)!.token;
    const survivor = issued.find((t) => t.kid !== victim.kid && retired.some((k) => k.kid === t.kid))!.token;
    const revoked = await op(['keys', 'revoke', victim.kid, '--json']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ kid: victim.kid, was: 'retired', already_revoked: false });
    const env = { CREDDY_URL: broker.url };
    const rejected = await runCli(['verify', victimToken, '--json'], env);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/ERR_TOKEN_(REVOKED|INVALID)/);
    const accepted = await runCli(['verify', survivor, '--json'], env);
    expect(accepted.code, accepted.stderr).toBe(0);

    // The caching verifier rejects them as soon as its cache has expired after the server (at its
    // next key refresh) dropped the key.
    const published = async () =>
      ((await (await fetch(`${broker.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys;
    while ((await published()).some((k) => k.kid === victim.kid)) await vi.advanceTimersByTimeAsync(STEP_MS);
    await vi.advanceTimersByTimeAsync(JWKS_MAX_AGE_MS + STEP_MS);
    await expect(verify(victimToken)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    await expect(verify(survivor)).resolves.toMatchObject({ sub: 'loader' });
    // Unknown kids: exit 1 with ERR_KEY_UNKNOWN.
    const unknown = await op(['keys', 'revoke', 'no-such-kid']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('ERR_KEY_UNKNOWN');

    // The audit log tells each step.
    for (const type of ['key.created', 'key.activated', 'key.retired', 'key.revoked'] as const) {
      expect((await broker.services.store.audit.query({ type, limit: 1 })).length).toBe(1);
    }
    const revokedRow = (await broker.services.store.audit.query({ type: 'key.revoked', limit: 10 }))[0]!;
    expect(revokedRow).toMatchObject({ actor: 'cli', kid: victim.kid });
  });
});
