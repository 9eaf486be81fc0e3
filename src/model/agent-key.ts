/**
 * An Ed25519 public key registered for a key-pair agent (RFC 7523 client assertions). The agent
 * holds the private half; the broker only this. Times are epoch seconds.
 */
export interface AgentKeyRecord {
  readonly agent: string;
  /** RFC 7638 SHA-256 thumbprint of the key: its id in the assertion header (`kid`) and in audit rows. */
  readonly jkt: string;
  /** The 32-byte public key, base64url (the JWK's `x`). */
  readonly x: string;
  readonly addedAt: number;
}

/** Keys an agent may hold at once: the current one and its successor, so it can rotate without downtime. */
export const MAX_AGENT_KEYS = 2;
