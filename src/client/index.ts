/**
 * `creddy/client`: request credentials from a creddy broker and present them.
 *
 * Agents authenticate with a bearer token, an Ed25519 key pair (RFC 7523 client assertions) or
 * an OIDC ID token (RFC 8693 exchange), and can bind their credentials to a key with DPoP
 * (RFC 9449). Signing uses @noble/ed25519 and WebCrypto only, so this entry runs in browsers and
 * edge runtimes as well as Node. Answers are typed with the server's own wire shapes
 * (`IssueResponse`, `CredentialList`, …); failures are `CreddyError`s with stable `ERR_*` codes.
 *
 * @packageDocumentation
 */

export { CreddyError, type ErrorCode, isCreddyError } from '../errors.js';
export type { Ed25519PublicJwk } from '../verify/thumbprint.js';
export type {
  AuthorizationServerMetadata,
  BackendInfo,
  CredentialList,
  CredentialSummary,
  DiscoveryDocument,
  DownstreamCredential,
  ErrorBody,
  IntrospectionResponse,
  IssueRequestBody,
  IssueResponse,
  RevocationMode,
  RevocationStatus,
  RevokeResponse,
  SecretValue,
  SecretValuesCredential,
  TokenType,
  TtlDecision,
} from '../wire.js';
export {
  type AgentKey,
  type AgentSigner,
  createAgentSigner,
  type Ed25519PrivateJwk,
  type Ed25519PrivateKey,
  generateAgentKey,
} from './agent-key.js';
export type { BearerAuth, CreddyAuth, KeyPairAuth, OidcAuth } from './auth.js';
export { type CredentialCache, type CredentialCacheOptions, createCredentialCache } from './cache.js';
export {
  type CreddyClient,
  type CreddyClientOptions,
  type CreddyFetchInit,
  type CredentialRequest,
  createCreddyClient,
  type GetOptions,
  type IssuedCredential,
  type SecretOptions,
  type SecretRead,
} from './client.js';
export { type ClientAssertionInput, createClientAssertion, createDpopProof, type DpopProofInput } from './proofs.js';
