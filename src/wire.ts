/**
 * The HTTP API's wire shapes (JSON, snake_case), shared by the server (http/, credentials/) and
 * the client SDK (client/): one definition, so the two cannot drift. This module imports nothing.
 * Reference: docs/api.md.
 */

/** `POST /v1/credentials` body. Backend-specific fields (e.g. `repositories` for github) sit beside these. */
export interface IssueRequestBody {
  readonly backend: string;
  readonly scopes?: readonly string[];
  /** A duration (`"10m"`) or whole seconds. */
  readonly ttl?: string | number;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly [param: string]: unknown;
}

/** The TTL decision reported to the caller. Seconds. */
export interface TtlDecision {
  readonly requested: number | null;
  readonly granted: number;
  /** Why granted ≠ requested: `max_ttl`, or a backend bound such as `sts_minimum_session`. */
  readonly clamped_by: string | null;
}

/** How a downstream credential can be ended before its own expiry. */
export type RevocationMode = 'immediate' | 'expiry-only' | 'none';

/**
 * The downstream credential as returned to the caller (it holds the secret): a GitHub
 * installation token, an AWS session, … Each backend adds its own fields to `type` and
 * `revocation`; see docs/backends.md.
 */
export type DownstreamCredential = Readonly<Record<string, unknown>> & {
  readonly type: string;
  readonly revocation: RevocationMode;
  /** When the downstream credential itself expires; null when it does not (a static token). */
  readonly expires_at?: string | null;
};

/** How an issued token is presented: as a bearer token, or DPoP-bound (RFC 9449). */
export type TokenType = 'Bearer' | 'DPoP';
/**
 * One secret in the credential of a `type: secret` backend (`credential.secrets[path]`): the
 * current value and version, and while a rotation's grace lasts, the previous one.
 */
export interface SecretValue {
  readonly value: string;
  readonly version: number;
  /** When this version was written (ISO 8601). */
  readonly created_at: string;
  /** The environment variable the backend names for this path (`creddy exec`, `--format env`), if any. */
  readonly env: string | null;
  /** The replaced version, readable until `readable_until` after a rotation; null otherwise. */
  readonly previous: { readonly value: string; readonly version: number; readonly readable_until: string } | null;
}

/** `credential` of a `type: secret` backend: `revocation: "none"` (a value outlives the token that read it). */
export interface SecretValuesCredential {
  readonly type: 'secret_values';
  readonly revocation: 'none';
  readonly expires_at: null;
  /** By path. */
  readonly secrets: Readonly<Record<string, SecretValue>>;
}

/** `201` answer to `POST /v1/credentials`. */
export interface IssueResponse {
  /** The credential id: the JWT's `jti`. */
  readonly id: string;
  /** The signed JWT (RFC 9068 `at+jwt`, EdDSA). */
  readonly token: string;
  /**
   * `DPoP` when the token is bound to the key of the request's DPoP proof (its `cnf.jkt`): present
   * it with `Authorization: DPoP` and a fresh proof from that key. `Bearer` otherwise.
   */
  readonly token_type: TokenType;
  readonly expires_at: string;
  readonly backend: string;
  readonly scopes: readonly string[];
  readonly metadata: Readonly<Record<string, string>> | null;
  readonly ttl: TtlDecision;
  readonly credential: DownstreamCredential | null;
}

/** One entry of `GET /v1/credentials`: no secrets. */
export interface CredentialSummary {
  readonly id: string;
  readonly backend: string;
  readonly scopes: readonly string[];
  readonly issued_at: string;
  readonly expires_at: string;
  readonly metadata: Readonly<Record<string, string>> | null;
  readonly credential: { readonly type: string; readonly revocation: RevocationMode; readonly expires_at: string | null } | null;
}

/** `GET /v1/credentials`. */
export interface CredentialList {
  readonly credentials: readonly CredentialSummary[];
}

/** `DELETE /v1/credentials/:id`. */
export interface RevokeResponse {
  readonly id: string;
  readonly revoked_at: string;
  /** `revoked` when the downstream credential was killed now; otherwise why not. */
  readonly downstream: 'revoked' | 'expiry-only' | 'none' | 'failed' | null;
}

/** `GET /v1/revocations/:jti`: public deny-list status. */
export interface RevocationStatus {
  readonly jti: string;
  readonly revoked: boolean;
  readonly kid: string;
}

/**
 * `GET /.well-known/oauth-authorization-server` (RFC 8414): the broker's endpoints and what they
 * accept. There is no authorization endpoint: credentials are issued to agents and workloads, not
 * through a browser, so `response_types_supported` is empty.
 */
export interface AuthorizationServerMetadata {
  readonly issuer: string;
  readonly jwks_uri: string;
  /** `POST`, form-encoded: `client_credentials` with a client assertion, or the RFC 8693 token exchange. */
  readonly token_endpoint: string;
  /** RFC 7662, for agents about their own tokens. */
  readonly introspection_endpoint: string;
  /** RFC 7009, for agents about their own tokens. */
  readonly revocation_endpoint: string;
  readonly grant_types_supported: readonly string[];
  /** `private_key_jwt` (a key-pair agent's RFC 7523 assertion) for client_credentials; `none` for the token exchange, whose subject token is the proof. */
  readonly token_endpoint_auth_methods_supported: readonly string[];
  readonly token_endpoint_auth_signing_alg_values_supported: readonly string[];
  readonly introspection_endpoint_auth_methods_supported: readonly string[];
  readonly introspection_endpoint_auth_signing_alg_values_supported: readonly string[];
  readonly revocation_endpoint_auth_methods_supported: readonly string[];
  readonly revocation_endpoint_auth_signing_alg_values_supported: readonly string[];
  /** Algorithms of the DPoP proofs the broker accepts (RFC 9449 §5.1). */
  readonly dpop_signing_alg_values_supported: readonly string[];
  readonly response_types_supported: readonly string[];
  /** creddy's JSON issuance endpoint (`POST /v1/credentials`). */
  readonly credentials_endpoint: string;
  /** creddy's public deny-list (`GET /v1/revocations/{jti}`). */
  readonly revocation_status_endpoint: string;
}

/** `GET /.well-known/openid-configuration`: the RFC 8414 metadata plus the signing algorithms of the tokens. */
export interface DiscoveryDocument extends AuthorizationServerMetadata {
  readonly id_token_signing_alg_values_supported: readonly string[];
  readonly token_signing_alg_values_supported: readonly string[];
  readonly token_types_supported: readonly string[];
}

/** `200` answer of the token endpoint (RFC 8693 §2.2.1), with creddy's own members after the standard ones. */
export interface TokenExchangeResponse {
  /** The signed JWT (RFC 9068 `at+jwt`), as `token` in IssueResponse. */
  readonly access_token: string;
  readonly issued_token_type: 'urn:ietf:params:oauth:token-type:access_token';
  /** `DPoP` when the request carried a valid DPoP proof and the token is bound to its key (RFC 9449 §5). */
  readonly token_type: TokenType;
  /** Seconds until `exp`. */
  readonly expires_in: number;
  /** Granted scopes, space-separated. */
  readonly scope: string;
  /** The downstream credential, as in IssueResponse; null for generic backends. */
  readonly credential: DownstreamCredential | null;
  readonly id: string;
  readonly backend: string;
  readonly expires_at: string;
  readonly ttl: TtlDecision;
}

/**
 * RFC 7662 introspection answer. An inactive token (invalid, expired, revoked, unknown, or
 * another agent's) is `{"active": false}` and nothing more.
 */
export interface IntrospectionResponse {
  readonly active: boolean;
  readonly scope?: string;
  readonly client_id?: string;
  readonly sub?: string;
  readonly aud?: string | readonly string[];
  readonly iss?: string;
  /** Seconds since the epoch. */
  readonly exp?: number;
  readonly iat?: number;
  readonly nbf?: number;
  readonly jti?: string;
  /** `DPoP` for a token bound to a key (RFC 9449 §6.2), with that key's thumbprint in `cnf.jkt`. */
  readonly token_type?: TokenType;
  readonly cnf?: { readonly jkt: string };
  readonly backend?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Errors of the OAuth endpoints (token, introspection, revocation): RFC 6749 §5.2, plus creddy's code and the request id. */
export interface OAuthErrorBody {
  readonly error:
    | 'invalid_request'
    | 'invalid_client'
    | 'invalid_dpop_proof'
    | 'unauthorized_client'
    | 'invalid_grant'
    | 'invalid_scope'
    | 'invalid_target'
    | 'unsupported_grant_type'
    | 'temporarily_unavailable'
    | 'server_error';
  readonly error_description: string;
  readonly code: string;
  readonly request_id: string;
}

/** Every error response: `{ "error": { … } }` with the status from the code table (docs/errors.md). */
export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly request_id: string;
    readonly details?: Readonly<Record<string, unknown>>;
  };
}

/** `GET /v1/backends/:name`: what a caller needs to know before asking (no secrets, no config internals). */
export interface BackendInfo {
  readonly name: string;
  /**
   * `generic` (the JWT is the credential), `github` (a GitHub token), `aws` (an STS session),
   * `secret` (stored secret values) or `postgres` (a database login).
   */
  readonly type: string;
  readonly default_ttl: number;
  readonly max_ttl: number;
  readonly default_scopes: readonly string[];
  /** The caller's own grants on this backend (scope patterns). */
  readonly grants: readonly string[];
}
