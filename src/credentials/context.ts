import type { AgentRecord, Grant } from '../model/agent.js';

/** A registered agent (a `ckr_` bearer token, or a key pair), as the use cases see it. */
export interface AgentCaller {
  readonly kind: 'agent';
  /** The agent record's id: what an issuance checks again at its commit (credentials/issue.ts). */
  readonly id: string;
  readonly name: string;
  readonly grants: readonly Grant[];
  /**
   * The record's token digest when this request authenticated (a key-pair agent's is of a value
   * never shown): with `id` and `grants`, what an issuance's commit compares the record with.
   */
  readonly tokenHash: string;
  /** Every credential must be DPoP-bound (the agent's `require_dpop`). */
  readonly requireDpop?: boolean;
  /** Thumbprint of the key whose client assertion authenticated this request (key-pair agents). */
  readonly keyJkt?: string;
}

/**
 * A workload that proved itself with an OIDC ID token matching a federation rule. It has no
 * agent row: its name is the rule's rendered `subject`, its grants the rule's `can`.
 */
export interface FederatedCaller {
  readonly kind: 'federated';
  readonly name: string;
  readonly grants: readonly Grant[];
  readonly rule: string;
  /** The rule's max_ttl (seconds); null when only the backends' bound applies. */
  readonly maxTtl: number | null;
  /** The ID token's exp (epoch seconds): no credential outlives it by more than the backend's max_ttl. */
  readonly idTokenExp: number;
  /** Non-secret facts for audit rows (`details.federation`): rule, issuer, sub, jti, the claims that identify the run. */
  readonly audit: Readonly<Record<string, unknown>>;
}

/** Who is asking: an agent or a federated workload. */
export type Caller = AgentCaller | FederatedCaller;

/** Who is asking and from where: recorded in every audit row a use case writes for the request. */
export interface RequestContext {
  readonly caller: Caller;
  readonly clientIp: string | null;
  readonly requestId: string;
}

/** The caller an authenticated agent is; `keyJkt` names the key it proved itself with, if any. */
export function agentCaller(agent: AgentRecord, keyJkt?: string): AgentCaller {
  return {
    kind: 'agent',
    id: agent.id,
    name: agent.name,
    grants: agent.grants,
    tokenHash: agent.tokenHash,
    ...(agent.requireDpop ? { requireDpop: true } : {}),
    ...(keyJkt === undefined ? {} : { keyJkt }),
  };
}
