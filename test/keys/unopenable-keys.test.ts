/**
 * Signing-key rows written by someone who can write the store but has no KEK (a leaked database
 * password): the "sealed" private half is garbage and the public key is the attacker's. Such a
 * row must never reach the JWKS (the attacker's tokens would verify everywhere) and must not stop
 * issuance. The state guard alone does not stop it once retention has pruned the log: a row dated
 * before the log's first row is not judged by the log. Both stores, at the HTTP level.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneAudit } from '../../src/audit/retention.js';
import { thumbprint } from '../../src/keys/jwk.js';
import { creddyJwks, verifyCreddyToken } from '../../src/verify/token.js';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker, testClock } from '../helpers/harness.js';
import { sampleValue, scrape } from '../helpers/metrics.js';
import { adminQuery, type FreshDatabase, migratedDatabase } from '../helpers/pg.js';
import { writeTables } from '../helpers/raw-sql.js';
import { attackerEd25519, compact, ed25519Signer } from '../verify/forge.js';

const DAY_S = 86_400;

describe.each(['sqlite', 'postgres'] as const)('signing-key rows the KEK does not open (%s)', (engine) => {
  let db: FreshDatabase | undefined;
  let broker: TestBroker;
  let token: string;
  const clock = testClock();
  const attacker = attackerEd25519();
  const forgedKid = thumbprint(attacker.x);
  const nowS = (): number => Math.floor(clock.now() / 1000);

  /** Runs SQL as the attacker would, with write access to the tables but not the KEK. */
  const write = (sql: string, values: unknown[]): Promise<void> =>
    writeTables({ db, sqlitePath: join(broker.dir, 'data', 'creddy.db') }, sql, values);
  /** A key row of the attacker's: their public key, a "sealed" private half they cannot make. */
  const insertForged = (state: string, kid = forgedKid, x = attacker.x): Promise<void> =>
    write(
      `INSERT INTO signing_keys (kid, state, public_x, sealed_private, kek_id, created_at, published_at, activated_at, retired_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      // Dated before the pruned log's first row, so the state guard has no row to judge it by;
      // retired far in the future, so it would stay published.
      [
        kid,
        state,
        x,
        randomBytes(61),
        broker.services.keks.current.id,
        nowS() - 3 * DAY_S,
        nowS() - 3 * DAY_S,
        nowS() - 3 * DAY_S,
        nowS() + 3650 * DAY_S,
      ],
    );
  const jwksKids = async (): Promise<string[]> => {
    const response = await fetch(`${broker.url}/.well-known/jwks.json`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
  };
  /** A token as creddy issues them, signed with the attacker's key under the forged kid. */
  const attackerToken = (): string => {
    const t = Math.floor(Date.now() / 1000);
    const claims = { iss: broker.services.config.issuer, sub: 'bot', aud: 'demo', client_id: 'bot', iat: t, nbf: t, exp: t + 600 };
    return compact(
      { alg: 'EdDSA', typ: 'at+jwt', kid: forgedKid },
      { ...claims, jti: 'forged-1', scope: 'write', backend: 'demo' },
      ed25519Signer(attacker.privateKey),
    );
  };
  const unopenableLogs = (kid: string): number =>
    broker.logLines.filter((l) => l.includes(`signing key ${kid} does not open with the configured KEK`)).length;

  beforeAll(async () => {
    if (engine === 'postgres') {
      db = await migratedDatabase();
      // As `creddy store migrate` sets it from audit.retention 1d.
      await adminQuery('UPDATE audit_retention_floor SET min_age_seconds = $1', [DAY_S], db.name);
    }
    // The deployment's first two days, then a prune: the log now starts after the rows that
    // created the signing keys.
    clock.advance(-2 * DAY_S);
    broker = await startBroker({ clock, metrics: true, ...(db ? { extra: `store: ${db.url}` } : {}) });
    await broker.agent('early', 'demo:read');
    await broker.services.auditCheckpoints.checkpointNow();
    clock.advance(2 * DAY_S);
    token = await broker.agent('bot', 'demo:read,demo:write');
    const { store, keks, auditSeal } = broker.services;
    const pruned = await pruneAudit({ store, keks, seal: auditSeal, now: () => clock.now(), actor: 'cli' }, DAY_S);
    expect(pruned.anchorSeq).toBeGreaterThan(1);
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  it('a forged retired key is never published, its tokens are refused, and issuance goes on', async () => {
    await insertForged('retired');
    await broker.services.keyring.refresh();
    await broker.services.keyring.refresh();

    const kids = await jwksKids();
    expect(kids).not.toContain(forgedKid);
    expect(kids).toContain(broker.services.keyring.signer().kid);
    expect(unopenableLogs(forgedKid)).toBe(1); // logged once, not at every refresh
    const metrics = await scrape(broker.url);
    expect(sampleValue(metrics.text, 'creddy_signing_keys_unopenable')).toBe(1);

    const issued = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const keys = creddyJwks(broker.url);
    const options = { issuer: broker.services.config.issuer, audience: 'demo', keys };
    await expect(verifyCreddyToken(issued.body.token, options)).resolves.toMatchObject({ jti: issued.body.id });

    const forged = attackerToken();
    await expect(verifyCreddyToken(forged, options)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    const cli = await runCli(['verify', forged], { CREDDY_URL: broker.url });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^creddy: ERR_TOKEN_INVALID/m);
  });

  it('a forged next key in place of the real one is not published, and a restarted server starts and issues', async () => {
    const other = attackerEd25519();
    const otherKid = thumbprint(other.x);
    await write("UPDATE signing_keys SET state = 'revoked', revoked_at = ? WHERE state = 'next'", [nowS()]);
    await insertForged('next', otherKid, other.x);
    await broker.services.keyring.refresh();
    expect(await jwksKids()).not.toContain(otherKid);

    await broker.restart();
    expect(await jwksKids()).not.toContain(otherKid);
    const issued = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    // The operator's way out: revoking it puts a fresh next in its place.
    const revoked = await runCli(['keys', 'revoke', otherKid, '--config', broker.configPath], broker.env);
    expect(revoked.code, revoked.stderr).toBe(0);
  });

  it('a forged current key: nothing signs, a server refuses to start with a coded error, and `keys revoke --force` recovers', async () => {
    const other = attackerEd25519();
    const otherKid = thumbprint(other.x);
    const real = broker.services.keyring.signer().kid;
    await write("UPDATE signing_keys SET state = 'retired', retired_at = ? WHERE state = 'current'", [nowS()]);
    await insertForged('current', otherKid, other.x);
    await broker.services.keyring.refresh();
    expect(await jwksKids()).not.toContain(otherKid);
    const refused = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('ERR_NOT_READY');

    await broker.stopServer();
    const start = await runCli(['server', '--listen', '127.0.0.1:0', '--config', broker.configPath], broker.env);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain(
      `ERR_KEK_INVALID: no usable signing key: the current key ${otherKid} does not open with the configured KEK`,
    );
    expect(start.stderr).not.toContain(broker.env['CREDDY_KEK']!);

    const revoked = await runCli(['keys', 'revoke', otherKid, '--force', '--config', broker.configPath], broker.env);
    expect(revoked.code, revoked.stderr).toBe(0);
    await broker.restart();
    const kids = await jwksKids();
    expect(kids).not.toContain(otherKid);
    expect(broker.services.keyring.signer().kid).not.toBe(real);
    const issued = await issue(broker.url, token, { backend: 'demo', scopes: ['read'] });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  });
});
