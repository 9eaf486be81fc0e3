import { thumbprint } from '../keys/jwk.js';
import type { AgentRecord } from '../model/agent.js';
import type { AgentKeyRecord } from '../model/agent-key.js';
import type { AuditRow, AuditType } from '../model/audit.js';
import type { KeyRecord, KeyState } from '../model/key.js';
import { applySecretFact, SECRET_STATE_TYPES, type SecretPathFacts } from './secret-facts.js';

/** What the audit log says about one agent record. */
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
 * digest, revocation, require_dpop and public keys, each signing key's latest state, and each
 * stored secret's versions (secret-facts.ts). Built by applying the log's agent, key and secret
 * rows in seq order; compared with the tables by the server (state-guard.ts) and by `audit
 * verify` (verify-state.ts).
 */
export interface StateFacts {
  /** By agent record id (rows from before ids existed name the record by its name). */
  readonly agents: Map<string, AgentFacts>;
  /** The id of each name's latest record: what a row without an id (older rows) refers to. */
  readonly latest: Map<string, string>;
  readonly keys: Map<string, KeyState>;
  /** By secret path. */
  readonly secrets: Map<string, SecretPathFacts>;
}

/** The row types that carry access-deciding state. */
export const STATE_TYPES: readonly AuditType[] = [
  'agent.created',
  'agent.updated',
  'agent.revoked',
  'agent.key_added',
  'agent.key_removed',
  'key.created',
  'key.activated',
  'key.retired',
  'key.revoked',
  ...SECRET_STATE_TYPES,
];

export const emptyFacts = (): StateFacts => ({ agents: new Map(), latest: new Map(), keys: new Map(), secrets: new Map() });

/** Applies one row (in seq order). */
export function applyFact(facts: StateFacts, row: AuditRow): void {
  if (row.type.startsWith('secret.')) {
    applySecretFact(facts.secrets, row);
    return;
  }
  const details = row.details ?? {};
  const named = typeof details['agent_id'] === 'string' ? details['agent_id'] : undefined;
  if (row.type === 'agent.created' && row.agent) {
    const id = named ?? row.agent;
    facts.agents.set(id, {
      ...readFacts(details),
      revoked: false,
      requireDpop: details['require_dpop'] === true,
      // A (re-)created agent starts with exactly the keys its row names.
      keys: new Set(Array.isArray(details['keys']) ? details['keys'].filter((k): k is string => typeof k === 'string') : []),
    });
    facts.latest.set(row.agent, id);
    return;
  }
  if ((row.type === 'agent.key_added' || row.type === 'agent.key_removed') && row.agent) {
    // As in the store, whether or not the record is revoked (a revoked agent's keys may still be removed).
    const agent = facts.agents.get(named ?? facts.latest.get(row.agent) ?? row.agent);
    const jkt = details['jkt'];
    if (!agent || typeof jkt !== 'string') return;
    if (row.type === 'agent.key_added') agent.keys.add(jkt);
    else agent.keys.delete(jkt);
    return;
  }
  if ((row.type === 'agent.updated' || row.type === 'agent.revoked') && row.agent) {
    const agent = facts.agents.get(named ?? facts.latest.get(row.agent) ?? row.agent);
    // As in the store: an update of a revoked record changes nothing; keys and require_dpop stay.
    if (!agent || agent.revoked) return;
    if (row.type === 'agent.revoked') agent.revoked = true;
    else Object.assign(agent, readFacts(details));
    return;
  }
  if (!row.kid) return;
  const state = KEY_STATE_AFTER[row.type] ?? (row.type === 'key.created' ? (details['state'] as KeyState | undefined) : undefined);
  if (state) facts.keys.set(row.kid, state);
}

/** The facts an `agent.updated` row may change (keys and require_dpop are set at creation only). */
function readFacts(details: Readonly<Record<string, unknown>>): Pick<AgentFacts, 'grants' | 'expiresAt' | 'tokenSha256'> {
  return {
    grants: canonicalGrants((details['grants'] as string[] | undefined) ?? []),
    expiresAt: (details['expires_at'] as number | null | undefined) ?? null,
    tokenSha256: typeof details['token_sha256'] === 'string' ? details['token_sha256'] : null,
  };
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
  const known = facts.agents.get(agent.id);
  if (!known) return agent.createdAt * 1000 < prunedBefore ? null : 'the log has no agent.created row for it';
  if (known.revoked && agent.revokedAt === null) return 'the log records its revocation but the row says active';
  if (!known.revoked && agent.revokedAt !== null) return 'the row says revoked but the log records no revocation';
  if (known.grants !== rowGrants(agent)) return 'its grants differ from the log';
  if (known.expiresAt !== agent.expiresAt) return 'its expiry differs from the log';
  if (known.tokenSha256 !== null && known.tokenSha256 !== agent.tokenHash) return 'its token digest differs from the log';
  if (known.requireDpop !== (agent.requireDpop === true)) return 'its require_dpop differs from the log';
  return null;
}

/**
 * What is wrong with an agent's stored public keys (those held under its name) against the log,
 * or null: each key must hash to its thumbprint (a swapped `x` would let another key in), and the
 * set must be exactly the one the log's `agent.created` / `agent.key_added` / `agent.key_removed`
 * rows leave. The keys under a name belong to its newest record (creating one drops the keys an
 * older one left), so an older record of the name is not judged by them; nor is an agent whose
 * creation retention pruned (its key rows may be gone too).
 */
export function agentKeysProblem(facts: StateFacts, agent: AgentRecord, keys: readonly AgentKeyRecord[]): string | null {
  for (const key of keys) if (thumbprint(key.x) !== key.jkt) return `its key ${key.jkt} does not match its thumbprint`;
  const newest = facts.latest.get(agent.name);
  if (newest !== undefined && newest !== agent.id) return null;
  const known = facts.agents.get(agent.id);
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

/**
 * A row's grants as canonicalGrants renders them, once per record: the server checks the agent
 * on every request, and the SQLite store hands out the same frozen record until it changes.
 */
const rowGrantsCache = new WeakMap<AgentRecord, string>();
function rowGrants(agent: AgentRecord): string {
  let grants = rowGrantsCache.get(agent);
  if (grants === undefined) {
    grants = canonicalGrants(agent.grants.map((g) => `${g.backend}:${g.scope}`));
    rowGrantsCache.set(agent, grants);
  }
  return grants;
}

/** Grants as one comparable string: sorted, deduplicated `backend:scope`. */
const canonicalGrants = (grants: readonly string[]): string => [...new Set(grants)].sort().join('\n');
