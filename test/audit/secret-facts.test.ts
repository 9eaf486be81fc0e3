/**
 * The rules by which a stored secret version is judged against its `secret.*` audit rows
 * (audit/secret-facts.ts): what the server serves (secretReadProblem) and what `audit verify`
 * accepts (secretRowsProblem), including rows whose history retention pruned.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { applySecretFact, type SecretPathFacts, sealedDigest, secretReadProblem, secretRowsProblem } from '../../src/audit/secret-facts.js';
import type { AuditRow, AuditType } from '../../src/model/audit.js';
import type { SecretVersionRecord } from '../../src/model/secret.js';

const row = (type: AuditType, details: Record<string, unknown>): AuditRow =>
  ({ seq: 0, time: 0, type, outcome: 'success', actor: 'cli', details }) as unknown as AuditRow;

const version = (n: number, fields: Partial<SecretVersionRecord> = {}): SecretVersionRecord => ({
  id: `id-${n}`,
  path: 'app/k',
  version: n,
  sealed: randomBytes(40),
  kekId: 'kek',
  createdAt: 1000 + n,
  createdBy: 'cli',
  generated: false,
  supersededAt: null,
  readableUntil: null,
  deletedAt: null,
  ...fields,
});

/** app/k: created v1, rotated to v2 (v1 readable until 1500), deleted, created v3, v3 rewrapped. */
function history() {
  const v1 = version(1, { supersededAt: 1002, readableUntil: 1500, deletedAt: 1600, sealed: null, kekId: null });
  const v2 = version(2, { deletedAt: 1600, sealed: null, kekId: null });
  const firstV3 = version(3);
  const v3 = version(3, { sealed: randomBytes(40) });
  const secrets = new Map<string, SecretPathFacts>();
  for (const r of [
    row('secret.created', { path: 'app/k', version: 1, generated: false, sealed_sha256: 'aa' }),
    row('secret.rotated', {
      path: 'app/k',
      version: 2,
      generated: false,
      sealed_sha256: 'bb',
      previous_version: 1,
      previous_readable_until: 1500,
    }),
    row('secret.deleted', { path: 'app/k', version: 2 }),
    row('secret.created', { path: 'app/k', version: 3, generated: false, sealed_sha256: sealedDigest(firstV3.sealed!) }),
    row('secret.rewrapped', { path: 'app/k', version: 3, from_kek: 'a', to_kek: 'b', sealed_sha256: sealedDigest(v3.sealed!) }),
  ])
    applySecretFact(secrets, r);
  return { secrets, v1, v2, v3 };
}

const only = (...paths: string[]) => ({ paths, prefixes: [] });
const under = (...prefixes: string[]) => ({ paths: [], prefixes });
const NOT_PRUNED = Number.NEGATIVE_INFINITY;

describe('secret versions against the log', () => {
  it('the log leaves: v3 current, v1 and v2 deleted, the rewrapped ciphertext the one recorded', () => {
    const { secrets } = history();
    const k = secrets.get('app/k')!;
    expect({ current: k.current, deletedThrough: k.deletedThrough }).toEqual({ current: 3, deletedThrough: 2 });
    expect(k.versions.get(1)?.readableUntil).toBe(1500);
  });

  it('serving: exactly the current version passes; a deleted, unknown, replaced-as-current or missing one is refused', () => {
    const { secrets, v1, v3 } = history();
    expect(secretReadProblem(secrets, only('app/k'), [v3], NOT_PRUNED)).toBeNull();
    expect(secretReadProblem(secrets, under('app/'), [v3], NOT_PRUNED)).toBeNull();
    expect(secretReadProblem(secrets, only('app/k'), [{ ...v1, deletedAt: null, sealed: randomBytes(40) }, v3], NOT_PRUNED)?.problem).toBe(
      'the log records the deletion of its path',
    );
    expect(secretReadProblem(secrets, only('app/k'), [version(4)], NOT_PRUNED)?.problem).toMatch(/no such version \(its newest is 3\)/);
    expect(secretReadProblem(secrets, only('app/k'), [{ ...v3, supersededAt: 2000, readableUntil: 9999 }], NOT_PRUNED)?.problem).toMatch(
      /the row says it was replaced/,
    );
    for (const selector of [only('app/k'), under('app/'), under('')]) {
      expect(secretReadProblem(secrets, selector, [], NOT_PRUNED)).toEqual({
        path: 'app/k',
        version: 3,
        problem: 'the log says it is current, but the store does not serve it',
      });
    }
    // A selector that does not cover the path expects nothing of it.
    expect(secretReadProblem(secrets, under('other/'), [], NOT_PRUNED)).toBeNull();
  });

  it('serving under a wildcard: every live path the log has under it must be served, found among many', () => {
    const secrets = new Map<string, SecretPathFacts>();
    const paths = ['app', 'app/a', 'app/b', 'app/b/c', 'app0', 'apq/x', 'zz'];
    for (const path of paths) applySecretFact(secrets, row('secret.created', { path, version: 1 }));
    const current = (path: string) => ({ ...version(1), path });
    const underApp = ['app/a', 'app/b', 'app/b/c'];
    expect(secretReadProblem(secrets, under('app/'), underApp.map(current), NOT_PRUNED)).toBeNull();
    expect(secretReadProblem(secrets, under('app/'), ['app/a', 'app/b/c'].map(current), NOT_PRUNED)?.path).toBe('app/b');
    expect(secretReadProblem(secrets, under('app/b/', 'zz'), [current('app/b/c')], NOT_PRUNED)?.path).toBe('zz');
    // A path added to the log later is seen by the next check.
    applySecretFact(secrets, row('secret.created', { path: 'app/new', version: 1 }));
    expect(secretReadProblem(secrets, under('app/'), underApp.map(current), NOT_PRUNED)?.path).toBe('app/new');
  });

  it("serving: a replaced version within its grace passes only with the log's grace", () => {
    const secrets = new Map<string, SecretPathFacts>();
    applySecretFact(secrets, row('secret.created', { path: 'app/k', version: 1 }));
    applySecretFact(secrets, row('secret.rotated', { path: 'app/k', version: 2, previous_version: 1, previous_readable_until: 1500 }));
    const previous = version(1, { supersededAt: 1002, readableUntil: 1500 });
    expect(secretReadProblem(secrets, only('app/k'), [version(2), previous], NOT_PRUNED)).toBeNull();
    expect(secretReadProblem(secrets, only('app/k'), [version(2), { ...previous, readableUntil: 99_999 }], NOT_PRUNED)?.problem).toBe(
      'readable until 99999, but the log gave it until 1500',
    );
    expect(secretReadProblem(secrets, only('app/k'), [version(1)], NOT_PRUNED)?.problem).toBe(
      'the log says version 2 replaced it, the row says it is current',
    );
  });

  it('retention: a version older than the cut with no row left is not judged; a newer one is', () => {
    const empty = new Map<string, SecretPathFacts>();
    const old = version(1, { createdAt: 100 });
    expect(secretReadProblem(empty, only('app/k'), [old], 200_000)).toBeNull();
    expect(secretRowsProblem(undefined, 'app/k', [old], 200_000)).toBeNull();
    expect(secretReadProblem(empty, only('app/k'), [version(1, { createdAt: 300 })], 200_000)?.problem).toBe(
      'the log has no secret.created row for it',
    );
    expect(secretRowsProblem(undefined, 'app/k', [version(1, { createdAt: 300 })], 200_000)?.problem).toBe(
      'the log has no secret.created row for it',
    );
  });

  it('verify: the rows as written pass; a restored value, an un-deleted row, a swapped ciphertext or a lost row do not', () => {
    const { secrets, v1, v2, v3 } = history();
    const k = secrets.get('app/k');
    expect(secretRowsProblem(k, 'app/k', [v1, v2, v3], NOT_PRUNED)).toBeNull();
    expect(secretRowsProblem(k, 'app/k', [v1, { ...v2, sealed: randomBytes(40) }, v3], NOT_PRUNED)?.problem).toBe(
      'its path is deleted, yet the row holds a value',
    );
    expect(secretRowsProblem(k, 'app/k', [{ ...v1, deletedAt: null }, v2, v3], NOT_PRUNED)?.problem).toBe(
      'the log records the deletion of its path, the row says live',
    );
    expect(secretRowsProblem(k, 'app/k', [v1, v2, { ...v3, sealed: randomBytes(40) }], NOT_PRUNED)?.problem).toBe(
      'its sealed value is not the one the log records (swapped or restored from a copy)',
    );
    expect(secretRowsProblem(k, 'app/k', [v1, v2, { ...v3, sealed: null }], NOT_PRUNED)?.problem).toBe(
      'the log says it is current, but its value is erased',
    );
    expect(secretRowsProblem(k, 'app/k', [v1, v3], NOT_PRUNED)).toEqual({
      path: 'app/k',
      version: 2,
      problem: 'its row is gone, though the log records it',
    });
    expect(secretRowsProblem(k, 'app/k', [v1, v2, { ...v3, generated: true }], NOT_PRUNED)?.problem).toBe(
      'its generated flag differs from the log',
    );
  });
});
