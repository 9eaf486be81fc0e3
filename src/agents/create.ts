import { isoSeconds, nowSeconds } from '../_utils/clock.js';
import { randomId, sha256Hex } from '../_utils/ids.js';
import { CreddyError } from '../errors.js';
import { type AgentRecord, agentStatus, type Grant } from '../model/agent.js';
import { type AgentKeyRecord, MAX_AGENT_KEYS } from '../model/agent-key.js';
import { auditEvent } from '../model/audit.js';
import type { Services } from '../services.js';
import { agentFacts } from './facts.js';
import { assertKeysFree } from './keys.js';
import type { AgentPublicKey } from './public-key.js';
import { newAgentToken } from './token.js';

const AGENT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

/** What every agent is created with. `requireDpop` binds every credential it is issued to a DPoP key. */
export interface AgentInput {
  readonly name: string;
  readonly grants: Grant[];
  readonly ttlSeconds: number | null;
  readonly actor: string;
  readonly requireDpop?: boolean;
}

/**
 * Creates a bearer agent and returns its token — the only time the token exists outside the caller.
 * A name whose agent was revoked may be used again: the new agent is a new record (its own id),
 * and the revoked one stays for the audit trail.
 */
export async function createAgent(services: Services, input: AgentInput): Promise<{ agent: AgentRecord; token: string }> {
  const { agent, token } = await writeAgent(services, input, []);
  return { agent, token };
}

/**
 * Creates a key-pair agent: it holds no bearer secret and authenticates with client assertions
 * signed by its private key, which the broker never sees. Its token column holds the digest of a
 * random value that is thrown away here, so no bearer token can ever match it.
 */
export async function createKeyPairAgent(
  services: Services,
  input: AgentInput & { readonly publicKeys: readonly AgentPublicKey[] },
): Promise<{ agent: AgentRecord; keys: AgentKeyRecord[] }> {
  if (input.publicKeys.length === 0) throw new CreddyError('ERR_USAGE', 'a key-pair agent needs a public key');
  const { agent, keys } = await writeAgent(services, input, input.publicKeys);
  return { agent, keys };
}

async function writeAgent(
  services: Services,
  input: AgentInput,
  publicKeys: readonly AgentPublicKey[],
): Promise<{ agent: AgentRecord; token: string; keys: AgentKeyRecord[] }> {
  if (!AGENT_NAME_RE.test(input.name)) throw new CreddyError('ERR_USAGE', `agent name must match ${AGENT_NAME_RE.source}`);
  if (publicKeys.length > MAX_AGENT_KEYS) throw new CreddyError('ERR_USAGE', `an agent holds at most ${MAX_AGENT_KEYS} keys`);
  const token = newAgentToken();
  const now = nowSeconds(services.clock);
  const agent: AgentRecord = {
    id: `agt_${randomId(12)}`,
    name: input.name,
    tokenHash: sha256Hex(token),
    grants: input.grants,
    createdAt: now,
    expiresAt: input.ttlSeconds === null ? null : now + input.ttlSeconds,
    revokedAt: null,
    ...(input.requireDpop ? { requireDpop: true } : {}),
  };
  const keys = publicKeys.map((key): AgentKeyRecord => ({ agent: agent.name, jkt: key.jkt, x: key.x, addedAt: now }));
  const existing = await services.store.agents.byName(agent.name);
  if (existing && existing.revokedAt === null) {
    const expired = agentStatus(existing, now) === 'expired' ? ` (expired ${isoSeconds(existing.expiresAt!)})` : '';
    throw new CreddyError(
      'ERR_CONFLICT',
      `agent "${agent.name}" already exists${expired}; renew it with creddy agent rotate-token --expires (bearer) or creddy agent renew (key pair), or revoke it first to use the name again`,
    );
  }
  // Keys a revoked agent of this name left are dropped when the new record is inserted.
  await assertKeysFree(services, publicKeys, agent.name);
  // The agent row, its keys and its audit row commit together: no agent exists unaudited.
  await services.audit.write({
    change: { kind: 'agent.create', agent, ...(keys.length > 0 ? { keys } : {}) },
    event: auditEvent({
      time: services.clock.now(),
      type: 'agent.created',
      outcome: 'success',
      actor: input.actor,
      agent: agent.name,
      details: {
        ...agentFacts(agent),
        // A key-pair agent's thumbprints, and the DPoP requirement: both decide access, so both are in the log.
        ...(keys.length > 0 ? { keys: keys.map((k) => k.jkt) } : {}),
        ...(agent.requireDpop ? { require_dpop: true } : {}),
      },
    }),
  });
  // The insert skips a name taken meanwhile (a racing `agent create`): then this token is not
  // the one stored, and must not be shown as if it worked.
  if ((await services.store.agents.byName(agent.name))?.tokenHash !== agent.tokenHash) {
    throw new CreddyError('ERR_CONFLICT', `agent "${agent.name}" already exists`);
  }
  return { agent, token, keys };
}
