/**
 * A credential request: the body of `POST /v1/credentials` (see `IssueRequestBody`), with
 * backend-specific fields gathered in `params`.
 */
export interface CredentialRequest {
  /** The configured backend to ask, e.g. `"my-github"`. */
  readonly backend: string;
  /** Scopes to request (default: the backend's `default_scopes`). Anything outside the ceiling fails the whole request. */
  readonly scopes?: readonly string[] | undefined;
  /** Lifetime: a duration (`"10m"`) or whole seconds; clamped to the backend's `max_ttl`. */
  readonly ttl?: string | number | undefined;
  /** A small string map recorded in the token and the audit log (e.g. `{ task: 'update-readme' }`). */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  /** Backend-specific fields, e.g. `{ repositories: ['org/repo'] }` for github. */
  readonly params?: Readonly<Record<string, unknown>> | undefined;
}
