/**
 * Stored secrets tied to the audit log (issue 15), on SQLite and PostgreSQL: an operator with write
 * access to the database rolls back a rotation, un-deletes a path, stretches a grace, swaps
 * ciphertexts between paths or fabricates a version. The server refuses to issue from the path
 * (ERR_SECRET_INTEGRITY, audited as the denial, logged), and `creddy audit verify` names the row.
 * Ordinary writes — from this process or from a CLI process a moment before the read — are served.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecretRow } from '../../src/store/rows.js';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { adminQuery, type FreshDatabase, migratedDatabase } from '../helpers/pg.js';

const BACKENDS = `  vault:
    type: secret
    allowed_scopes: ["app/*"]
    grace: 1h`;

const COLUMNS = 'id, path, version, sealed, kek_id, created_at, created_by, generated, superseded_at, readable_until, deleted_at';

describe.each(['sqlite', 'postgres'] as const)('stored secrets are tied to the audit log (%s)', (engine) => {
  let broker: TestBroker;
  let fresh: FreshDatabase | undefined;
  let token: string;

  /** Runs SQL as someone with write access to the database: `$n` parameters on both engines. */
  async function sql<R = SecretRow>(text: string, ...params: unknown[]): Promise<R[]> {
    if (fresh) return (await adminQuery(text, params, fresh.name)) as R[];
    const db = new Database(join(broker.dir, 'data', 'creddy.db'));
    try {
      // better-sqlite3 takes no `$n`: positional `?` in the order they appear.
      const order = [...text.matchAll(/\$(\d+)/g)].map((m) => params[Number(m[1]) - 1]);
      const statement = db.prepare(text.replace(/\$\d+/g, '?'));
      if (statement.reader) return statement.all(...order) as R[];
      statement.run(...order);
      return [];
    } finally {
      db.close();
    }
  }
  const rowsOf = (path: string) => sql(`SELECT ${COLUMNS} FROM secret_versions WHERE path = $1 ORDER BY version`, path);
  /** Puts a path's rows back as they were. */
  async function restore(path: string, rows: SecretRow[]): Promise<void> {
    await sql('DELETE FROM secret_versions WHERE path = $1', path);
    for (const r of rows) {
      await sql(
        `INSERT INTO secret_versions (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        ...[
          r.id,
          r.path,
          r.version,
          r.sealed,
          r.kek_id,
          r.created_at,
          r.created_by,
          r.generated,
          r.superseded_at,
          r.readable_until,
          r.deleted_at,
        ],
      );
    }
  }

  const op = async (args: string[], input = '') => {
    const r = await runCli([...args, '--config', broker.configPath], broker.env, input);
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  /**
   * The server reads new state rows every second; the edits below come after it has (an edit in the
   * second after a legitimate write, before that read, is judged against the log as it was: the
   * window docs/audit.md names).
   */
  const seen = () => broker.services.stateGuard!.refresh();
  const read = (...scopes: string[]) => issue(broker.url, token, { backend: 'vault', scopes });
  const verify = async () => {
    const r = await runCli(['audit', 'verify', '--json', '--config', broker.configPath], broker.env);
    return { code: r.code, problem: (JSON.parse(r.stdout) as { problem: { kind: string; detail: string } | null }).problem };
  };

  /** The read is refused as tampered, audited as the denial naming the path, and logged. */
  async function expectRefused(path: string, scopes: string[], secretValue?: string): Promise<void> {
    const r = await read(...scopes);
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('ERR_SECRET_INTEGRITY');
    if (secretValue) expect(JSON.stringify(r.body)).not.toContain(secretValue);
    const [denied] = await broker.services.store.audit.query({ agent: 'reader', limit: 1 });
    expect(denied).toMatchObject({ type: 'credential.denied', reason: 'ERR_SECRET_INTEGRITY' });
    expect(denied?.details).toMatchObject({ path });
    expect(broker.logLines.some((l) => l.includes('failed its integrity check') || l.includes('does not match the audit log'))).toBe(true);
  }

  beforeAll(async () => {
    if (engine === 'postgres') {
      fresh = await migratedDatabase();
    }
    broker = await startBroker({ backends: BACKENDS, ...(fresh ? { extra: `store: ${fresh.url}` } : {}) });
    token = await broker.agent('reader', 'vault:app/*');
  });
  afterAll(async () => {
    await broker?.stop();
    await fresh?.drop();
  });

  it('ordinary writes are served, a CLI write the moment before the read included; verify passes', async () => {
    await op(['secret', 'put', 'app/live'], 'live-v1');
    expect((await read('app/live')).body.credential.secrets['app/live']).toMatchObject({ value: 'live-v1', version: 1 });
    // Each write lands from another services instance (the CLI's) right before the read: the
    // guard has not refreshed yet, reads the log again, and serves it.
    await op(['secret', 'rotate', 'app/live'], 'live-v2');
    expect((await read('app/live')).body.credential.secrets['app/live']).toMatchObject({
      value: 'live-v2',
      previous: { value: 'live-v1', version: 1 },
    });
    await op(['secret', 'delete', 'app/live']);
    expect((await read('app/live')).body.error.code).toBe('ERR_SECRET_NOT_FOUND');
    await op(['secret', 'put', 'app/live', '--generate', '24']);
    const again = await read('app/*');
    expect(again.status).toBe(201);
    expect(again.body.credential.secrets['app/live']).toMatchObject({ version: 3, previous: null });
    expect(await verify()).toEqual({ code: 0, problem: null });
    expect(broker.logLines.filter((l) => l.includes('integrity') || l.includes('does not match the audit log'))).toEqual([]);
  });

  it('a rotation rolled back (the replaced version made current again) is refused; verify names it', async () => {
    await op(['secret', 'put', 'app/roll'], 'roll-old');
    await op(['secret', 'rotate', 'app/roll'], 'roll-new');
    const before = await rowsOf('app/roll');
    await seen();
    // As a restore of an older backup would leave it: version 2 gone, version 1 current again.
    await sql('DELETE FROM secret_versions WHERE path = $1 AND version = 2', 'app/roll');
    await sql('UPDATE secret_versions SET superseded_at = NULL, readable_until = NULL WHERE path = $1 AND version = 1', 'app/roll');
    await expectRefused('app/roll', ['app/roll'], 'roll-old');
    // A wildcard covering the path is refused as a whole: no partial answer.
    await expectRefused('app/roll', ['app/*'], 'roll-old');
    const { code, problem } = await verify();
    expect(code).toBe(1);
    expect(problem?.detail).toMatch(/^secret app\/roll version [12]: /);
    await restore('app/roll', before);
    expect((await read('app/roll')).body.credential.secrets['app/roll'].value).toBe('roll-new');
    expect((await verify()).code).toBe(0);
  });

  it('an un-deleted path (its row and sealed value restored) is refused; verify names it', async () => {
    await op(['secret', 'put', 'app/gone'], 'gone-value');
    const [live] = await rowsOf('app/gone');
    await op(['secret', 'delete', 'app/gone']);
    const deleted = await rowsOf('app/gone');
    await seen();
    await sql(
      'UPDATE secret_versions SET deleted_at = NULL, sealed = $1, kek_id = $2 WHERE path = $3',
      live!.sealed,
      live!.kek_id,
      'app/gone',
    );
    await expectRefused('app/gone', ['app/gone'], 'gone-value');
    const { code, problem } = await verify();
    expect(code).toBe(1);
    expect(problem?.detail).toMatch(/^secret app\/gone version 1: the log records the deletion of its path/);
    await restore('app/gone', deleted);
    expect((await read('app/gone')).body.error.code).toBe('ERR_SECRET_NOT_FOUND');
  });

  it("a replaced version's grace stretched past what the log gave it is refused; verify names it", async () => {
    await op(['secret', 'put', 'app/grace'], 'grace-old');
    await op(['secret', 'rotate', 'app/grace', '--grace', '10m'], 'grace-new');
    const before = await rowsOf('app/grace');
    await seen();
    await sql('UPDATE secret_versions SET readable_until = readable_until + 315360000 WHERE path = $1 AND version = 1', 'app/grace');
    await expectRefused('app/grace', ['app/grace'], 'grace-old');
    const { code, problem } = await verify();
    expect(code).toBe(1);
    expect(problem?.detail).toMatch(/^secret app\/grace version 1: readable until \d+, but the log gave it until \d+$/);
    await restore('app/grace', before);
    expect((await read('app/grace')).status).toBe(201);
  });

  it('ciphertexts swapped between two paths are refused; verify names the row without the KEK', async () => {
    await op(['secret', 'put', 'app/swap-a'], 'swap-a-value');
    await op(['secret', 'put', 'app/swap-b'], 'swap-b-value');
    const [a] = await rowsOf('app/swap-a');
    const [b] = await rowsOf('app/swap-b');
    await seen();
    await sql('UPDATE secret_versions SET sealed = $1 WHERE id = $2', b!.sealed, a!.id);
    await expectRefused('app/swap-a', ['app/swap-a'], 'swap-b-value');
    const { code, problem } = await verify();
    expect(code).toBe(1);
    expect(problem?.detail).toBe(
      'secret app/swap-a version 1: its sealed value is not the one the log records (swapped or restored from a copy)',
    );
    await restore('app/swap-a', [a!]);
    expect((await read('app/swap-a')).body.credential.secrets['app/swap-a'].value).toBe('swap-a-value');
  });

  it('a fabricated version (a copied row under a new number) is refused; verify names it', async () => {
    await op(['secret', 'put', 'app/forged'], 'forged-v1');
    const [v1] = await rowsOf('app/forged');
    await seen();
    await sql('UPDATE secret_versions SET superseded_at = created_at, readable_until = created_at + 3600 WHERE id = $1', v1!.id);
    await sql(
      `INSERT INTO secret_versions (${COLUMNS}) VALUES ($1, $2, 2, $3, $4, $5, 'cli', 0, NULL, NULL, NULL)`,
      randomBytes(12).toString('base64url'),
      'app/forged',
      v1!.sealed,
      v1!.kek_id,
      v1!.created_at + 1,
    );
    await expectRefused('app/forged', ['app/forged'], 'forged-v1');
    const { code, problem } = await verify();
    expect(code).toBe(1);
    expect(problem?.detail).toMatch(/^secret app\/forged version [12]: /);
    await restore('app/forged', [v1!]);
    expect((await read('app/forged')).status).toBe(201);
    expect((await verify()).code).toBe(0);
  });

  it('keys rewrap records the new ciphertexts: verify still passes after it', async () => {
    const rotating = { ...broker.env, CREDDY_KEK: randomBytes(32).toString('hex'), CREDDY_KEK_PREVIOUS: broker.env['CREDDY_KEK'] };
    const rewrap = await runCli(['keys', 'rewrap', '--json', '--config', broker.configPath], rotating);
    expect(rewrap.code, rewrap.stderr).toBe(0);
    expect((JSON.parse(rewrap.stdout) as { secret_values_rewrapped: number }).secret_values_rewrapped).toBeGreaterThan(5);
    expect(await verify()).toEqual({ code: 0, problem: null });
  });
});
