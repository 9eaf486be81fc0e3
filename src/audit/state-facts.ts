import { thumbprint } from '../keys/jwk.js';
import type { AgentRecord } from '../model/agent.js';
import type { AgentKeyRecord } from '../model/agent-key.js';
import type { AuditRow, AuditType } from '../model/audit.js';
import type { KeyRecord, KeyState } from '../model/key.js';

/** What the audit log says about one agent. */
interface AgentFacts {
  grants: string;
  expiresAt: number | null;
  tokenSha256: string | null;
  revoked: boolean;
  requireDpop: boolean;
  /** Thumbprints of the agent's registered public keys (key-pair agents). */
  keys: Set<string>;
}

/**
 * The access-deciding state as the audit log records it: each agent's grants, expiry, token
 * digest, revocation, require_dpop and public keys, and each signing key's latest state. Built by applying the log's
 * agent and key rows in seq order; compared with the tables by the server (state-guard.ts) and
 * by `audit verify` (verify-state.ts).
 */
export interface StateFacts {
  readonly agents: Map<string, AgentFacts>;
  readonly keys: Map<string, KeyState>;
}

/** The row types that carry access-deciding state. */
export const STATE_TYPES: readonly AuditType[] = [
  'agent.created',
  'agent.revoked',
  'agent.key_added',
  'agent.key_removed',
  'key.created',
  'key.activated',
  'key.retired',
  'key.revoked',
];

export const emptyFacts = (): StateFacts => ({ agents: new Map(), keys: new Map() });

/** Applies one row (in seq order). */
export function applyFact(facts: StateFacts, row: AuditRow): void {
  const details = row.details ?? {};
  if (row.type === 'agent.created' && row.agent) {
    facts.agents.set(row.agent, {
      grants: canonicalGrants((details['grants'] as string[] | undefined) ?? []),
      expiresAt: (details['expires_at'] as number | null | undefined) ?? null,
      tokenSha256: typeof details['token_sha256'] === 'string' ? details['token_sha256'] : null,
      revoked: false,
      requireDpop: details['require_dpop'] === true,
      // A (re-)created agent starts with exactly the keys its row names.
      keys: new Set(Array.isArray(details['keys']) ? details['keys'].filter((k): k is string => typeof k === 'string') : []),
    });
    return;
  }
  if ((row.type === 'agent.key_added' || row.type === 'agent.key_removed') && row.agent) {
    const agent = facts.agents.get(row.agent);
    const jkt = details['jkt'];
    if (!agent || typeof jkt !== 'string') return;
    if (row.type === 'agent.key_added') agent.keys.add(jkt);
    else agent.keys.delete(jkt);
    return;
  }
  if (row.type === 'agent.revoked' && row.agent) {
    const agent = facts.agents.get(row.agent);
    if (agent) agent.revoked = true;
    return;
  }
  if (!row.kid) return;
  const state = KEY_STATE_AFTER[row.type] ?? (row.type === 'key.created' ? (details['state'] as KeyState | undefined) : undefined);
  if (state) facts.keys.set(row.kid, state);
}

const KEY_STATE_AFTER: Partial<Record<AuditType, KeyState>> = {
  'key.activated': 'current',
  'key.retired': 'retired',
  'key.revoked': 'revoked',
};

/**
 * What is wrong with an agent row against the log, or null. `prunedBefore` (epoch ms): rows
 * created before it may have lost their events to retention and are not judged by them.
 */
export function agentProblem(facts: StateFacts, agent: AgentRecord, prunedBefore: number): string | null {
  const known = facts.agents.get(agent.name);
  if (!known) return agent.createdAt * 1000 < prunedBefore ? null : 'the log has no agent.created row for it';
  if (known.revoked && agent.revokedAt === null) return 'the log records its revocation but the row says active';
  if (!known.revoked && agent.revokedAt !== null) return 'the row says revoked but the log records no revocation';
  if (known.grants !== canonicalGrants(agent.grants.map((g) => `${g.backend}:${g.scope}`))) return 'its grants differ from the log';
  if (known.expiresAt !== agent.expiresAt) return 'its expiry differs from the log';
  if (known.tokenSha256 !== null && known.tokenSha256 !== agent.tokenHash) return 'its token digest differs from the log';
  if (known.requireDpop !== (agent.requireDpop === true)) return 'its require_dpop differs from the log';
  return null;
}

/**
 * What is wrong with an agent's stored public keys against the log, or null: each key must hash
 * to its thumbprint (a swapped `x` would let another key in), and the set must be exactly the
 * one the log's `agent.created` / `agent.key_added` / `agent.key_removed` rows leave. An agent
 * whose creation retention pruned is not judged (its key rows may be gone too).
 */
export function agentKeysProblem(facts: StateFacts, agent: string, keys: readonly AgentKeyRecord[]): string | null {
  for (const key of keys) if (thumbprint(key.x) !== key.jkt) return `its key ${key.jkt} does not match its thumbprint`;
  const known = facts.agents.get(agent);
  if (!known) return null;
  const stored = new Set(keys.map((k) => k.jkt));
  const extra = [...stored].find((jkt) => !known.keys.has(jkt));
  if (extra) return `its key ${extra} is not in the log`;
  const missing = [...known.keys].find((jkt) => !stored.has(jkt));
  return missing ? `its key ${missing}, which the log records, is missing` : null;
}

/** What is wrong with a signing-key row against the log, or null. */
export function keyProblem(facts: StateFacts, key: KeyRecord, prunedBefore: number): string | null {
  if (thumbprint(key.publicX) !== key.kid) return 'its public key does not match its kid';
  const logged = facts.keys.get(key.kid);
  if (logged === undefined) return key.createdAt * 1000 < prunedBefore ? null : 'the log has no key.created row for it';
  return logged === key.state ? null : `its state ${key.state} differs from the log's ${logged}`;
}

/** Grants as one comparable string: sorted, deduplicated `backend:scope`. */
const canonicalGrants = (grants: readonly string[]): string => [...new Set(grants)].sort().join('\n');
