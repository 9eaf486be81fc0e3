import type { AgentRecord } from '../model/agent.js';
import type { KeyRecord } from '../model/key.js';
import type { Store } from '../store/port.js';
import type { ChainProblem } from './verify-chain.js';

/** Most rows of one type read for a cross-check; far above any real count of keys or agents. */
const MAX_ROWS = 1_000_000;

/**
 * Cross-checks the state that decides access against the log: every signing key and agent the
 * database holds must have the audit rows that created (and revoked) it, unless retention pruned
 * rows from before it existed. A log that was emptied or cut short while the state stayed — the
 * attack signed checkpoints alone cannot see once they are cut too — fails here.
 */
export async function verifyStateAgainstLog(store: Store): Promise<ChainProblem | null> {
  const [keys, agents, head] = await Promise.all([store.keys.list(), store.agents.list(), store.audit.head()]);
  if (!head) {
    if (keys.length === 0 && agents.length === 0) return null;
    return {
      seq: 1,
      kind: 'missing',
      detail: `the log is empty but the database holds ${keys.length} signing key(s) and ${agents.length} agent(s): rows were deleted`,
    };
  }
  const [first] = await store.audit.query({ order: 'asc', limit: 1 });
  // Rows older than the first retained one may have been pruned by retention (down to a signed anchor).
  const prunedBefore = first && first.seq > 1 ? first.time : Number.NEGATIVE_INFINITY;
  const seen = async (type: string, field: 'kid' | 'agent'): Promise<Set<string>> =>
    new Set((await store.audit.query({ type, limit: MAX_ROWS })).map((row) => row[field]).filter((v): v is string => v !== null));
  const [keysCreated, keysRevoked, agentsCreated, agentsRevoked] = await Promise.all([
    seen('key.created', 'kid'),
    seen('key.revoked', 'kid'),
    seen('agent.created', 'agent'),
    seen('agent.revoked', 'agent'),
  ]);
  const missing = (what: string): ChainProblem => ({
    seq: head.seq,
    kind: 'missing',
    detail: `${what}, but the log has no row for it: rows were deleted or the log was cut short`,
  });
  const recorded = (createdAtSeconds: number): boolean => createdAtSeconds * 1000 >= prunedBefore;
  for (const key of keys as KeyRecord[]) {
    if (recorded(key.createdAt) && !keysCreated.has(key.kid)) return missing(`signing key ${key.kid} exists (${key.state})`);
    if (key.revokedAt !== null && recorded(key.revokedAt) && !keysRevoked.has(key.kid)) return missing(`signing key ${key.kid} is revoked`);
  }
  for (const agent of agents as AgentRecord[]) {
    if (recorded(agent.createdAt) && !agentsCreated.has(agent.name)) return missing(`agent "${agent.name}" exists`);
    if (agent.revokedAt !== null && recorded(agent.revokedAt) && !agentsRevoked.has(agent.name))
      return missing(`agent "${agent.name}" is revoked`);
  }
  return null;
}
