import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSealer } from '../../../src/audit/chain.js';
import { signCheckpoint } from '../../../src/audit/checkpoint.js';
import { GENESIS_HASH } from '../../../src/model/audit.js';
import type { PrunedRange, PruneRecord } from '../../../src/store/port.js';
import { agent, allRows, credential, event, failingSealer, type StoreUnderTest, seal, unique } from '../fixture.js';

const signer = { kid: 'contract-signer', publicX: '', sign: () => Buffer.alloc(64, 7) };

/** The audit log: a linear chain, atomic with what it records, checkpoints, signing key, retention. */
export function auditContract(sut: () => StoreUnderTest): void {
  describe('audit log', () => {
    it('an empty log has no head and nothing to checkpoint', async () => {
      const { store } = sut();
      expect(await store.audit.head()).toBeUndefined();
      expect(await store.audit.checkpoint((h) => signCheckpoint(signer, h, 1))).toBeUndefined();
      expect(await store.audit.query({ limit: 10 })).toEqual([]);
      expect(await store.audit.firstSeqFrom(0)).toBeUndefined();
    });

    it('append numbers rows from last+1, links each to the previous hash, and returns what it stored', async () => {
      const { store } = sut();
      const rows = await store.audit.append(
        [event({ agent: 'x' }), event({ details: { nested: { b: 1, a: [1, 'two', null] } }, scopes: ['read', 'files:*'] }), event()].map(
          (e) => ({
            event: e,
          }),
        ),
        seal,
      );
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(rows[0]!.prevHash).toBe(GENESIS_HASH);
      expect(rows[1]!.prevHash).toBe(rows[0]!.hash);
      for (const row of rows) expect(row).toMatchObject(seal(row));
      expect(await allRows(store)).toEqual(rows);
      expect(await store.audit.head()).toEqual({ seq: 3, hash: rows[2]!.hash });
      const more = await store.audit.append([{ event: event() }], seal);
      expect(more[0]).toMatchObject({ seq: 4, prevHash: rows[2]!.hash });
    });

    it('a batch is one transaction: a row that fails takes its credential, state changes and batch-mates with it', async () => {
      const { store } = sut();
      const head = await store.audit.head();
      const c = credential();
      const a = agent();
      const err = await store.audit
        .append(
          [
            { event: event({ type: 'credential.issued', jti: c.jti }), credential: c },
            { event: event(), change: { kind: 'agent.create', agent: a } },
            { event: event() },
          ],
          failingSealer(2),
        )
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(await store.audit.head()).toEqual(head);
      expect(await store.credentials.get(c.jti)).toBeUndefined();
      expect(await store.agents.byName(a.name)).toBeUndefined();
    });

    it('keyUsage names each audit key that sealed rows, with its first and last seq and count', async () => {
      const { store } = sut();
      const other = createSealer({ id: 'contract-other', key: randomBytes(32) });
      const head = (await store.audit.head())?.seq ?? 0;
      const before = new Map((await store.audit.keyUsage()).map((u) => [u.keyId, u]));
      await store.audit.append([{ event: event() }, { event: event() }], other);
      await store.audit.append([{ event: event() }], seal);
      await store.audit.append([{ event: event() }], other);
      const usage = await store.audit.keyUsage();
      expect(usage.find((u) => u.keyId === 'contract-other')).toEqual({
        keyId: 'contract-other',
        firstSeq: head + 1,
        lastSeq: head + 4,
        rows: 3,
      });
      expect(usage.find((u) => u.keyId === 'contract')).toEqual({
        keyId: 'contract',
        firstSeq: before.get('contract')?.firstSeq ?? head + 3,
        lastSeq: head + 3,
        rows: (before.get('contract')?.rows ?? 0) + 1,
      });
      expect(usage.map((u) => u.firstSeq)).toEqual([...usage.map((u) => u.firstSeq)].sort((x, y) => x - y));
    });

    it('query filters by every column it offers, in both orders, with a limit', async () => {
      const { store } = sut();
      const tag = unique('q');
      const t0 = 1_600_000_000_000; // before every other row: retention (below) prunes it with them
      const written = await store.audit.append(
        [
          event({ time: t0, backend: `${tag}-b`, agent: `${tag}-a`, type: 'credential.issued', jti: `${tag}-1` }),
          event({ time: t0 + 1, backend: `${tag}-b`, agent: `${tag}-z`, type: 'credential.denied', outcome: 'denied' }),
          event({ time: t0 + 2, backend: `${tag}-c`, agent: `${tag}-a`, type: 'credential.issued', outcome: 'error' }),
        ].map((e) => ({ event: e })),
        seal,
      );
      const seqs = async (filter: Parameters<typeof store.audit.query>[0]) => (await store.audit.query(filter)).map((r) => r.seq);
      const [s1, s2, s3] = written.map((r) => r.seq);
      expect(await seqs({ backend: `${tag}-b`, limit: 10 })).toEqual([s2, s1]);
      expect(await seqs({ backend: `${tag}-b`, limit: 10, order: 'asc' })).toEqual([s1, s2]);
      expect(await seqs({ agent: `${tag}-a`, limit: 10 })).toEqual([s3, s1]);
      expect(await seqs({ agent: `${tag}-a`, type: 'credential.issued', outcome: 'success', limit: 10 })).toEqual([s1]);
      expect(await seqs({ jti: `${tag}-1`, limit: 10 })).toEqual([s1]);
      expect(await seqs({ outcome: 'denied', backend: `${tag}-b`, limit: 10 })).toEqual([s2]);
      expect(await seqs({ since: t0 + 1, until: t0 + 1, limit: 10 })).toEqual([s2]);
      expect(await seqs({ since: t0, limit: 1 })).toHaveLength(1);
      expect(await seqs({ afterSeq: s2!, order: 'asc', limit: 10 })).toEqual([s3]);
      expect(await store.audit.firstSeqFrom(t0 + 1)).toBe(s2);
    });

    it('checkpoints: only when the head moved, must name a real row, ranged reads', async () => {
      const { store } = sut();
      const made = await store.audit.checkpoint((h) => signCheckpoint(signer, h, 5));
      const head = await store.audit.head();
      expect(made).toMatchObject({ seq: head!.seq, hash: head!.hash, keyId: signer.kid, time: 5 });
      expect(await store.audit.checkpoint((h) => signCheckpoint(signer, h, 6))).toBeUndefined();
      await store.audit.append([{ event: event() }], seal);
      const second = await store.audit.checkpoint((h) => signCheckpoint(signer, h, 7));
      expect(second?.seq).toBe(head!.seq + 1);
      expect(await store.audit.checkpoints()).toEqual([made, second]);
      expect(await store.audit.checkpoints({ fromSeq: head!.seq + 1 })).toEqual([second]);
      expect(await store.audit.checkpoints({ toSeq: head!.seq })).toEqual([made]);
    });

    it('the audit signing key is created once, even by racing store instances, and only its sealed form can change', async () => {
      const { store, second } = sut();
      const other = second();
      try {
        let created = 0;
        const record = () => {
          created++;
          return { kid: unique('ask'), publicX: 'x', sealedPrivate: Buffer.from(`sealed-${created}`), kekId: 'kek-1', createdAt: 1 };
        };
        const [a, b] = await Promise.all([store.audit.ensureSigningKey(record), other.audit.ensureSigningKey(record)]);
        expect(a.kid).toBe(b.kid);
        expect(created).toBe(1);
        expect((await store.audit.ensureSigningKey(record)).kid).toBe(a.kid);
        await store.audit.resealSigningKey(a.kid, Buffer.from('resealed'), 'kek-2');
        const [key] = await store.audit.signingKeys();
        expect({ ...key, sealedPrivate: Buffer.from(key!.sealedPrivate).toString() }).toEqual({
          ...a,
          sealedPrivate: 'resealed',
          kekId: 'kek-2',
        });
      } finally {
        await other.close();
      }
    });

    it('retention: deletes below a checkpointed row only, with its record in the same transaction; the rest still appends', async () => {
      const { store } = sut();
      await store.audit.append([{ event: event() }, { event: event() }], seal);
      const anchor = await store.audit.checkpoint((h) => signCheckpoint(signer, h, 8));
      await store.audit.append([{ event: event() }], seal);
      const notAnchor = (await store.audit.head())!.seq;
      const ranges: PrunedRange[] = [];
      const record = (sealer = seal): PruneRecord => ({
        event: (range) => {
          ranges.push(range);
          return event({ type: 'audit.pruned', details: { ...range } });
        },
        seal: sealer,
      });
      await expect(store.audit.pruneBelow(notAnchor, record())).rejects.toThrow(/gate|checkpoint/);
      const first = (await allRows(store))[0]!.seq;
      // A record the log refuses takes the step's delete with it.
      await expect(store.audit.pruneBelow(anchor!.seq, record(failingSealer(0)))).rejects.toMatchObject({
        code: 'ERR_AUDIT_UNAVAILABLE',
      });
      expect((await allRows(store))[0]!.seq).toBe(first);
      expect((await store.audit.head())!.seq).toBe(notAnchor);

      expect(await store.audit.pruneBelow(anchor!.seq, record())).toBe(anchor!.seq - first);
      expect(ranges.at(-1)).toEqual({ fromSeq: first, anchorSeq: anchor!.seq, deleted: anchor!.seq - first });
      const left = await allRows(store);
      expect(left[0]!.seq).toBe(anchor!.seq);
      expect(left.at(-1)).toMatchObject({ seq: notAnchor + 1, type: 'audit.pruned', details: ranges.at(-1) });
      expect((await store.audit.checkpoints())[0]!.seq).toBe(anchor!.seq);
      // Nothing left below the anchor (another process got there first): no delete, no record.
      expect(await store.audit.pruneBelow(anchor!.seq, record())).toBe(0);
      expect((await store.audit.head())!.seq).toBe(notAnchor + 1);
      const [next] = await store.audit.append([{ event: event() }], seal);
      expect(next).toMatchObject({ seq: notAnchor + 2, prevHash: left.at(-1)!.hash });
    });
  });
}
