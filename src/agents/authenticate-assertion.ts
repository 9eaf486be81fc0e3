import { nowSeconds } from '../_utils/clock.js';
import { storeReplayCache } from '../credentials/store-replay.js';
import { CreddyError } from '../errors.js';
import { type AgentRecord, agentStatus } from '../model/agent.js';
import type { AgentKeyRecord } from '../model/agent-key.js';
import type { Services } from '../services.js';
import { verifyClientAssertion } from '../verify/client-assertion.js';

/** RFC 7523 §3: an assertion lives briefly; standard clients send exp = now + 60. */
export const MAX_ASSERTION_LIFETIME_S = 60;

/** A key-pair agent proved by a client assertion, and the key that signed it. */
export interface AssertedAgent {
  readonly agent: AgentRecord;
  /** Thumbprint of the registered key that verified the assertion (recorded in audit rows). */
  readonly jkt: string;
}

/**
 * Authenticates a key-pair agent by an RFC 7523 client assertion (verify/client-assertion.ts):
 * EdDSA, `iss` = `sub` = the agent, `aud` one of `audiences` (the issuer, the token endpoint),
 * `exp` at most 60 s ahead plus the configured clock skew, signed by one of the agent's registered
 * keys, and its `jti` claimed once in the store's replay record, so a replay to any replica is
 * refused. Keys and the agent row are read per request (a removed key or a revocation applies at
 * once) and checked against the audit log by the state guard. A revoked or expired agent is
 * named only after its signature verified.
 */
export async function authenticateAssertion(services: Services, assertion: string, audiences: readonly string[]): Promise<AssertedAgent> {
  let keys: AgentKeyRecord[] = [];
  const verified = await verifyClientAssertion(assertion, {
    audience: audiences,
    publicKey: async (name) => {
      keys = await services.store.agentKeys.byAgent(name);
      return keys.map((k) => ({ kty: 'OKP', crv: 'Ed25519', x: k.x }) as const);
    },
    replay: storeReplayCache(services.store, 'client-assertion'),
    maxLifetime: MAX_ASSERTION_LIFETIME_S,
    clockTolerance: services.config.keys.clockSkew,
    now: () => services.clock.now(),
  });
  const agent = await services.store.agents.byName(verified.agent);
  // Keys left behind by an agent row that is gone authenticate nobody.
  if (!agent) throw new CreddyError('ERR_UNAUTHENTICATED', 'client assertion rejected (no such agent)');
  const status = agentStatus(agent, nowSeconds(services.clock));
  if (status !== 'active') {
    throw new CreddyError('ERR_AGENT_REVOKED', `agent "${agent.name}" is ${status}`, { details: { agent: agent.name } });
  }
  // An edited key row (a swapped x, a key added behind the log's back) is refused here.
  await services.stateGuard?.checkAgent(agent, keys);
  return { agent, jkt: verified.jkt };
}
