import { nowSeconds } from '../_utils/clock.js';
import { CreddyError } from '../errors.js';
import { type AgentKeyRecord, MAX_AGENT_KEYS } from '../model/agent-key.js';
import { auditEvent } from '../model/audit.js';
import type { Services } from '../services.js';
import { revokeKeyCredentials } from './key-credentials.js';
import type { AgentPublicKey } from './public-key.js';

/**
 * Refuses a key that is registered already, to this agent or another: a thumbprint names one key
 * of one agent, so a leaked key is revoked in one place. `replacing` names a revoked agent whose
 * name is being created again: the keys it left are dropped with that insert, so they are free.
 */
export async function assertKeysFree(
  services: Pick<Services, 'store'>,
  keys: readonly AgentPublicKey[],
  replacing?: string,
): Promise<void> {
  if (new Set(keys.map((k) => k.jkt)).size !== keys.length) throw new CreddyError('ERR_USAGE', 'the same public key was given twice');
  const taken = new Map((await services.store.agentKeys.list()).map((k) => [k.jkt, k.agent]));
  for (const key of keys) {
    const owner = taken.get(key.jkt);
    if (owner !== undefined && owner !== replacing)
      throw new CreddyError('ERR_CONFLICT', `key ${key.jkt} is already registered for agent "${owner}"`);
  }
}

/** An active agent by name, or ERR_NOT_FOUND. */
async function activeAgent(services: Services, name: string) {
  const agent = await services.store.agents.byName(name);
  if (!agent || agent.revokedAt !== null) throw new CreddyError('ERR_NOT_FOUND', `no active agent named "${name}"`);
  return agent;
}

/**
 * Registers another public key for an agent, so it can switch keys without downtime: both verify
 * its assertions until the old one is removed. At most {@link MAX_AGENT_KEYS} at once. The key and
 * its `agent.key_added` row (which carries the thumbprint) commit together.
 */
export async function addAgentKey(
  services: Services,
  input: { name: string; key: AgentPublicKey; actor: string },
): Promise<{ key: AgentKeyRecord; keys: AgentKeyRecord[] }> {
  const agent = await activeAgent(services, input.name);
  const held = await services.store.agentKeys.byAgent(input.name);
  // A key-pair agent always holds a key (the last one cannot be removed): none means a bearer
  // agent. A key added to it would leave its token valid and, key-pair now, never rotatable.
  if (held.length === 0) {
    throw new CreddyError(
      'ERR_CONFLICT',
      `agent "${input.name}" authenticates with a bearer token; to move it to a key pair, create a key-pair agent (creddy agent create NAME --public-key FILE) and revoke this one`,
    );
  }
  if (held.length >= MAX_AGENT_KEYS) {
    throw new CreddyError(
      'ERR_CONFLICT',
      `agent "${input.name}" already holds ${held.length} keys; remove one first (creddy agent key remove ${input.name} JKT)`,
    );
  }
  await assertKeysFree(services, [input.key]);
  const key: AgentKeyRecord = { agent: input.name, jkt: input.key.jkt, x: input.key.x, addedAt: nowSeconds(services.clock) };
  await services.audit.write({
    change: { kind: 'agent.key.add', key },
    event: auditEvent({
      time: services.clock.now(),
      type: 'agent.key_added',
      outcome: 'success',
      actor: input.actor,
      agent: input.name,
      // The record's id, as on `agent.revoked`: the log's facts follow records, not names.
      details: { agent_id: agent.id, jkt: key.jkt },
    }),
  });
  const keys = await services.store.agentKeys.byAgent(input.name);
  // The insert skips a thumbprint taken meanwhile (a racing registration): say so rather than succeed.
  if (!keys.some((k) => k.jkt === key.jkt)) throw new CreddyError('ERR_CONFLICT', `key ${key.jkt} was registered elsewhere meanwhile`);
  return { key, keys };
}

/**
 * Removes one of an agent's keys (after the agent switched to its successor, or after a leak):
 * assertions signed with it are refused from the next request on, on every replica, and the
 * credentials it obtained or is bound to are revoked (`key-credentials.ts`), each with its own
 * `credential.revoked` row. An agent keeps at least one key; to cut it off entirely, revoke it.
 * The removal and its `agent.key_removed` row commit together, before any credential is revoked.
 */
export async function removeAgentKey(
  services: Services,
  input: { name: string; jkt: string; actor: string },
): Promise<{ keys: AgentKeyRecord[]; credentialsRevoked: number }> {
  const agent = await services.store.agents.byName(input.name);
  if (!agent) throw new CreddyError('ERR_NOT_FOUND', `no agent named "${input.name}"`);
  const held = await services.store.agentKeys.byAgent(input.name);
  if (!held.some((k) => k.jkt === input.jkt)) {
    throw new CreddyError('ERR_NOT_FOUND', `agent "${input.name}" has no key ${input.jkt} (creddy agent key list ${input.name})`);
  }
  if (held.length === 1 && agent.revokedAt === null) {
    throw new CreddyError(
      'ERR_CONFLICT',
      `${input.jkt} is the last key of agent "${input.name}": add its successor first, or revoke the agent`,
    );
  }
  await services.audit.write({
    change: { kind: 'agent.key.remove', agent: input.name, jkt: input.jkt },
    event: auditEvent({
      time: services.clock.now(),
      type: 'agent.key_removed',
      outcome: 'success',
      actor: input.actor,
      agent: input.name,
      details: { agent_id: agent.id, jkt: input.jkt },
    }),
  });
  // After the removal: a request the key signs from now on is refused, so no new credential
  // comes through it while these are revoked.
  const credentialsRevoked = await revokeKeyCredentials(services, input.name, input.jkt, input.actor);
  return { keys: await services.store.agentKeys.byAgent(input.name), credentialsRevoked };
}
