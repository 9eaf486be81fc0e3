import type { AuditRow } from '../model/audit.js';
import type { Store } from '../store/port.js';
import { secretRowsProblem } from './secret-facts.js';
import { agentKeysProblem, agentProblem, applyFact, emptyFacts, keyProblem, STATE_TYPES } from './state-facts.js';
import type { ChainProblem } from './verify-chain.js';

/** Most rows of one type read for a cross-check; far above any real count of keys, agents or revocations. */
const MAX_ROWS = 1_000_000;

/**
 * Cross-checks the state that decides access against the (already verified) log: every signing
 * key and agent the database holds must match what its rows record — created, grants, expiry,
 * token digest, revoked, require_dpop, public keys, key state — every stored secret version must be
 * the one its `secret.*` rows record (secret-facts.ts: current or replaced, grace, deletion, sealed
 * value) — and every revocation the log records must still be in the credentials table. Rows
 * older than retention's cut are judged only where their events remain. An emptied or shortened
 * log beside intact tables, an edited agent, key or secret row, or a credential row un-revoked or
 * restored from an older copy, is reported with the row named.
 */
export async function verifyStateAgainstLog(store: Store): Promise<ChainProblem | null> {
  const [keys, agents, agentKeys, head] = await Promise.all([
    store.keys.list(),
    store.agents.list(),
    store.agentKeys.list(),
    store.audit.head(),
  ]);
  if (!head) {
    const secrets = (await store.secrets.latest('')).length;
    if (keys.length === 0 && agents.length === 0 && secrets === 0) return null;
    return {
      seq: 1,
      kind: 'missing',
      detail: `the log is empty but the database holds ${keys.length} signing key(s), ${agents.length} agent(s) and ${secrets} secret(s): rows were deleted`,
    };
  }
  const [first] = await store.audit.query({ order: 'asc', limit: 1 });
  const prunedBefore = first && first.seq > 1 ? first.time : Number.NEGATIVE_INFINITY;
  const rows: AuditRow[] = [];
  for (const type of STATE_TYPES) rows.push(...(await store.audit.query({ type, order: 'asc', limit: MAX_ROWS })));
  const facts = emptyFacts();
  for (const row of rows.sort((a, b) => a.seq - b.seq)) applyFact(facts, row);

  const problem = (what: string): ChainProblem => ({ seq: head.seq, kind: 'modified', detail: what });
  for (const key of keys) {
    const wrong = keyProblem(facts, key, prunedBefore);
    if (wrong)
      return wrong.startsWith('the log has no')
        ? missing(head.seq, `signing key ${key.kid} exists but ${wrong}`)
        : problem(`signing key ${key.kid}: ${wrong}`);
  }
  for (const agent of agents) {
    const wrong =
      agentProblem(facts, agent, prunedBefore) ??
      agentKeysProblem(
        facts,
        agent,
        agentKeys.filter((k) => k.agent === agent.name),
      );
    if (wrong)
      return wrong.startsWith('the log has no')
        ? missing(head.seq, `agent "${agent.name}" exists but ${wrong}`)
        : problem(`agent "${agent.name}": ${wrong}`);
  }
  const secretPaths = new Set([...facts.secrets.keys(), ...(await store.secrets.latest('')).map((row) => row.path)]);
  for (const path of [...secretPaths].sort()) {
    const wrong = secretRowsProblem(facts.secrets.get(path), path, await store.secrets.versions(path), prunedBefore);
    if (wrong) {
      const what = `secret ${wrong.path} version ${wrong.version}: ${wrong.problem}`;
      return wrong.problem.startsWith('the log has no') ? missing(head.seq, what) : problem(what);
    }
  }
  // Every issuance the log records still has its credential row (deleting one would hide what was issued).
  for (const issued of await store.audit.query({ type: 'credential.issued', order: 'asc', limit: MAX_ROWS })) {
    if (issued.jti && !(await store.credentials.get(issued.jti))) {
      return problem(`credential ${issued.jti}: its row is gone, though the log records its issuance at seq ${issued.seq}`);
    }
  }
  for (const revoked of await store.audit.query({ type: 'credential.revoked', order: 'asc', limit: MAX_ROWS })) {
    if (!revoked.jti) continue;
    const credential = await store.credentials.get(revoked.jti);
    if (!credential)
      return problem(`credential ${revoked.jti}: its row is gone, though the log records its revocation at seq ${revoked.seq}`);
    if (credential.revokedAt === null)
      return problem(`credential ${revoked.jti}: the row says unrevoked, the log records its revocation at seq ${revoked.seq}`);
  }
  return null;
}

const missing = (seq: number, detail: string): ChainProblem => ({
  seq,
  kind: 'missing',
  detail: `${detail}: rows were deleted or the log was cut short`,
});
