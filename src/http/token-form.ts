import type { Context } from 'hono';
import { BACKEND_NAME_RE } from '../backends/config.js';
import { CreddyError } from '../errors.js';
import type { AppEnv } from './context.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token' as const;
/** What a subject_token may be: an OIDC ID token, or a JWT (some issuers' workload tokens are plain JWTs). */
export const SUBJECT_TOKEN_TYPES = ['urn:ietf:params:oauth:token-type:id_token', 'urn:ietf:params:oauth:token-type:jwt'];
const REQUESTED_TOKEN_TYPES: readonly string[] = [ACCESS_TOKEN_TYPE, 'urn:ietf:params:oauth:token-type:jwt'];

const FORM_TYPE_RE = /^application\/x-www-form-urlencoded\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/** A token-exchange request after its form was checked. */
export interface TokenExchangeRequest {
  readonly subjectToken: string;
  /** `audience`: the backend's name. */
  readonly backend: string;
  /** `scope`, split on spaces; undefined → the backend's default scopes. */
  readonly scopes: string[] | undefined;
  /** creddy's `ttl` extension (`10m` or seconds); undefined → the backend's default. */
  readonly ttl: string | undefined;
}

const bad = (field: string, message: string): CreddyError =>
  new CreddyError('ERR_BAD_REQUEST', `${field}: ${message}`, { details: { field } });

/**
 * Reads and checks an RFC 8693 token-exchange form: `grant_type`, `subject_token`,
 * `subject_token_type` (id_token or jwt), `audience` (a backend name), optional `scope` and
 * `requested_token_type`. A repeated parameter is refused (RFC 6749 §3.2); delegation
 * (`actor_token`) and `resource` are refused rather than ignored, since ignoring them would issue
 * something other than what was asked for; other unknown parameters are ignored (RFC 6749 §3.2).
 */
export async function readTokenExchange(c: Context<AppEnv>): Promise<TokenExchangeRequest> {
  const type = c.req.header('content-type') ?? '';
  if (!FORM_TYPE_RE.test(type)) throw new CreddyError('ERR_UNSUPPORTED_MEDIA_TYPE', 'send the form as application/x-www-form-urlencoded');
  const form = new URLSearchParams(await c.req.text());
  const one = (name: string): string | undefined => {
    const values = form.getAll(name);
    if (values.length > 1) throw bad(name, 'given more than once');
    return values[0] === '' ? undefined : values[0];
  };
  const grantType = one('grant_type');
  if (grantType === undefined) throw bad('grant_type', 'is required');
  if (grantType !== TOKEN_EXCHANGE_GRANT) {
    throw new CreddyError('ERR_GRANT_TYPE_UNSUPPORTED', `grant_type must be ${TOKEN_EXCHANGE_GRANT}`, { details: { field: 'grant_type' } });
  }
  if (one('actor_token') !== undefined) throw bad('actor_token', 'delegation is not supported');
  if (one('resource') !== undefined) throw bad('resource', 'not supported; name the backend in audience');
  const subjectToken = one('subject_token');
  if (subjectToken === undefined) throw bad('subject_token', 'is required');
  const subjectType = one('subject_token_type');
  if (subjectType === undefined || !SUBJECT_TOKEN_TYPES.includes(subjectType)) {
    throw bad('subject_token_type', `must be one of ${SUBJECT_TOKEN_TYPES.join(', ')}`);
  }
  const requested = one('requested_token_type');
  if (requested !== undefined && !REQUESTED_TOKEN_TYPES.includes(requested)) {
    throw bad('requested_token_type', `must be ${ACCESS_TOKEN_TYPE} (or omitted)`);
  }
  const backend = one('audience');
  if (backend === undefined || !BACKEND_NAME_RE.test(backend)) throw bad('audience', 'must be a backend name ([a-z0-9][a-z0-9_-]{0,62})');
  const scope = one('scope');
  return {
    subjectToken,
    backend,
    scopes: scope?.split(' ').filter(Boolean),
    ttl: one('ttl'),
  };
}
