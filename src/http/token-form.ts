import type { Context } from 'hono';
import { BACKEND_NAME_RE } from '../backends/config.js';
import { CreddyError } from '../errors.js';
import type { AppEnv } from './context.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const CLIENT_CREDENTIALS_GRANT = 'client_credentials';
/** RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion (`private_key_jwt`). */
export const JWT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token' as const;
/** What a subject_token may be: an OIDC ID token, or a JWT (some issuers' workload tokens are plain JWTs). */
export const SUBJECT_TOKEN_TYPES = ['urn:ietf:params:oauth:token-type:id_token', 'urn:ietf:params:oauth:token-type:jwt'];
const REQUESTED_TOKEN_TYPES: readonly string[] = [ACCESS_TOKEN_TYPE, 'urn:ietf:params:oauth:token-type:jwt'];
const GRANTS = [CLIENT_CREDENTIALS_GRANT, TOKEN_EXCHANGE_GRANT];

const FORM_TYPE_RE = /^application\/x-www-form-urlencoded\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/** What every token request names: a backend, scopes, a TTL. */
interface TokenRequestBase {
  /** `audience`: the backend's name. */
  readonly backend: string;
  /** `scope`, split on spaces; undefined → the backend's default scopes. */
  readonly scopes: string[] | undefined;
  /** creddy's `ttl` extension (`10m` or seconds); undefined → the backend's default. */
  readonly ttl: string | undefined;
}

/** An RFC 8693 token exchange: an OIDC ID token for a credential. */
export interface TokenExchangeRequest extends TokenRequestBase {
  readonly grant: 'token-exchange';
  readonly subjectToken: string;
}

/** `client_credentials` with RFC 7523 client authentication: a key-pair agent asks for itself. */
export interface ClientCredentialsRequest extends TokenRequestBase {
  readonly grant: 'client-credentials';
  readonly assertion: string;
  /** `client_id`, optional (RFC 7523 §3); when given it must name the asserted agent. */
  readonly clientId: string | undefined;
}

export type TokenRequest = TokenExchangeRequest | ClientCredentialsRequest;

const bad = (field: string, message: string): CreddyError =>
  new CreddyError('ERR_BAD_REQUEST', `${field}: ${message}`, { details: { field } });

/** A form's parameters, each read at most once: a repeated parameter is refused (RFC 6749 §3.2). */
export interface FormParams {
  /** The value, undefined when absent or empty. */
  one(name: string): string | undefined;
}

/** Reads an `application/x-www-form-urlencoded` body (UTF-8), as every OAuth endpoint takes it. */
export async function readForm(c: Context<AppEnv>): Promise<FormParams> {
  const type = c.req.header('content-type') ?? '';
  if (!FORM_TYPE_RE.test(type)) throw new CreddyError('ERR_UNSUPPORTED_MEDIA_TYPE', 'send the form as application/x-www-form-urlencoded');
  const form = new URLSearchParams(await c.req.text());
  return {
    one(name) {
      const values = form.getAll(name);
      if (values.length > 1) throw bad(name, 'given more than once');
      return values[0] === '' ? undefined : values[0];
    },
  };
}

/**
 * A client assertion in the form (`client_assertion_type` + `client_assertion`, RFC 7523 §2.2),
 * or undefined when the form carries none.
 */
export function formAssertion(form: FormParams): string | undefined {
  const type = form.one('client_assertion_type');
  const assertion = form.one('client_assertion');
  if (type === undefined && assertion === undefined) return undefined;
  if (type !== JWT_ASSERTION_TYPE) throw bad('client_assertion_type', `must be ${JWT_ASSERTION_TYPE}`);
  if (assertion === undefined) throw bad('client_assertion', 'is required with client_assertion_type');
  return assertion;
}

/**
 * Reads and checks a token request: `grant_type` `client_credentials` (with a client assertion) or
 * the RFC 8693 token exchange (`subject_token`, `subject_token_type` id_token or jwt, optional
 * `requested_token_type`); both name the backend in `audience`, with optional `scope` and `ttl`.
 * Delegation (`actor_token`) and `resource` are refused rather than ignored, since ignoring them
 * would issue something other than what was asked for; other unknown parameters are ignored
 * (RFC 6749 §3.2).
 */
export async function readTokenRequest(c: Context<AppEnv>): Promise<TokenRequest> {
  const form = await readForm(c);
  const grantType = form.one('grant_type');
  if (grantType === undefined) throw bad('grant_type', 'is required');
  if (!GRANTS.includes(grantType)) {
    throw new CreddyError('ERR_GRANT_TYPE_UNSUPPORTED', `grant_type must be ${GRANTS.join(' or ')}`, { details: { field: 'grant_type' } });
  }
  if (form.one('actor_token') !== undefined) throw bad('actor_token', 'delegation is not supported');
  if (form.one('resource') !== undefined) throw bad('resource', 'not supported; name the backend in audience');
  const backend = form.one('audience');
  const base = (): TokenRequestBase => {
    if (backend === undefined || !BACKEND_NAME_RE.test(backend)) throw bad('audience', 'must be a backend name ([a-z0-9][a-z0-9_-]{0,62})');
    return { backend, scopes: form.one('scope')?.split(' ').filter(Boolean), ttl: form.one('ttl') };
  };
  if (grantType === CLIENT_CREDENTIALS_GRANT) {
    const assertion = formAssertion(form);
    if (assertion === undefined)
      throw bad('client_assertion', `client_credentials needs client authentication: a ${JWT_ASSERTION_TYPE} assertion`);
    return { grant: 'client-credentials', assertion, clientId: form.one('client_id'), ...base() };
  }
  const subjectToken = form.one('subject_token');
  if (subjectToken === undefined) throw bad('subject_token', 'is required');
  const subjectType = form.one('subject_token_type');
  if (subjectType === undefined || !SUBJECT_TOKEN_TYPES.includes(subjectType)) {
    throw bad('subject_token_type', `must be one of ${SUBJECT_TOKEN_TYPES.join(', ')}`);
  }
  const requested = form.one('requested_token_type');
  if (requested !== undefined && !REQUESTED_TOKEN_TYPES.includes(requested)) {
    throw bad('requested_token_type', `must be ${ACCESS_TOKEN_TYPE} (or omitted)`);
  }
  return { grant: 'token-exchange', subjectToken, ...base() };
}
