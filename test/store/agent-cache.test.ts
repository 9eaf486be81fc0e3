import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/_utils/ids.js';
import { createSealer } from '../../src/audit/chain.js';
import { type AgentRecord, agentStatus } from '../../src/model/agent.js';
import { auditEvent } from '../../src/model/audit.js';
import type { Store } from '../../src/store/port.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers/harness.js';

/**
 * The SQLite store caches bearer lookups; whoever changes an agent — this store, another
 * connection, another process — the next lookup must see it (a revoked agent's next request
 * fails).
 */
describe('agent cache of the SQLite store', () => {
  let dir: { dir: string; cleanup: () => void };
  let path: string;
  let store: Store;
  let other: Database.Database;
  const seal = createSealer({ id: 'test', key: randomBytes(32) });
  const token = `ckr_${randomBytes(32).toString('base64url')}`;
  const agent: AgentRecord = {
    id: 'bot',
    name: 'bot',
    tokenHash: sha256Hex(token),
    grants: [{ backend: 'demo', scope: 'read' }],
    createdAt: 1_700_000_000,
    expiresAt: null,
    revokedAt: null,
  };
  const event = () => auditEvent({ time: Date.now(), type: 'agent.revoked', outcome: 'success', actor: 'cli', agent: 'bot' });

  beforeEach(async () => {
    dir = tempDir('creddy-agent-cache-');
    path = join(dir.dir, 'creddy.db');
    store = createSqliteStore(path);
    await store.audit.append([{ event: { ...event(), type: 'agent.created' }, change: { kind: 'agent.create', agent } }], seal);
    other = new Database(path);
  });
  afterEach(async () => {
    other.close();
    await store.close();
    dir.cleanup();
  });

  it('serves repeated lookups from memory, frozen', async () => {
    const first = await store.agents.byTokenHash(agent.tokenHash);
    expect(first).toEqual(agent);
    expect(await store.agents.byTokenHash(agent.tokenHash)).toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first!.grants) && Object.isFrozen(first!.grants[0])).toBe(true);
    expect(await store.agents.byTokenHash(sha256Hex('ckr_unknown'))).toBeUndefined();
  });

  it('sees a revocation committed by another connection at the next lookup', async () => {
    expect(agentStatus((await store.agents.byTokenHash(agent.tokenHash))!, 1_800_000_000)).toBe('active');
    other.prepare('UPDATE agents SET revoked_at = ? WHERE name = ?').run(1_700_000_100, 'bot');
    expect((await store.agents.byTokenHash(agent.tokenHash))?.revokedAt).toBe(1_700_000_100);
  });

  it('sees a revocation made through this store at the next lookup', async () => {
    await store.agents.byTokenHash(agent.tokenHash);
    await store.audit.append([{ event: event(), change: { kind: 'agent.revoke', name: 'bot', at: 1_700_000_200 } }], seal);
    expect((await store.agents.byTokenHash(agent.tokenHash))?.revokedAt).toBe(1_700_000_200);
  });

  it('once another connection drops the counter’s triggers, reads every lookup through', async () => {
    await store.agents.byTokenHash(agent.tokenHash);
    for (const name of other
      .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'agents_version_on_%'")
      .pluck()
      .all())
      other.exec(`DROP TRIGGER "${name as string}"`);
    // No trigger moves the counter now: only the schema version says the cache cannot be trusted.
    other.prepare('UPDATE agents SET revoked_at = ? WHERE name = ?').run(1_700_000_500, 'bot');
    expect((await store.agents.byTokenHash(agent.tokenHash))?.revokedAt).toBe(1_700_000_500);
  });

  it('without its version counter, reads every lookup through', async () => {
    await store.agents.byTokenHash(agent.tokenHash);
    other.exec('DELETE FROM agents_version');
    other.prepare('UPDATE agents SET revoked_at = ? WHERE name = ?').run(1_700_000_300, 'bot');
    expect((await store.agents.byTokenHash(agent.tokenHash))?.revokedAt).toBe(1_700_000_300);
    other.prepare('UPDATE agents SET expires_at = ? WHERE name = ?').run(1_700_000_400, 'bot');
    expect((await store.agents.byTokenHash(agent.tokenHash))?.expiresAt).toBe(1_700_000_400);
  });
});
