/**
 * A session policy too large for STS. STS takes at most 2,048 characters of session policy, and
 * refuses a request whose policy and session tags pack (compressed, in a format it does not
 * publish) past its limit with `400 PackedPolicyTooLarge`. Both are the request's doing — it asked
 * for more scopes than fit — so the caller gets a 4xx that says what to do, audited as `denied`.
 * creddy knows the plaintext size before calling and refuses then; the packed size only STS knows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionPolicy } from '../../../src/backends/aws/policy.js';
import { issue, lastOutcome } from '../../helpers/harness.js';
import { type AwsFixture, startAwsFixture } from './fixture.js';

let f: AwsFixture;
let token: string;
beforeAll(async () => {
  f = await startAwsFixture();
  token = await f.broker.agent('wide-bot', 'aws:s3:Get*');
});
afterAll(() => f.stop());

/** `count` distinct s3:Get… actions whose session policy (on the fixture's `*`) is `chars` long. */
function scopesForPolicyOf(chars: number, count = 20): string[] {
  const scopes = Array.from({ length: count }, (_, i) => `s3:Get${String.fromCharCode(65 + i)}`);
  let missing = chars - sessionPolicy(scopes, ['*']).length;
  for (let i = 0; missing > 0; i = (i + 1) % count) {
    const add = Math.min(missing, 120 - scopes[i]!.length);
    scopes[i] += 'x'.repeat(add);
    missing -= add;
  }
  expect(sessionPolicy(scopes, ['*'])).toHaveLength(chars);
  return scopes;
}

const post = (scopes: string[]) => issue(f.broker.url, token, { backend: 'aws', scopes });

describe('aws backend: a session policy too large for STS', () => {
  it('is refused before STS is called when its text is over 2,048 characters: a 400 that says to ask for fewer scopes', async () => {
    const calls = f.sts.calls.length;
    const rejected = f.sts.rejected.length;
    const scopes = scopesForPolicyOf(2049);
    const res = await post(scopes);

    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_SCOPES_TOO_LARGE');
    expect(res.body.error.message).toMatch(/2049 characters.*at most 2048.*fewer scopes/);
    expect(res.body.error.details).toMatchObject({ scopes: scopes.length, policy_chars: 2049, max_policy_chars: 2048 });
    expect(f.sts.calls.length).toBe(calls);
    expect(f.sts.rejected.length).toBe(rejected); // nothing reached STS

    const { row, credential } = await lastOutcome(f.broker, 'wide-bot');
    expect(row).toMatchObject({ type: 'credential.denied', outcome: 'denied', reason: 'ERR_SCOPES_TOO_LARGE' });
    expect(credential).toBeUndefined();
  });

  it("maps STS's PackedPolicyTooLarge (a policy that fits as text, not once packed with the tags) to the same 400, not retried", async () => {
    const calls = f.sts.calls.length;
    const rejected = f.sts.rejected.length;
    // At the text limit: creddy sends it; with the session tags it packs past the fake's limit.
    const res = await post(scopesForPolicyOf(2048));

    expect(f.sts.rejected.slice(rejected).map((r) => r.code)).toEqual(['PackedPolicyTooLarge']);
    expect(f.sts.calls.length).toBe(calls);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_SCOPES_TOO_LARGE');
    expect(res.body.error.message).toMatch(/PackedPolicyTooLarge.*fewer scopes/);
    expect(res.body.error.message).not.toMatch(/exceeds the limit/); // STS's own words stay out
    expect(res.body.error.details).toMatchObject({ upstream: 'aws-sts', upstream_status: 400 });

    const { row, credential } = await lastOutcome(f.broker, 'wide-bot');
    expect(row).toMatchObject({ type: 'credential.denied', outcome: 'denied', reason: 'ERR_SCOPES_TOO_LARGE' });
    expect(credential).toBeUndefined();
  });

  it('still issues when the policy fits', async () => {
    const res = await post(scopesForPolicyOf(1500));
    expect(res.status).toBe(201);
    expect(res.body.credential.type).toBe('aws_sts_session');
  });
});
