/**
 * creddy's library surface for callers and resource servers. The broker itself runs as the
 * `creddy` CLI; import these to request credentials or verify creddy tokens from code.
 */

export { type CredentialCache, type CredentialCacheOptions, createCredentialCache } from './client/cache.js';
export {
  type CreddyClient,
  type CreddyClientOptions,
  type CredentialRequest,
  createCreddyClient,
  type IssuedCredential,
} from './client/client.js';
export { CreddyError, ERROR_CODES, type ErrorCode, isCreddyError } from './errors.js';
export { type CreddyClaims, creddyJwks, type VerifyOptions, verifyCreddyToken } from './verify/token.js';
