/**
 * A caller's string reaches the audit row (a denied scope, metadata, the path of a refused
 * request). Rows commit in groups, so a string one store cannot hold would fail every request of
 * its group: on PostgreSQL a NUL did (text refuses it, and the audit indexes cast `details` to
 * jsonb, which refuses `\u0000`), so one agent — or anyone, through a refused request's path —
 * could fail everyone's issuance with 503. The writer stores U+FFFD instead (audit/writer.ts
 * wellFormed), on both stores, and the chain verifies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { type FreshDatabase, migratedDatabase } from '../helpers/pg.js';

describe.each(['sqlite', 'postgres'] as const)('hostile strings in audited requests (%s)', (engine) => {
  let broker: TestBroker;
  let fresh: FreshDatabase | undefined;
  let honest: string;
  let hostile: string;

  beforeAll(async () => {
    if (engine === 'postgres') fresh = await migratedDatabase();
    broker = await startBroker(fresh ? { extra: `store: ${fresh.url}` } : {});
    honest = await broker.agent('honest', 'demo:read');
    hostile = await broker.agent('hostile', 'demo:read');
  });
  afterAll(async () => {
    await broker?.stop();
    await fresh?.drop();
  });

  it('a NUL in one request fails neither it nor the others committed with it; the row keeps U+FFFD', async () => {
    const attacks = [
      () => issue(broker.url, hostile, { backend: 'demo', scopes: ['re\u0000ad'] }),
      () => issue(broker.url, hostile, { backend: 'demo', metadata: { ticket: 'x\u0000y' } }),
      () => fetch(`${broker.url}/v1/backends/%00`).then((r) => ({ status: r.status, body: null })),
    ];
    // Interleaved, so the hostile rows share group commits with the honest ones.
    const [honestAnswers, hostileAnswers] = await Promise.all([
      Promise.all(Array.from({ length: 12 }, () => issue(broker.url, honest, { backend: 'demo' }))),
      Promise.all(Array.from({ length: 12 }, (_, i) => attacks[i % attacks.length]!())),
    ]);
    expect(honestAnswers.map((a) => a.status)).toEqual(Array(12).fill(201));
    // The hostile requests get what they would without the NUL: a denial (a malformed scope), an issuance, a 401.
    expect(hostileAnswers.map((a) => a.status)).toEqual(Array(4).fill([400, 201, 401]).flat());

    const rows = await broker.services.store.audit.query({ agent: 'hostile', limit: 100 });
    const denied = rows.find((r) => r.type === 'credential.denied');
    expect(denied?.details).toMatchObject({ scope: 're\uFFFDad' });
    const issued = rows.find((r) => r.type === 'credential.issued');
    expect(JSON.stringify(issued?.details)).toContain('x\uFFFDy');
    const verify = await runCli(['audit', 'verify', '--config', broker.configPath], broker.env);
    expect(verify.code, verify.stderr).toBe(0);
  });
});
