/**
 * The one error type creddy throws on purpose, and the table that maps each stable code to an
 * HTTP status. Tests assert codes, never messages; docs/errors.md lists every code (a test keeps
 * it complete).
 */

/**
 * Every error code creddy emits, with its HTTP status and a one-line meaning for docs.
 *
 * @example
 * ```ts
 * import { ERROR_CODES } from 'creddy';
 *
 * const status: number = ERROR_CODES.ERR_SCOPE_DENIED.status; // 403
 * ```
 */
export const ERROR_CODES = {
  ERR_BAD_REQUEST: { status: 400, doc: 'The request body or a parameter is malformed; the message names the field.' },
  ERR_SCOPE_INVALID: { status: 400, doc: 'A requested scope does not match the scope grammar for the backend.' },
  ERR_SCOPES_TOO_LARGE: {
    status: 400,
    doc: "The granted scopes do not fit in the downstream service's size limit (an AWS STS session policy: 2,048 characters, and STS's packed size of policy and session tags); ask for fewer scopes, only what the task needs, or one credential per part of the task.",
  },
  ERR_TTL_INVALID: { status: 400, doc: 'The requested TTL is not a duration or whole number of seconds, or is below the minimum.' },
  ERR_UNAUTHENTICATED: {
    status: 401,
    doc: "No bearer token, a malformed one, or one that matches no active agent; or a key-pair agent's client assertion that was refused (signature, `aud`, lifetime, replayed `jti`, unknown agent).",
  },
  ERR_AGENT_REVOKED: { status: 401, doc: 'The agent token belonged to an agent that was revoked or has expired.' },
  ERR_SCOPE_DENIED: { status: 403, doc: 'A requested scope is outside the ceiling (backend allowed_scopes ∩ agent grants).' },
  ERR_BACKEND_FORBIDDEN: { status: 403, doc: 'The agent has no grant at all for this backend.' },
  ERR_FORBIDDEN: {
    status: 403,
    doc: "The caller may not act on this resource: an agent asked `POST /oauth/revoke` (RFC 7009) to revoke another caller's valid token, which that endpoint answers as OAuth `400 unauthorized_client` with this code. (`DELETE /v1/credentials/:id` of another agent's credential is `404 ERR_NOT_FOUND` instead: it does not say the credential exists.) In `creddy/client`, also a 403 from a proxy or gateway in front of the broker.",
  },
  ERR_BACKEND_UNKNOWN: { status: 404, doc: 'No backend with that name is configured.' },
  ERR_NOT_FOUND: { status: 404, doc: 'The route, credential, agent or key does not exist.' },
  ERR_CONFLICT: {
    status: 409,
    doc: "The resource already exists (e.g. an agent with that name, a public key registered to an agent), or a limit stands in the way (an agent's third key, its last key).",
  },
  ERR_NOT_YET: {
    status: 409,
    doc: 'The operation becomes possible later (e.g. `keys rotate` before the next key has been published for `publish_ahead`); `details.ready_at` says when.',
  },
  ERR_BODY_TOO_LARGE: { status: 413, doc: 'The request body exceeds the 64 KiB limit.' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, doc: 'The request body is not application/json.' },
  ERR_RATE_LIMITED: {
    status: 429,
    doc: 'Too many failed authentications from this address (`auth_throttle`); retry after the `Retry-After` seconds. A valid token is never refused. In `creddy/client`, also a 429 from a proxy or gateway in front of the broker.',
  },
  ERR_INTERNAL: { status: 500, doc: 'An unexpected failure; details are in the server log under the request id, never in the response.' },
  ERR_RESPONSE_TOO_LARGE: {
    status: 502,
    doc: "creddy/client: the broker's successful answer was larger than the client reads (`maxResponseBytes`, default 8 MiB); it was read no further.",
  },
  ERR_BACKEND_UPSTREAM: { status: 502, doc: 'The downstream service (GitHub, AWS STS) refused or failed; the message names its status.' },
  ERR_BACKEND_MISCONFIGURED: {
    status: 502,
    doc: "The backend's own credentials lack a right creddy needs downstream (e.g. the PostgreSQL admin role cannot CREATE ROLE, or a configured role does not exist); the message names what is missing, never a password.",
  },
  ERR_SECRET_NOT_FOUND: {
    status: 404,
    doc: 'No live secret at that path (never written, or deleted), or none under a granted prefix.',
  },
  ERR_SECRET_INTEGRITY: {
    status: 500,
    doc: "A stored secret's version row or sealed value disagrees with the audit log (rolled back, un-deleted, given a longer grace, or its ciphertext swapped or edited in the database): it is not served, and the refusal is audited. `creddy audit verify` names the row.",
  },
  ERR_AUDIT_UNAVAILABLE: { status: 503, doc: 'The audit event could not be written in time; fail-closed, so no credential was issued.' },
  ERR_AUDIT_INVALID: {
    status: 500,
    doc: 'The audit log or an export bundle failed verification (tampered, truncated, or signed by another key), or a bundle could not be authenticated (no `--public-key` and no audit key: only self-consistent); `creddy audit verify` names the first bad seq.',
  },
  ERR_NOT_READY: {
    status: 503,
    doc: 'The server has no usable store (the database cannot be reached right now or did not answer within `audit.write_timeout`, or its schema is not this version) or signing key yet, or is shutting down. In `creddy/client` and the CLI: the broker cannot be reached, did not answer in time (`timeoutMs` in the client; `--timeout` or `CREDDY_TIMEOUT` in the CLI, default 30 s, whose message names the request and the wait), its answer broke off, or a proxy in front of it answered 502, 503, 504 or 408. Retry; another replica may serve.',
  },
  ERR_STORE_BUSY: {
    status: 503,
    doc: 'The store was locked by another writer (a racing key transition, a long transaction); nothing was changed, retry.',
  },
  ERR_CONFIG_INVALID: {
    status: 500,
    doc: 'The configuration is invalid: the file (the message names the key path), or a key variable — malformed, or an audit key missing for rows the log holds (the message names its key id). The server refuses to start.',
  },
  ERR_LISTEN_FAILED: {
    status: 500,
    doc: 'The server could not listen on its address (in use, not permitted, not an address of this machine); the message names it and how to pick another.',
  },
  ERR_KEK_INVALID: { status: 500, doc: 'The key-encryption key is missing, malformed, or does not decrypt the stored keys.' },
  ERR_KEY_UNKNOWN: { status: 404, doc: 'No signing key with that kid exists.' },
  ERR_TOKEN_INVALID: { status: 401, doc: 'A creddy token failed verification (format, algorithm, signature, claims).' },
  ERR_TOKEN_EXPIRED: { status: 401, doc: 'A creddy token is past its exp (beyond the allowed clock skew).' },
  ERR_TOKEN_REVOKED: {
    status: 401,
    doc: 'The broker says a creddy token is revoked (its jti is deny-listed, or its signing key was revoked); a verifier with only the JWKS answers ERR_TOKEN_INVALID for a revoked key (docs/errors.md).',
  },
  ERR_DPOP_INVALID: {
    status: 401,
    doc: "A DPoP-bound token came without a valid proof (RFC 9449): missing, malformed, replayed, too old, or not matching the request, the token hash or the cnf.jkt key; or an unbound token was sent with the DPoP scheme. At the broker: an issuance request's DPoP proof is invalid (wrong htu/htm, ath present, stale, replayed), or the backend or agent has require_dpop and the request carried none (details.reason: proof_required, details.required_by: backend or agent; the CLI, whose credentials are bearer ones, says to use the SDK with dpop instead).",
  },
  ERR_INSUFFICIENT_SCOPE: {
    status: 403,
    doc: 'A verified creddy token lacks a scope the resource server requires; `details.scopes` names them.',
  },
  ERR_ISSUER_UNAVAILABLE: {
    status: 503,
    doc: "Issuer keys could not be fetched and no usable copy is held (past its max-age and its bounded stale-if-error window): a federation issuer's discovery document or JWKS (the broker refuses that issuer's ID tokens; other issuers keep working), or, in a verifier (creddy/verify, creddy/hono), the broker's JWKS or deny-list; after a failed fetch, verifiers answer this at once for 5 s before asking again. Fail-closed; retry.",
  },
  ERR_ISSUER_MISMATCH: {
    status: 502,
    doc: "Raised by the client (SDK and CLI), never by the broker: the server at the client's URL names another issuer in its metadata than that URL (or than the configured issuer), or advertises a token endpoint on another origin (RFC 8414 §3.3). Nothing was signed for it or sent to it. When the broker is reached at another address than its issuer, configure the issuer (the client's `issuer` option, `CREDDY_ISSUER` for the CLI).",
  },
  ERR_USAGE: {
    status: 400,
    doc: "CLI usage error: a missing or malformed argument (exit code 2). In creddy/client: an option createCreddyClient refuses (details.option names it), a call that needs auth on a client without it, or an argument no request could serve (secret('prod/*')); nothing is sent.",
  },
  ERR_GRANT_TYPE_UNSUPPORTED: {
    status: 400,
    doc: 'The token endpoint was asked for a grant_type it does not support (OAuth error `unsupported_grant_type`).',
  },
  ERR_ID_TOKEN_INVALID: {
    status: 401,
    doc: 'An OIDC ID token was refused: malformed, from an issuer no federation rule trusts, wrong audience, bad signature, an algorithm the rule does not allow, unknown key, or typ at+jwt. The audit row and the server log say which check failed.',
  },
  ERR_ID_TOKEN_EXPIRED: {
    status: 401,
    doc: 'An OIDC ID token is past its exp, or its nbf/iat lies in the future, beyond the configured clock skew.',
  },
  ERR_ID_TOKEN_REPLAYED: {
    status: 401,
    doc: 'A `single_use` federation rule matched, and this ID token (issuer + jti) was already exchanged, by this or another replica.',
  },
  ERR_FEDERATION_NO_MATCH: {
    status: 403,
    doc: "The ID token is valid but no federation rule's claim conditions all hold; the audit row and the server log name the closest rule and the claims that failed (`creddy federation explain` shows all).",
  },
} as const satisfies Record<string, { status: number; doc: string }>;

/** A stable creddy error code such as `ERR_SCOPE_DENIED`. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * An expected failure with a stable code. `expose` is true for 4xx: only then may the message
 * reach a client; 5xx responses carry a generic message and the request id. The SDKs reject
 * with this type only; branch on `code`, never on the message.
 *
 * @example
 * ```ts
 * import { CreddyError } from 'creddy';
 *
 * export function httpStatusOf(err: unknown): number {
 *   return err instanceof CreddyError ? err.status : 500;
 * }
 * ```
 */
export class CreddyError extends Error {
  /** The stable code, e.g. `ERR_SCOPE_DENIED`. */
  readonly code: ErrorCode;
  /** The HTTP status of the code, from {@link ERROR_CODES}. */
  readonly status: number;
  /** Whether the message may be shown to a client. */
  readonly expose: boolean;
  /** Non-secret structured details safe to return to a client (e.g. `{ scope: 'write' }`). */
  readonly details: Record<string, unknown> | undefined;
  /**
   * The broker's request id, on an error `creddy/client` built from the broker's answer (its
   * error body's `request_id`, else the `X-Request-Id` header): the broker logs the cause of a
   * failure under it (`ERR_INTERNAL`, a refused ID token). Undefined when the broker was not
   * reached, and on errors raised on the server side.
   */
  readonly requestId: string | undefined;

  /**
   * `expose` may be set for a 5xx whose message was written to be safe for clients, e.g.
   * "GitHub answered 503 after 3 attempts"; it defaults to status < 500.
   */
  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; expose?: boolean; requestId?: string | undefined } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CreddyError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.expose = options.expose ?? this.status < 500;
    this.details = options.details;
    this.requestId = options.requestId;
  }
}

/**
 * True when `err` is a {@link CreddyError}, optionally with the given code; narrows `err` so
 * `err.code` and `err.message` can be read, and with a code, `err.code` to that code (a union of
 * codes narrows to the union).
 *
 * @typeParam C - The code asked for; every code when none is given.
 * @param err - Anything caught.
 * @param code - Only this code counts, if given.
 *
 * @example
 * ```ts
 * import { createCreddyClient, isCreddyError } from 'creddy';
 *
 * const client = createCreddyClient({ url: 'http://127.0.0.1:8400', token: process.env.CREDDY_TOKEN });
 * try {
 *   await client.issue({ backend: 'demo', scopes: ['write'] });
 * } catch (err) {
 *   if (!isCreddyError(err, 'ERR_SCOPE_DENIED')) throw err;
 *   const code: 'ERR_SCOPE_DENIED' = err.code;
 *   console.error(`${code}: ${err.message}`);
 * }
 * ```
 */
export function isCreddyError<C extends ErrorCode = ErrorCode>(err: unknown, code?: C): err is CreddyError & { readonly code: C } {
  return err instanceof CreddyError && (code === undefined || err.code === code);
}
