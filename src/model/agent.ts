/** One permission an agent holds: a scope pattern on one backend. */
export interface Grant {
  readonly backend: string;
  readonly scope: string;
}

/**
 * A caller registered with `creddy agent create`. Times are epoch seconds. A name may be used
 * again once its agent was revoked: each `agent create` makes a new record with its own `id`, and
 * revoked records stay for the audit trail. At most one record per name is unrevoked.
 */
export interface AgentRecord {
  /** This record's own id (`agt_…`); records made before ids existed have their name as id. */
  readonly id: string;
  readonly name: string;
  /** Hex SHA-256 of the bearer token; the token itself is shown once and never stored. */
  readonly tokenHash: string;
  readonly grants: readonly Grant[];
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
  /**
   * Credentials are issued only bound to a DPoP key (RFC 9449 `cnf.jkt`) when true. Absent means
   * false (agents created before the setting existed).
   */
  readonly requireDpop?: boolean;
}

/** Lifecycle status of an agent at `now` (epoch seconds). */
export function agentStatus(agent: AgentRecord, now: number): 'active' | 'revoked' | 'expired' {
  if (agent.revokedAt !== null) return 'revoked';
  if (agent.expiresAt !== null && agent.expiresAt <= now) return 'expired';
  return 'active';
}
