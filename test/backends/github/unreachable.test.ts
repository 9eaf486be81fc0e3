/**
 * An unreachable upstream (issue 13): the caller gets a 502 that names GitHub, and the cause —
 * the network error — is in the server log under the request id and in the audit row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue } from '../../helpers/harness.js';
import { type GitHubFixture, startGitHubFixture } from './fixture.js';

describe('github backend: upstream unreachable', () => {
  let f: GitHubFixture;
  let token: string;
  beforeAll(async () => {
    f = await startGitHubFixture();
    token = await f.broker.agent('ci-bot', 'gh:contents:read');
    await f.gh.close(); // nothing listens on the fake's port any more
  });
  afterAll(() => f.broker.stop());

  it('502 for the caller; the network reason in the log under the request id and in the audit row', async () => {
    const res = await issue(f.broker.url, token, { backend: 'gh', scopes: ['contents:read'] });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('ERR_BACKEND_UPSTREAM');
    // A connection never made cannot have made a token: retried, unlike a lost answer (faults.test.ts).
    expect(res.body.error.message).toMatch(/GitHub could not be reached after 4 attempts/);
    expect(res.body.error.details).toMatchObject({ upstream_attempts: 4 });
    expect(res.body.error.details).not.toHaveProperty('downstream_may_exist');
    expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED/); // the reason is for operators

    const requestId = res.body.error.request_id as string;
    const line = f.broker.logLines.find((l) => l.includes(requestId));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: 'error', code: 'ERR_BACKEND_UPSTREAM' });
    expect(line).toMatch(/ECONNREFUSED/);

    const [row] = await f.broker.services.store.audit.query({ type: 'credential.denied', agent: 'ci-bot', limit: 1 });
    expect(row).toMatchObject({ outcome: 'error', reason: 'ERR_BACKEND_UPSTREAM', requestId });
    expect(row?.details?.['error']).toMatch(/could not be reached.*ECONNREFUSED/);
    expect(row?.details?.['upstream']).toBe('github');
  });
});
