/**
 * creddy's library surface for callers and resource servers. The broker itself runs as the
 * `creddy` CLI; import these to request credentials or verify creddy tokens from code.
 */
export { createCreddyClient, type CreddyClient, type CreddyClientOptions, type CredentialRequest, type IssuedCredential } from './client/client.js';
export { createCredentialCache, type CredentialCache, type CredentialCacheOptions } from './client/cache.js';
export { creddyJwks, verifyCreddyToken, type CreddyClaims, type VerifyOptions } from './verify/token.js';
export { CreddyError, ERROR_CODES, isCreddyError, type ErrorCode } from './errors.js';
