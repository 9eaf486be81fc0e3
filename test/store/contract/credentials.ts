import { describe, expect, it } from 'vitest';
import { agent, credential, event, failingSealer, type StoreUnderTest, seal, unique } from '../fixture.js';

/** Agents and credentials: what the broker reads per request, and the reaper's claims. */
export function agentAndCredentialContract(sut: () => StoreUnderTest): void {
  describe('agents', () => {
    it('are created with their audit row, and read by token digest, by name and in a list', async () => {
      const { store } = sut();
      const a = agent();
      for (const name of ['Zed', 'alpha', '_under', 'beta-2']) {
        await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: agent(`${name}-${a.name}`) } }], seal);
      }
      await store.audit.append([{ event: event({ agent: a.name }), change: { kind: 'agent.create', agent: a } }], seal);
      expect(await store.agents.byTokenHash(a.tokenHash)).toEqual(a);
      expect(await store.agents.byName(a.name)).toEqual(a);
      const names = (await store.agents.list()).map((x) => x.name);
      expect(names).toContain(a.name);
      // Byte order on both engines, whatever the database's locale.
      expect(names).toEqual([...names].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
      expect(await store.agents.byName(unique('nobody'))).toBeUndefined();
      expect(await store.agents.byTokenHash('f'.repeat(64))).toBeUndefined();
    });

    it('a second create of the same name is skipped, not an error that would sink the batch', async () => {
      const { store } = sut();
      const a = agent();
      const twin = { ...agent(a.name), grants: [] };
      const rows = await store.audit.append(
        [
          { event: event(), change: { kind: 'agent.create', agent: a } },
          { event: event(), change: { kind: 'agent.create', agent: twin } },
        ],
        seal,
      );
      expect(rows).toHaveLength(2);
      expect(await store.agents.byName(a.name)).toEqual(a);
    });

    it('revocation keeps the first time and is seen by another store instance at once', async () => {
      const { store, second } = sut();
      const a = agent();
      await store.audit.append([{ event: event(), change: { kind: 'agent.create', agent: a } }], seal);
      const other = second();
      try {
        expect((await other.agents.byTokenHash(a.tokenHash))?.revokedAt).toBeNull();
        await store.audit.append(
          [{ event: event({ type: 'agent.revoked' }), change: { kind: 'agent.revoke', name: a.name, at: 111 } }],
          seal,
        );
        await store.audit.append(
          [{ event: event({ type: 'agent.revoked' }), change: { kind: 'agent.revoke', name: a.name, at: 222 } }],
          seal,
        );
        expect((await other.agents.byTokenHash(a.tokenHash))?.revokedAt).toBe(111);
      } finally {
        await other.close();
      }
    });
  });

  describe('credentials', () => {
    it('round-trip every field, handle bytes and unicode included', async () => {
      const { store } = sut();
      const c = credential({ metadata: null, downstream: null, revocationHandle: null });
      const d = credential();
      await store.audit.append(
        [
          { event: event({ type: 'credential.issued', jti: c.jti }), credential: c },
          { event: event({ type: 'credential.issued', jti: d.jti }), credential: d },
        ],
        seal,
      );
      expect(await store.credentials.get(c.jti)).toEqual(c);
      const got = await store.credentials.get(d.jti);
      expect({ ...got, revocationHandle: Buffer.from(got!.revocationHandle!) }).toEqual({
        ...d,
        revocationHandle: Buffer.from(d.revocationHandle!),
      });
      expect(await store.credentials.get(unique('missing'))).toBeUndefined();
    });

    it('listActive: the agent own, unexpired, unrevoked credentials, newest first', async () => {
      const { store } = sut();
      const owner = unique('lister');
      const old = credential({ agent: owner, issuedAt: 100, expiresAt: 2_000 });
      const recent = credential({ agent: owner, issuedAt: 200, expiresAt: 2_000 });
      const expired = credential({ agent: owner, issuedAt: 300, expiresAt: 999 });
      const revoked = credential({ agent: owner, issuedAt: 400, expiresAt: 2_000 });
      const foreign = credential({ agent: unique('other'), issuedAt: 500, expiresAt: 2_000 });
      await store.audit.append(
        [old, recent, expired, revoked, foreign].map((c) => ({ event: event({ type: 'credential.issued', jti: c.jti }), credential: c })),
        seal,
      );
      expect(await store.credentials.revoke(revoked.jti, 1_500)).toBe(true);
      expect((await store.credentials.listActive(owner, 1_000)).map((c) => c.jti)).toEqual([recent.jti, old.jti]);
    });

    it('listActive: within one second, newest first by id (ids are time-ordered)', async () => {
      const { store } = sut();
      const owner = unique('same-second');
      const ids = ['0mx3wh45vA', '0mx3wh45vB', '0mx3wh45vC'].map((prefix) => `${prefix}${unique('')}`);
      const issued = ids.map((jti) => credential({ jti, agent: owner, issuedAt: 100, expiresAt: 2_000 }));
      await store.audit.append(
        issued.map((c) => ({ event: event({ type: 'credential.issued', jti: c.jti }), credential: c })),
        seal,
      );
      expect((await store.credentials.listActive(owner, 1_000)).map((c) => c.jti)).toEqual([...ids].reverse());
    });

    it('revoke is true once, false when already revoked or unknown', async () => {
      const { store } = sut();
      const c = credential();
      await store.audit.append([{ event: event(), credential: c }], seal);
      expect(await store.credentials.revoke(c.jti, 10)).toBe(true);
      expect(await store.credentials.revoke(c.jti, 20)).toBe(false);
      expect(await store.credentials.revoke(unique('missing'), 20)).toBe(false);
      expect((await store.credentials.get(c.jti))?.revokedAt).toBe(10);
    });

    it('a revocation commits with its audit row; one that finds the credential revoked appends nothing', async () => {
      const { store } = sut();
      const c = credential();
      await store.audit.append([{ event: event(), credential: c }], seal);
      const revoked = (at: number) => ({ events: [event({ type: 'credential.revoked', jti: c.jti, details: { at } })], seal });
      const before = (await store.audit.head())!.seq;
      expect(await store.credentials.revoke(c.jti, 30, { audit: revoked(30) })).toBe(true);
      expect(await store.credentials.revoke(c.jti, 40, { audit: revoked(40) })).toBe(false);
      expect((await store.credentials.get(c.jti))?.revokedAt).toBe(30);
      const rows = await store.audit.query({ jti: c.jti, type: 'credential.revoked', limit: 10 });
      expect(rows.map((r) => [r.seq, r.details])).toEqual([[before + 1, { at: 30 }]]);
      expect((await store.audit.head())!.seq).toBe(before + 1);
    });

    it('of store instances revoking one credential at once, one wins and only its row is written', async () => {
      const { store, second } = sut();
      const c = credential();
      await store.audit.append([{ event: event(), credential: c }], seal);
      const other = second();
      try {
        const audit = { events: [event({ type: 'credential.revoked', jti: c.jti })], seal };
        const won = await Promise.all([store, other, store, other].map((s, i) => s.credentials.revoke(c.jti, 50 + i, { audit })));
        expect(won.filter(Boolean)).toHaveLength(1);
        expect(await store.audit.query({ jti: c.jti, type: 'credential.revoked', limit: 10 })).toHaveLength(1);
      } finally {
        await other.close();
      }
    });

    it('a revocation whose audit row cannot be written changes nothing', async () => {
      const { store } = sut();
      const c = credential();
      await store.audit.append([{ event: event(), credential: c }], seal);
      const head = await store.audit.head();
      const err = await store.credentials
        .revoke(c.jti, 60, { audit: { events: [event({ type: 'credential.revoked', jti: c.jti })], seal: failingSealer(0) } })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
      expect((await store.credentials.get(c.jti))?.revokedAt).toBeNull();
      expect(await store.audit.head()).toEqual(head);
    });

    it('rewrap: pages credentials holding handles by jti, swaps a handle only if unchanged', async () => {
      const { store } = sut();
      const batch = [credential(), credential(), credential({ revocationHandle: null })];
      await store.audit.append(
        batch.map((c) => ({ event: event(), credential: c })),
        seal,
      );
      const seen: string[] = [];
      for (let after = ''; ; ) {
        const page = await store.credentials.withRevocationHandles(after, 2);
        if (page.length === 0) break;
        seen.push(...page.map((c) => c.jti));
        after = page.at(-1)!.jti;
      }
      expect(seen).toEqual([...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(seen).toEqual(expect.arrayContaining([batch[0]!.jti, batch[1]!.jti]));
      expect(seen).not.toContain(batch[2]!.jti);

      const target = batch[0]!;
      const next = Buffer.from('rewrapped');
      expect(await store.credentials.replaceRevocationHandle(target.jti, Buffer.from('stale'), next)).toBe(false);
      expect(await store.credentials.replaceRevocationHandle(target.jti, target.revocationHandle!, next)).toBe(true);
      expect(Buffer.from((await store.credentials.get(target.jti))!.revocationHandle!)).toEqual(next);
    });
  });

  describe('downstream revocation claims', () => {
    const NOW = 1_800_000_000;
    const due = (fields = {}) => credential({ expiresAt: NOW - 10, ...fields });

    /** Claims everything due at `now` in pages, as the reaper does, until nothing is left. */
    const claimAll = async (store: StoreUnderTest['store'], now: number, leaseUntil: number) => {
      const got: string[] = [];
      for (;;) {
        const page = await store.credentials.claimDueForDownstreamRevocation(now, 3, leaseUntil);
        if (page.length === 0) return got;
        got.push(...page.map((c) => c.jti));
      }
    };

    it('claims expired or revoked rows with a handle, once per lease, ordered by expiry', async () => {
      const { store } = sut();
      const expiredLater = due({ expiresAt: NOW - 5 });
      const expiredFirst = due({ expiresAt: NOW - 50 });
      const live = credential({ expiresAt: NOW + 600 });
      const liveRevoked = credential({ expiresAt: NOW + 600 });
      const noHandle = due({ revocationHandle: null });
      const done = due();
      await store.audit.append(
        [expiredLater, expiredFirst, live, liveRevoked, noHandle, done].map((c) => ({ event: event(), credential: c })),
        seal,
      );
      await store.credentials.revoke(liveRevoked.jti, NOW - 1);
      await store.credentials.markDownstreamRevoked(done.jti, NOW - 1);
      expect((await store.credentials.get(done.jti))?.revocationHandle).toBeNull();

      const claimed = await store.credentials.claimDueForDownstreamRevocation(NOW, 100, NOW + 60);
      const mine = claimed.map((c) => c.jti).filter((j) => [expiredLater, expiredFirst, liveRevoked].some((c) => c.jti === j));
      expect(mine).toEqual([expiredFirst.jti, expiredLater.jti, liveRevoked.jti]);
      expect(claimed.map((c) => c.jti)).not.toContain(live.jti);
      expect(claimed.map((c) => c.jti)).not.toContain(noHandle.jti);
      expect(claimed.map((c) => c.jti)).not.toContain(done.jti);

      // Leased: nobody gets them again until the lease runs out; then they come back.
      expect(await store.credentials.claimDueForDownstreamRevocation(NOW + 59, 100, NOW + 120)).toEqual([]);
      const again = await store.credentials.claimDueForDownstreamRevocation(NOW + 60, 100, NOW + 120);
      expect(again.map((c) => c.jti)).toEqual(expect.arrayContaining(mine));
      for (const jti of claimed.map((c) => c.jti)) await store.credentials.markDownstreamRevoked(jti, NOW + 60);
      // Done for good: marked rows never come back; `live` falls due once it expires.
      const later = (await claimAll(store, NOW + 10_000, NOW + 20_000)).filter((j) => j !== live.jti);
      expect(later.filter((j) => claimed.some((c) => c.jti === j))).toEqual([]);
      for (const jti of [...later, live.jti]) await store.credentials.markDownstreamRevoked(jti, NOW + 10_000);
    });

    it('a revocation with a lease keeps claims off until the lease ends', async () => {
      const { store } = sut();
      const c = credential({ expiresAt: NOW + 600 });
      await store.audit.append([{ event: event(), credential: c }], seal);
      await store.credentials.revoke(c.jti, NOW, { leaseUntil: NOW + 300, audit: { events: [event()], seal } });
      expect(await store.credentials.claimDueForDownstreamRevocation(NOW + 1, 100, NOW + 61)).toEqual([]);
      const after = await store.credentials.claimDueForDownstreamRevocation(NOW + 300, 100, NOW + 360);
      expect(after.map((x) => x.jti)).toEqual([c.jti]);
      await store.credentials.markDownstreamRevoked(c.jti, NOW + 300);
    });

    it('two store instances claiming at once split the due rows: each row goes to exactly one', async () => {
      const { store, second } = sut();
      const rows = Array.from({ length: 30 }, () => due());
      await store.audit.append(
        rows.map((c) => ({ event: event(), credential: c })),
        seal,
      );
      const other = second();
      try {
        const [a, b] = await Promise.all([claimAll(store, NOW, NOW + 60), claimAll(other, NOW, NOW + 60)]);
        const all = [...a, ...b];
        expect(new Set(all).size).toBe(all.length);
        const ours = new Set(rows.map((c) => c.jti));
        expect(all.filter((j) => ours.has(j)).sort()).toEqual([...ours].sort());
        for (const jti of all) await store.credentials.markDownstreamRevoked(jti, NOW);
      } finally {
        await other.close();
      }
    });
  });
}
