import type { Logger } from '../_utils/logger.js';
import { CreddyError } from '../errors.js';
import type { AgentRecord } from '../model/agent.js';
import type { AgentKeyRecord } from '../model/agent-key.js';
import type { AuditKeyUsage, AuditRow, AuditType } from '../model/audit.js';
import type { KeyRecord } from '../model/key.js';
import type { SecretVersionRecord } from '../model/secret.js';
import type { SecretSelector, Store } from '../store/port.js';
import { chainHash } from './chain.js';
import type { AuditKeySet } from './key.js';
import { secretReadProblem } from './secret-facts.js';
import { agentKeysProblem, agentProblem, applyFact, emptyFacts, keyProblem, STATE_TYPES } from './state-facts.js';
import { describeKeyUsage, describeUnconfigured, noteKeyUsage, UNCONFIGURED_KEY_FIX } from './unconfigured-keys.js';

/**
 * Ties the rows that decide access to the audit log, which an attacker with the database file
 * cannot edit without the audit key: an agent's grants, expiry, token digest, revocation,
 * require_dpop and public keys, each signing key's state, and which version of each stored secret
 * is readable, are re-derived from their HMAC-checked audit rows and compared with the tables
 * where they are used. An edited or rolled-back row is refused (fail closed, logged).
 */
export interface StateGuard {
  /** Reads the state rows appended since the last call (the server does it every second). */
  refresh(): Promise<void>;
  /**
   * Throws unless the agent row (and, for a key-pair agent, the public keys it was checked
   * against) matches the log; re-reads the log once for an agent it has not seen.
   */
  checkAgent(agent: AgentRecord, keys?: readonly AgentKeyRecord[]): Promise<void>;
  /**
   * Reads the key rows with `load`, then the log, and returns the rows with those that match it;
   * the others are logged and left out. A disagreement is judged again on fresh reads of both
   * before any row is refused (see VET_ATTEMPTS).
   */
  vetKeys(load: () => Promise<KeyRecord[]>): Promise<VettedKeys>;
  /**
   * Reads the secret versions readable for `selector` (`read`) and returns them if they are what
   * the log says is readable; on a mismatch, reads the log and the store again (a write by
   * another process since the last refresh), then throws ERR_SECRET_INTEGRITY.
   */
  readSecrets(selector: SecretSelector, read: () => Promise<SecretVersionRecord[]>): Promise<SecretVersionRecord[]>;
  /**
   * Reads the log and returns ERR_CONFIG_INVALID, naming the key ids and the fix, if any row that
   * records state was sealed by an audit key that is not configured (see unconfigured-keys.ts);
   * undefined otherwise. What such rows record is not trusted either way.
   */
  unconfiguredKeys(): Promise<CreddyError | undefined>;
}

/** The key rows as read, and those of them that match the audit log. */
export interface VettedKeys {
  readonly loaded: KeyRecord[];
  readonly usable: KeyRecord[];
}

/** Reads of the log and the store after a secret mismatch before it is refused: racing writes settle. */
const SECRET_REREADS = 2;

/**
 * Rows and log are two reads, not one snapshot: a key transition (which commits its rows and its
 * audit rows together) that commits between them, or between the log's per-type queries, makes
 * them disagree for a moment although neither was touched. Found under load on three replicas:
 * the rotation committed after a replica read the rows and before it read the log, the replica
 * refused its current and next keys as tampered, served a JWKS without them and answered 503
 * until its next refresh. A tampered row disagrees on every read; a race does not, unless a
 * transition commits inside each of these windows in a row.
 */
const VET_ATTEMPTS = 3;

const PAGE = 1000;

export function createStateGuard(deps: { store: Store; keys: AuditKeySet; logger: Logger }): StateGuard {
  const { store, keys, logger } = deps;
  const facts = emptyFacts();
  const lastSeq = new Map<AuditType, number>();
  /** Epoch ms of the oldest retained row once retention pruned the log; older state has no events. */
  let prunedBefore = Number.NEGATIVE_INFINITY;
  let refreshing: Promise<void> | undefined;

  /** State rows sealed by a key that is not configured, by key id: they change nothing either. */
  const unconfigured = new Map<string, AuditKeyUsage>();
  const unconfiguredIds = (): { unconfigured_audit_keys?: string[] } =>
    unconfigured.size === 0 ? {} : { unconfigured_audit_keys: [...unconfigured.keys()] };

  // A row the audit key did not seal (an insert by someone with the file) changes nothing.
  const trusted = (row: AuditRow): boolean => {
    const key = keys.byId(row.keyId);
    if (!key) {
      // Not tampering as far as anyone can tell: a key missing from the configuration (logged below).
      noteKeyUsage(unconfigured, row);
      return false;
    }
    if (chainHash(key, row) === row.hash) return true;
    logger.error('audit row failed its HMAC check; its state change is not trusted', { seq: row.seq, type: row.type });
    return false;
  };

  /**
   * The rows of `type` after the last one read, up to `upTo`; `lastSeq` moves only once all are
   * applied.
   */
  const readType = async (type: AuditType, upTo: number): Promise<AuditRow[]> => {
    const rows: AuditRow[] = [];
    for (let after = lastSeq.get(type) ?? 0; ; after = rows.at(-1)!.seq) {
      const page = await store.audit.query({ type, afterSeq: after, order: 'asc', limit: PAGE });
      const within = page.filter((row) => row.seq <= upTo);
      rows.push(...within);
      if (page.length < PAGE || within.length < page.length) return rows;
    }
  };

  // The types are read side by side: one after another cost a round trip each on PostgreSQL, and
  // the keyring waits for this read before it serves a new key (issue 9: within 1 s everywhere).
  // A read that fails applies nothing and moves no `lastSeq`, so the next one reads it all again.
  //
  // Every type is read up to the head as it was before any of them: the types' queries are not
  // one snapshot, and a row committed meanwhile (a rotation after the creation it follows) must
  // not be applied before an earlier row of a type whose query ran first — the next refresh would
  // apply them out of order. Every row up to a visible head is committed: appends take the
  // chain's lock until they commit.
  const readNew = async (): Promise<void> => {
    const upTo = (await store.audit.head())?.seq ?? 0;
    const [[first], ...byType] = await Promise.all([
      store.audit.query({ order: 'asc', limit: 1 }),
      ...STATE_TYPES.map((type) => readType(type, upTo)),
    ]);
    prunedBefore = first && first.seq > 1 ? first.time : Number.NEGATIVE_INFINITY;
    const known = new Set(unconfigured.keys());
    for (const row of byType.flat().sort((a, b) => a.seq - b.seq)) if (trusted(row)) applyFact(facts, row);
    // Once per key id, not per row: a forgotten previous key would otherwise log every row it sealed.
    for (const [keyId, usage] of unconfigured)
      if (!known.has(keyId))
        logger.error('audit rows sealed by an audit key that is not configured; the state they record is not trusted', {
          key_id: keyId,
          rows: describeKeyUsage(usage),
          fix: UNCONFIGURED_KEY_FIX,
        });
    STATE_TYPES.forEach((type, i) => {
      const last = byType[i]!.at(-1);
      if (last) lastSeq.set(type, last.seq);
    });
  };

  const refresh = (): Promise<void> => (refreshing ??= readNew().finally(() => (refreshing = undefined)));

  return {
    refresh,
    async checkAgent(agent, keys) {
      const judge = () => agentProblem(facts, agent, prunedBefore) ?? (keys ? agentKeysProblem(facts, agent, keys) : null);
      let problem = judge();
      if (!problem) return;
      // Another process may have created, revoked or re-keyed it since the last refresh: judge on a
      // fresh read. A refresh already under way (the keyring's, every second) may have read the
      // log before this agent's row was committed: let it finish, then read again.
      await refreshing?.catch(() => {});
      await refresh();
      problem = judge();
      if (!problem) return;
      logger.error('agent row does not match the audit log; refused', { agent: agent.name, problem, ...unconfiguredIds() });
      if (facts.agents.get(agent.id)?.revoked) {
        throw new CreddyError('ERR_AGENT_REVOKED', `agent "${agent.name}" is revoked`, { details: { agent: agent.name } });
      }
      throw new CreddyError('ERR_UNAUTHENTICATED', 'agent record failed its integrity check', { details: { agent: agent.name } });
    },
    async vetKeys(load) {
      for (let attempt = 1; ; attempt++) {
        const loaded = await load();
        // The log must be read after the rows, so it holds every transition they show: a read
        // already under way may have started before them; let it finish, then read again.
        await refreshing?.catch(() => {});
        await refresh();
        const problems = new Map<string, string>();
        for (const key of loaded) {
          const problem = keyProblem(facts, key, prunedBefore);
          if (problem) problems.set(key.kid, problem);
        }
        if (problems.size === 0) return { loaded, usable: loaded };
        if (attempt < VET_ATTEMPTS) continue;
        for (const [kid, problem] of problems)
          logger.error('signing key row does not match the audit log; not used', { kid, problem, ...unconfiguredIds() });
        return { loaded, usable: loaded.filter((key) => !problems.has(key.kid)) };
      }
    },
    async readSecrets(selector, read) {
      let records = await read();
      let problem = secretReadProblem(facts.secrets, selector, records, prunedBefore);
      for (let n = 0; problem && n < SECRET_REREADS; n++) {
        // A secret written since the last refresh (the CLI, another replica): read the log, then the store.
        await refreshing?.catch(() => {});
        await refresh();
        records = await read();
        problem = secretReadProblem(facts.secrets, selector, records, prunedBefore);
      }
      if (!problem) return records;
      logger.error('secret version does not match the audit log; refused', { ...problem, ...unconfiguredIds() });
      throw new CreddyError('ERR_SECRET_INTEGRITY', `secret ${problem.path} failed its integrity check`, { details: { ...problem } });
    },
    async unconfiguredKeys() {
      await refresh();
      if (unconfigured.size === 0) return undefined;
      return new CreddyError(
        'ERR_CONFIG_INVALID',
        `${describeUnconfigured(unconfigured.values())}, so the agents, signing keys and secrets they record cannot be trusted; ${UNCONFIGURED_KEY_FIX}`,
        { details: { audit_key_ids: [...unconfigured.keys()] } },
      );
    },
  };
}
