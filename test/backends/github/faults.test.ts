/**
 * Fault injection at the fake GitHub: transient failures are retried (bounded), the rest fail
 * with a clear 502 naming GitHub's status; nothing is half-issued and every failure is audited.
 *
 * Timeouts are fake: per-attempt timeouts, backoff, Retry-After and the fake's slow answers all
 * run on setTimeout, which each mint drives (onFakeTime), so a 15 s stall costs no real 15 s.
 *
 * onFakeTime moves the clock 20 ms per turn of its loop, and its loop keeps turning while the
 * broker and the fake do real work (signing and checking the App JWT, loopback I/O). A per-attempt
 * timeout of 1 s left 50 turns for that work: on a loaded machine an attempt could time out before
 * the fake answered, and the abandoned request then took the next test's fault. At 5 s it has 250.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { issue, lastOutcome as lastOutcomeOf, onFakeTime, useFakeTimers } from '../../helpers/harness.js';
import { type GitHubFixture, startGitHubFixture } from './fixture.js';

/** The backend's per-attempt timeout here (fake time); the slow faults below are well past it. */
const REQUEST_TIMEOUT = '5s';

let f: GitHubFixture;
let token: string;
beforeAll(async () => {
  f = await startGitHubFixture({ requestTimeout: REQUEST_TIMEOUT });
  token = await f.broker.agent('ci-bot', 'gh:contents:read');
  // Warm the installation lookup so each test counts only token requests.
  expect((await issue(f.broker.url, token, { backend: 'gh', scopes: ['contents:read'] })).status).toBe(201);
  await useFakeTimers(['setTimeout', 'clearTimeout']);
});
afterAll(async () => {
  vi.useRealTimers();
  await f.stop();
});
beforeEach(() => {
  f.gh.faults.length = 0;
});

const mint = () => onFakeTime(issue(f.broker.url, token, { backend: 'gh', scopes: ['contents:read'] }));

/** Audit rows of the last issuance attempt and whether a credential row exists for it. */
const lastOutcome = () => lastOutcomeOf(f.broker, 'ci-bot');

describe('github backend: retried faults', () => {
  it.each([
    ['a 500', [{ status: 500 as const }]],
    ['a 500 and a 503', [{ status: 500 as const }, { status: 503 as const }]],
    ['a 403 secondary rate limit with Retry-After: 1', [{ status: 403 as const, secondaryRateLimit: true as const, retryAfter: 1 }]],
  ])('recovers from %s', async (_name, faults) => {
    const before = f.gh.requests.length;
    f.gh.faults.push(...faults);
    const res = await mint();
    expect(res.status).toBe(201);
    expect(f.gh.requests.length - before).toBe(faults.length + 1);
    expect(f.gh.tokens.get(res.body.credential.token)?.revoked).toBe(false);
  });
});

describe('github backend: failures', () => {
  it("gives up after bounded retries with a 502 that names GitHub's status, and audits it", async () => {
    const before = f.gh.requests.length;
    f.gh.faults.push({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
    const res = await mint();
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('ERR_BACKEND_UPSTREAM');
    expect(res.body.error.message).toMatch(/GitHub answered 503/);
    expect(res.body.token).toBeUndefined();
    expect(f.gh.requests.length - before).toBe(4);
    const { row, credential } = await lastOutcome();
    expect(row).toMatchObject({ type: 'credential.denied', outcome: 'error', reason: 'ERR_BACKEND_UPSTREAM' });
    expect(credential).toBeUndefined(); // nothing half-issued
  });

  it('does not wait out a Retry-After longer than the deadline allows', async () => {
    const before = f.gh.requests.length;
    f.gh.faults.push({ status: 403, secondaryRateLimit: true, retryAfter: 60 });
    // Not on fake time: nothing here waits on a timer, and moving the fake clock would only race
    // the request. onFakeTime moves it 20 ms per turn, so on a loaded machine the request_timeout
    // could fire before the fake answered; the retry then took no fault (the
    // abandoned request shifted the 403 when it got there) and was answered 201.
    const res = await issue(f.broker.url, token, { backend: 'gh', scopes: ['contents:read'] });
    expect(res.status).toBe(502);
    expect(res.body.error.message).toMatch(/403.*retry after 60s/);
    expect(f.gh.requests.length - before).toBe(1);
  });

  it("does not retry a refusal: GitHub's 422 is a 502 at once, with no token in the message", async () => {
    // No ceiling here, so creddy passes acme/nope on; GitHub refuses the unknown repository with a 422.
    const before = f.gh.requests.length;
    const res = await issue(f.broker.url, token, { backend: 'gh', scopes: ['contents:read'], repositories: ['acme/nope'] });
    expect(res.status).toBe(502);
    expect(res.body.error.message).toMatch(/GitHub answered 422/);
    expect(f.gh.requests.length - before).toBe(1);
    expect(res.body.error.message).not.toMatch(/gh[sp]_/);
  });

  it("redacts a token in GitHub's message before it cuts the message, so none of it is kept", async () => {
    // GitHub's message is cut to 200 characters; the token starts 11 before the cut, too short
    // there to look like a token, so cutting first kept `ghs_` and 7 of its characters.
    const leaked = `ghs_${'Ab3'.repeat(12)}`;
    f.gh.faults.push({ status: 422, message: `${'x'.repeat(188)} ${leaked} rest` });
    const res = await mint();
    expect(res.status).toBe(502);
    expect(res.body.error.message).toContain(`GitHub answered 422: ${'x'.repeat(188)} [REDACTED]`);
    expect(res.body.error.message).not.toContain('ghs_');
    const { row } = await lastOutcome();
    expect(JSON.stringify(row)).not.toContain('ghs_');
  });
});

/**
 * `POST /app/installations/{id}/access_tokens` makes a token each time GitHub acts on it. When an
 * attempt's answer is lost after the request went out, GitHub may have made a token creddy never
 * received: a retry would make a second one and leave the first live (up to an hour) with nothing
 * in creddy's audit log. So such an attempt is not retried, and its row says a token may exist.
 * The fake counts what it made; every token must be one creddy issued or one its audit log names.
 */
describe('github backend: an answer lost after the request went out', () => {
  /** Tokens the fake made since `before`. */
  const madeSince = (before: ReadonlySet<string>) => [...f.gh.tokens.keys()].filter((t) => !before.has(t));

  it.each([
    [
      'the connection is reset after GitHub made the token',
      { dropAfterMint: true as const },
      /GitHub closed the connection without an answer/,
    ],
    ['a 201 whose body breaks off', { malformed: true as const }, /malformed response \(201\)/],
    // Far beyond the 5 s request_timeout, so even a loaded machine cannot let the slow answer win.
    ['an answer later than request_timeout', { delayMs: 15_000 }, /did not answer in time/],
  ])('%s: not retried, so one token, and the audit row says it may exist', async (_name, fault, why) => {
    const before = new Set(f.gh.tokens.keys());
    const requests = f.gh.requests.length;
    f.gh.faults.push(fault);
    const res = await mint();
    // The slow fault's answer comes after creddy gave up: let the fake finish and make its token.
    await vi.advanceTimersByTimeAsync(15_000);

    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('ERR_BACKEND_UPSTREAM');
    expect(res.body.error.message).toMatch(why);
    expect(res.body.error.message).toMatch(/not retried.*may have made a token/);
    expect(res.body.error.details).toMatchObject({ upstream: 'github', downstream_may_exist: true, upstream_attempts: 1 });
    expect(f.gh.requests.length - requests).toBe(1);

    const made = madeSince(before);
    expect(made).toHaveLength(1);
    const { row, credential } = await lastOutcome();
    expect(credential).toBeUndefined();
    expect(row).toMatchObject({
      type: 'credential.denied',
      outcome: 'error',
      reason: 'ERR_BACKEND_UPSTREAM',
      details: { downstream_may_exist: true, upstream_attempts: 1 },
    });
    // Recorded, never disclosed: not in the row, not in the answer.
    expect(JSON.stringify(row)).not.toContain('ghs_');
    expect(JSON.stringify(res.body)).not.toContain('ghs_');
  });

  it('every token the fake made is one creddy issued or one an audit row says may exist', async () => {
    const before = new Set(f.gh.tokens.keys());
    f.gh.faults.push({ status: 503 }, { dropAfterMint: true }, { malformed: true }, { status: 500 });
    const results = [await mint(), await mint(), await mint()];
    expect(results.map((r) => r.status)).toEqual([502, 502, 201]);

    const made = madeSince(before);
    // One row per mint: these three are the last of the agent's.
    const recent = await f.broker.services.store.audit.query({ agent: 'ci-bot', limit: results.length });
    const issued = recent.filter((r) => r.type === 'credential.issued');
    const mayExist = recent.filter((r) => r.details?.['downstream_may_exist'] === true);
    expect(made).toHaveLength(3);
    expect(issued.length + mayExist.length).toBe(made.length);
    expect(made).toContain(results[2]!.body.credential.token);
  });

  it('a retried 500 or 503 is named in the issued row, with the number of attempts', async () => {
    f.gh.faults.push({ status: 503 });
    const res = await mint();
    expect(res.status).toBe(201);
    const { row } = await lastOutcome();
    expect(row).toMatchObject({
      type: 'credential.issued',
      details: { upstream_attempts: 2, upstream_failures: [{ status: 503, problem: 'Service Unavailable' }] },
    });
  });

  it("a gateway's 502 is not retried either: the server behind it may have made the token", async () => {
    const requests = f.gh.requests.length;
    f.gh.faults.push({ status: 502 });
    const res = await mint();
    expect(res.status).toBe(502);
    expect(res.body.error.message).toMatch(/GitHub answered 502: Bad Gateway; not retried/);
    expect(res.body.error.details).toMatchObject({ downstream_may_exist: true, upstream_attempts: 1 });
    expect(f.gh.requests.length - requests).toBe(1);
    expect((await lastOutcome()).row?.details).toMatchObject({ downstream_may_exist: true });
  });

  it('a first attempt that succeeds adds nothing to the row', async () => {
    const res = await mint();
    expect(res.status).toBe(201);
    const { row } = await lastOutcome();
    expect(row?.details).not.toHaveProperty('upstream_attempts');
    expect(row?.details).not.toHaveProperty('upstream_failures');
  });
});
