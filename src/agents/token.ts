import { randomBytes } from 'node:crypto';

/** Agent bearer tokens: `ckr_` + 32 random bytes base64url (256 bits). */
export const AGENT_TOKEN_RE = /^ckr_[A-Za-z0-9_-]{43}$/;

/** A fresh agent bearer token; it exists in clear only until it is shown to the operator. */
export const newAgentToken = (): string => `ckr_${randomBytes(32).toString('base64url')}`;
