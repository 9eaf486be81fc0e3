import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditType } from '../../../src/model/audit.js';
import type { SecretVersionRecord } from '../../../src/model/secret.js';
import type { KeyAudit, Store } from '../../../src/store/port.js';
import { allRows, event, failingSealer, type StoreUnderTest, seal, unique } from '../fixture.js';

const T = 1_700_000_000;

function version(path: string, n: number, fields: Partial<SecretVersionRecord> = {}): SecretVersionRecord {
  return {
    id: unique('sv'),
    path,
    version: n,
    sealed: randomBytes(48),
    kekId: 'kek-1',
    createdAt: T + n,
    createdBy: 'contract',
    generated: false,
    supersededAt: null,
    readableUntil: null,
    deletedAt: null,
    ...fields,
  };
}

const audit = (type: AuditType = 'secret.created'): KeyAudit => ({ events: [event({ type })], seal });
const only = (paths: string[]) => ({ paths, prefixes: [] });
const under = (prefixes: string[]) => ({ paths: [], prefixes });

/** `store.secrets`: guarded versioned writes with their audit rows, grace, tombstones, erasure. */
export function secretContract(sut: () => StoreUnderTest): void {
  describe('secrets', () => {
    it('create, rotate with a grace, read both within it, erase after it', async () => {
      const { store } = sut();
      const path = `${unique('p')}/api-key`;
      const v1 = version(path, 1);
      expect(await store.secrets.write({ kind: 'create', record: v1 }, audit())).toBe(true);
      expect((await store.secrets.readable(only([path]), T)).map((r) => r.version)).toEqual([1]);
      const v2 = version(path, 2, { createdAt: T + 100 });
      expect(await store.secrets.write({ kind: 'rotate', record: v2, previousReadableUntil: T + 200 }, audit('secret.rotated'))).toBe(true);
      const within = await store.secrets.readable(only([path]), T + 150);
      expect(within.map((r) => [r.version, r.supersededAt, r.readableUntil])).toEqual([
        [2, null, null],
        [1, T + 100, T + 200],
      ]);
      expect(Buffer.from(within[1]!.sealed!)).toEqual(Buffer.from(v1.sealed!));
      expect((await store.secrets.readable(only([path]), T + 200)).map((r) => r.version)).toEqual([2]);
      expect(await store.secrets.erase(T + 200)).toBeGreaterThanOrEqual(1);
      const [first, second] = await store.secrets.versions(path);
      expect(first).toMatchObject({ version: 1, sealed: null, kekId: null, supersededAt: T + 100 });
      expect(second).toMatchObject({ version: 2, supersededAt: null, deletedAt: null });
      expect(Buffer.from(second!.sealed!)).toEqual(Buffer.from(v2.sealed!));
      expect(await store.secrets.erase(T + 200)).toBe(0);
    });

    it('guards: no second create of a live path, no rotation from a stale version, no rotation of a missing path', async () => {
      const { store } = sut();
      const path = unique('g');
      expect(await store.secrets.write({ kind: 'create', record: version(path, 2) }, audit())).toBe(false);
      expect(await store.secrets.write({ kind: 'rotate', record: version(path, 2), previousReadableUntil: T }, audit())).toBe(false);
      expect(await store.secrets.write({ kind: 'create', record: version(path, 1) }, audit())).toBe(true);
      expect(await store.secrets.write({ kind: 'create', record: version(path, 2) }, audit())).toBe(false);
      expect(await store.secrets.write({ kind: 'rotate', record: version(path, 3), previousReadableUntil: T }, audit())).toBe(false);
      expect(await store.secrets.write({ kind: 'delete', path, version: 2, at: T }, audit())).toBe(false);
      expect((await store.secrets.versions(path)).map((v) => v.version)).toEqual([1]);
    });

    it('a refused write appends nothing, and a refused audit row undoes the write', async () => {
      const { store } = sut();
      const path = unique('a');
      const before = (await allRows(store)).length;
      expect(await store.secrets.write({ kind: 'create', record: version(path, 2) }, audit())).toBe(false);
      expect(await allRows(store)).toHaveLength(before);
      await expect(
        store.secrets.write({ kind: 'create', record: version(path, 1) }, { events: [event()], seal: failingSealer(0) }),
      ).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
      expect(await store.secrets.versions(path)).toEqual([]);
      expect(await store.secrets.write({ kind: 'create', record: version(path, 1) }, audit())).toBe(true);
      const rows = await allRows(store);
      expect(rows).toHaveLength(before + 1);
      expect(rows.at(-1)!.type).toBe('secret.created');
    });

    it('two stores rotating one path at once: exactly one version 2', async () => {
      const { store, second } = sut();
      const other = second();
      try {
        const path = unique('race');
        await store.secrets.write({ kind: 'create', record: version(path, 1) }, audit());
        const results = await Promise.all(
          [store, other, store, other].map((s: Store) =>
            s.secrets.write({ kind: 'rotate', record: version(path, 2), previousReadableUntil: T }, audit('secret.rotated')),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await store.secrets.versions(path)).map((v) => v.version)).toEqual([1, 2]);
      } finally {
        await other.close();
      }
    });

    it('delete tombstones every version and erases its values; the path can be written again from the next version', async () => {
      const { store } = sut();
      const path = unique('d');
      await store.secrets.write({ kind: 'create', record: version(path, 1) }, audit());
      await store.secrets.write({ kind: 'rotate', record: version(path, 2), previousReadableUntil: T + 10_000 }, audit());
      expect(await store.secrets.write({ kind: 'delete', path, version: 2, at: T + 50 }, audit('secret.deleted'))).toBe(true);
      const gone = await store.secrets.versions(path);
      expect(gone.map((v) => [v.version, v.sealed, v.deletedAt])).toEqual([
        [1, null, T + 50],
        [2, null, T + 50],
      ]);
      expect(await store.secrets.readable(only([path]), T + 60)).toEqual([]);
      expect((await store.secrets.latest(path)).map((v) => [v.version, v.deletedAt])).toEqual([[2, T + 50]]);
      expect(await store.secrets.write({ kind: 'delete', path, version: 2, at: T + 60 }, audit())).toBe(false);
      expect(await store.secrets.write({ kind: 'create', record: version(path, 1) }, audit())).toBe(false);
      expect(await store.secrets.write({ kind: 'create', record: version(path, 3) }, audit())).toBe(true);
      expect((await store.secrets.readable(only([path]), T + 60)).map((v) => v.version)).toEqual([3]);
    });

    it('selectors: exact paths are exact, prefixes are byte prefixes (no LIKE wildcards, case-sensitive)', async () => {
      const { store } = sut();
      const root = unique('sel');
      for (const p of ['a/b', 'a/bc', 'a/b/x', 'a_b', 'aXb', 'A/b']) {
        await store.secrets.write({ kind: 'create', record: version(`${root}/${p}`, 1) }, audit());
      }
      const paths = async (selector: { paths: string[]; prefixes: string[] }) =>
        (await store.secrets.readable(selector, T)).map((r) => r.path.slice(root.length + 1));
      expect(await paths(only([`${root}/a/b`]))).toEqual(['a/b']);
      expect(await paths(under([`${root}/a/b`]))).toEqual(['a/b', 'a/b/x', 'a/bc']);
      expect(await paths(under([`${root}/a/b/`]))).toEqual(['a/b/x']);
      expect(await paths(under([`${root}/a_`]))).toEqual(['a_b']);
      expect(await paths(under([`${root}/a`]))).toEqual(['a/b', 'a/b/x', 'a/bc', 'aXb', 'a_b']);
      expect(await paths({ paths: [`${root}/A/b`], prefixes: [`${root}/a_`] })).toEqual(['A/b', 'a_b']);
      expect(await paths({ paths: [], prefixes: [] })).toEqual([]);
      expect((await store.secrets.latest(`${root}/a/`)).map((r) => r.path.slice(root.length + 1))).toEqual(['a/b', 'a/b/x', 'a/bc']);
    });

    it('reseal replaces a value only if it is still the one read; sealedAfter pages by id', async () => {
      const { store } = sut();
      const path = unique('r');
      const v1 = version(path, 1);
      await store.secrets.write({ kind: 'create', record: v1 }, audit());
      const next = randomBytes(48);
      const stale = { kind: 'reseal' as const, id: v1.id, previous: randomBytes(48), sealed: next, kekId: 'kek-2' };
      expect(await store.secrets.write(stale, audit('secret.rewrapped'))).toBe(false);
      expect(await store.secrets.write({ ...stale, previous: v1.sealed! }, audit('secret.rewrapped'))).toBe(true);
      const [row] = await store.secrets.versions(path);
      expect(row!.kekId).toBe('kek-2');
      expect(Buffer.from(row!.sealed!)).toEqual(next);
      const ids: string[] = [];
      for (let after = ''; ; ) {
        const page = await store.secrets.sealedAfter(after, 2);
        ids.push(...page.map((r) => r.id));
        if (page.length < 2) break;
        after = page.at(-1)!.id;
      }
      expect(ids).toContain(v1.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(ids);
    });
  });
}
