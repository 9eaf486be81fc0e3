/**
 * `creddy/client`: request credentials from a creddy broker over its HTTP API.
 *
 * The answers are typed with the server's own wire shapes (`IssueResponse`, `CredentialList`, …),
 * and failures are `CreddyError`s carrying the server's stable `ERR_*` code.
 *
 * @packageDocumentation
 */

export { CreddyError, type ErrorCode, isCreddyError } from '../errors.js';
export type {
  CredentialList,
  CredentialSummary,
  DiscoveryDocument,
  DownstreamCredential,
  ErrorBody,
  IssueRequestBody,
  IssueResponse,
  RevocationMode,
  RevocationStatus,
  RevokeResponse,
  TtlDecision,
} from '../wire.js';
export { type CredentialCache, type CredentialCacheOptions, createCredentialCache } from './cache.js';
export {
  type CreddyClient,
  type CreddyClientOptions,
  type CredentialRequest,
  createCreddyClient,
  type IssuedCredential,
} from './client.js';
