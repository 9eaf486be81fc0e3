/**
 * `creddy/verify`: verify creddy access tokens in a resource server, offline, against the
 * broker's JWKS — and their DPoP proofs (RFC 9449) when they are bound to a key.
 *
 * Failures are `CreddyError`s: `ERR_TOKEN_INVALID`, `ERR_TOKEN_EXPIRED`, `ERR_TOKEN_REVOKED`,
 * `ERR_DPOP_INVALID` (401), `ERR_INSUFFICIENT_SCOPE` (403), `ERR_ISSUER_UNAVAILABLE` (503).
 *
 * @packageDocumentation
 */

export { CreddyError, type ErrorCode, isCreddyError } from '../errors.js';
export type { CreddyClaims } from './access-token.js';
export type { DpopRequest } from './dpop.js';
export { createReplayCache, type ReplayCache, type ReplayCacheOptions } from './replay-cache.js';
export { type CreddyJwksOptions, creddyJwks, type VerifyOptions, verifyCreddyToken } from './token.js';
export { createVerifier, type Verifier, type VerifierOptions, type VerifyRequest } from './verifier.js';
