/**
 * Fault injection at the fake STS: the SDK retries throttling, 5xx and timeouts within bounds;
 * what still fails is a clear, audited 502 and no credential.
 *
 * Timeouts are fake: the SDK's request timeout and retry backoff and the fake's slow answers all
 * run on setTimeout, which each mint drives (onFakeTime), so a 12 s stall costs no real 12 s.
 * The per-attempt timeout is 5 s, not the fixture's 1 s: onFakeTime moves the clock 20 ms per turn
 * of its loop while the SDK and the fake do real work (signing, SigV4 checks, loopback I/O), and 1 s
 * left 50 turns for it — too few on a loaded machine (test/backends/github/faults.test.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { issue, lastOutcome as lastOutcomeOf, onFakeTime, useFakeTimers } from '../../helpers/harness.js';
import { type AwsFixture, startAwsFixture } from './fixture.js';

/** The backend's per-attempt timeout here (fake time); the slow faults below are well past it. */
const REQUEST_TIMEOUT = '5s';

let f: AwsFixture;
let token: string;
beforeAll(async () => {
  f = await startAwsFixture({ requestTimeout: REQUEST_TIMEOUT });
  token = await f.broker.agent('ci-bot', 'aws:s3:GetObject');
  await useFakeTimers(['setTimeout', 'clearTimeout']);
});
afterAll(async () => {
  vi.useRealTimers();
  await f.stop();
});
beforeEach(() => {
  f.sts.faults.length = 0;
});

const mint = () => onFakeTime(issue(f.broker.url, token, { backend: 'aws', scopes: ['s3:GetObject'] }));

const lastOutcome = () => lastOutcomeOf(f.broker, 'ci-bot');

describe('aws backend: retried faults', () => {
  it.each([
    ['a 500', [{ status: 500 as const }]],
    ['a 503 and a throttle', [{ status: 503 as const }, { throttle: true as const }]],
    ['a response slower than request_timeout', [{ delayMs: 12_000 }]],
  ])('recovers from %s', async (_name, faults) => {
    const before = f.sts.calls.length;
    f.sts.faults.push(...faults);
    const res = await mint();
    expect(res.status).toBe(201);
    expect(f.sts.faults).toEqual([]);
    expect(f.sts.calls.length - before).toBe(1);
  });
});

describe('aws backend: failures', () => {
  it("gives up after the SDK's bounded retries with a 502 naming STS's status, audited, nothing issued", async () => {
    f.sts.faults.push({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
    const res = await mint();
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('ERR_BACKEND_UPSTREAM');
    expect(res.body.error.message).toMatch(/AWS STS answered 503 ServiceUnavailable after 3 attempts/);
    expect(f.sts.faults).toHaveLength(1); // three attempts, no more
    expect(res.body.token).toBeUndefined();
    const { row, credential } = await lastOutcome();
    expect(row).toMatchObject({ type: 'credential.denied', outcome: 'error', reason: 'ERR_BACKEND_UPSTREAM' });
    expect(credential).toBeUndefined();
  });

  it('reports persistent throttling', async () => {
    f.sts.faults.push({ throttle: true }, { throttle: true }, { throttle: true });
    const res = await mint();
    expect(res.status).toBe(502);
    expect(res.body.error.message).toMatch(/400 Throttling/);
  });

  it('reports a malformed response clearly', async () => {
    f.sts.faults.push({ malformed: true }, { malformed: true }, { malformed: true });
    const res = await mint();
    expect(res.status).toBe(502);
    expect(res.body.error.message).toMatch(/malformed response/);
    expect((await lastOutcome()).row).toMatchObject({ outcome: 'error', reason: 'ERR_BACKEND_UPSTREAM' });
  });

  it('reports timeouts clearly', async () => {
    f.sts.faults.push({ delayMs: 12_000 }, { delayMs: 12_000 }, { delayMs: 12_000 });
    const res = await mint();
    expect(res.status).toBe(502);
    expect(res.body.error.message).toBe('AWS STS did not answer in time after 3 attempts');
  });

  it("does not retry a refusal (AccessDenied) and keeps STS's message out of the response", async () => {
    const g = await startAwsFixture({ externalId: 'required-but-not-configured', requestTimeout: REQUEST_TIMEOUT });
    try {
      const t = await g.broker.agent('a', 'aws:s3:GetObject');
      const res = await onFakeTime(issue(g.broker.url, t, { backend: 'aws', scopes: ['s3:GetObject'] }));
      expect(res.status).toBe(502);
      expect(res.body.error.message).toBe('AWS STS answered 403 AccessDenied after 1 attempt');
      expect(g.sts.rejected).toHaveLength(1);
    } finally {
      await g.stop();
    }
  });
});
