/**
 * `creddy/verify`: verify creddy tokens in a resource server, offline, against the broker's JWKS.
 *
 * Failures are `CreddyError`s with `ERR_TOKEN_INVALID`, `ERR_TOKEN_EXPIRED` or `ERR_TOKEN_REVOKED`.
 *
 * @packageDocumentation
 */

export { CreddyError, type ErrorCode, isCreddyError } from '../errors.js';
export { type CreddyClaims, type CreddyJwksOptions, creddyJwks, type VerifyOptions, verifyCreddyToken } from './token.js';
