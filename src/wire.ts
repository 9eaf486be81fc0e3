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

/** `GET /.well-known/openid-configuration`. */
export interface DiscoveryDocument {
  readonly issuer: string;
  readonly jwks_uri: string;
  readonly credentials_endpoint: string;
  readonly revocation_status_endpoint: string;
  readonly id_token_signing_alg_values_supported: readonly string[];
  readonly token_signing_alg_values_supported: readonly string[];
  readonly token_types_supported: readonly string[];
  /** The RFC 8693 token-exchange endpoint (`POST`, form-encoded). */
  readonly token_endpoint: string;
  readonly grant_types_supported: readonly string[];
  /** The subject_token authenticates the request: no client authentication. */
  readonly token_endpoint_auth_methods_supported: readonly string[];
}

/** `200` answer of the token endpoint (RFC 8693 §2.2.1), with creddy's own members after the standard ones. */
export interface TokenExchangeResponse {
  /** The signed JWT (RFC 9068 `at+jwt`), as `token` in IssueResponse. */
  readonly access_token: string;
  readonly issued_token_type: 'urn:ietf:params:oauth:token-type:access_token';
  readonly token_type: 'Bearer';
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

/** Errors of the token endpoint: RFC 6749 §5.2, plus creddy's code and the request id. */
export interface OAuthErrorBody {
  readonly error:
    | 'invalid_request'
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
  /** `generic` (the JWT is the credential), `github` (a GitHub token) or `aws` (an STS session). */
  readonly type: string;
  readonly default_ttl: number;
  readonly max_ttl: number;
  readonly default_scopes: readonly string[];
  /** The caller's own grants on this backend (scope patterns). */
  readonly grants: readonly string[];
}
