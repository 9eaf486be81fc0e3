import { describe, expect, it } from 'vitest';
import { GENESIS_HASH } from '../../../src/model/audit.js';
import { allRows, credential, event, type StoreUnderTest, seal } from '../fixture.js';

/** What holds whatever the callers do: one linear chain across writers, append-only tables. */
export function guardContract(sut: () => StoreUnderTest): void {
  describe('guarantees', () => {
    it('two store instances appending at once keep one linear chain, every credential with its row', async () => {
      const { store, second } = sut();
      const other = second();
      try {
        const write = async (s: StoreUnderTest['store'], n: number) => {
          const jtis: string[] = [];
          for (let i = 0; i < n; i++) {
            const c = credential({ revocationHandle: null });
            jtis.push(c.jti);
            await s.audit.append([{ event: event({ type: 'credential.issued', jti: c.jti }), credential: c }, { event: event() }], seal);
          }
          return jtis;
        };
        const [a, b] = await Promise.all([write(store, 40), write(other, 40)]);
        const rows = await allRows(store);
        const first = rows[0]!;
        rows.forEach((row, i) => {
          expect(row.seq).toBe(first.seq + i);
          if (i > 0) expect(row.prevHash).toBe(rows[i - 1]!.hash);
          expect(row).toMatchObject(seal(row));
        });
        if (first.seq === 1) expect(first.prevHash).toBe(GENESIS_HASH);
        const issued = new Set(rows.filter((r) => r.type === 'credential.issued').map((r) => r.jti));
        for (const jti of [...a, ...b]) {
          expect(issued.has(jti)).toBe(true);
          expect(await store.credentials.get(jti)).toBeDefined();
        }
      } finally {
        await other.close();
      }
    });

    it('audit rows refuse UPDATE, DELETE, wholesale deletion, and inserts that fork or skip', async () => {
      const sutNow = sut();
      const { store, exec } = sutNow;
      await store.audit.append([{ event: event() }, { event: event() }], seal);
      const before = await allRows(store);
      const head = before.at(-1)!;
      const refused = /append-only/;
      await expect(exec(`UPDATE audit_events SET actor = 'mallory' WHERE seq = ${head.seq}`)).rejects.toThrow(refused);
      await expect(exec(`DELETE FROM audit_events WHERE seq = ${head.seq}`)).rejects.toThrow(refused);
      await expect(exec('DELETE FROM audit_events')).rejects.toThrow(refused);
      if (sutNow.engine === 'postgres') await expect(exec('TRUNCATE audit_events')).rejects.toThrow(refused);
      const insert = (seq: number, prev: string) =>
        exec(
          `INSERT INTO audit_events (seq, time, type, outcome, actor, prev_hash, hash, key_id) VALUES (${seq}, 1, 'agent.created', 'success', 'x', '${prev}', '${'f'.repeat(64)}', 'k')`,
        );
      await expect(insert(head.seq, before.at(-2)!.hash)).rejects.toThrow(); // reuses a seq
      await expect(insert(head.seq + 2, head.hash)).rejects.toThrow(refused); // skips one
      await expect(insert(head.seq + 1, GENESIS_HASH)).rejects.toThrow(refused); // forks
      expect(await allRows(store)).toEqual(before);
    });

    it('checkpoints, the signing key and the prune gate refuse tampering', async () => {
      const sutNow = sut();
      const { exec } = sutNow;
      await expect(exec("UPDATE audit_checkpoints SET hash = 'x'")).rejects.toThrow(/append-only/);
      await expect(exec('DELETE FROM audit_checkpoints')).rejects.toThrow(/append-only/);
      await expect(
        exec("INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES (1, 'nope', 1, 'k', 's')"),
      ).rejects.toThrow(/checkpoint/);
      await expect(exec("UPDATE audit_signing_keys SET public_x = 'evil'")).rejects.toThrow(/immutable/);
      await expect(exec('DELETE FROM audit_signing_keys')).rejects.toThrow(/cannot be deleted/);
      await expect(exec('UPDATE audit_prune_gate SET below_seq = 2')).rejects.toThrow(/gate/);
      await expect(exec('DELETE FROM audit_prune_gate')).rejects.toThrow(/exactly one row/);
      if (sutNow.engine === 'postgres') {
        for (const table of ['audit_checkpoints', 'audit_signing_keys', 'audit_prune_gate']) {
          await expect(exec(`TRUNCATE ${table}`)).rejects.toThrow(/append-only|cannot be deleted|exactly one row/);
        }
      }
    });

    it('ping answers; close is idempotent', async () => {
      const { second } = sut();
      const other = second();
      await other.ping();
      await other.close();
      await other.close();
    });
  });
}
