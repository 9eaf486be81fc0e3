import { CreddyError } from '../errors.js';
import type { BackendInfo, CredentialList, IssueResponse, RevocationStatus, RevokeResponse } from '../wire.js';

/**
 * Shape checks of the broker's successful answers, before the client hands them out: its methods
 * promise a `CreddyError` for every failure, and an answer without a `token` (another service at
 * the URL, a broken proxy, a broker of another version) would otherwise surface later as a
 * `TypeError` in the caller's code. Only what the types promise is checked; fields a newer broker
 * adds pass through. A failure is `ERR_INTERNAL` naming the answer and the field, never a value
 * (the answer may hold a token or a secret).
 *
 * @internal
 */
export type AnswerCheck<T> = (value: unknown, from: string) => T;

type Problem = string | undefined;
type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): Problem => (typeof v === 'string' && v.length > 0 ? undefined : 'is not a non-empty string');
const time = (v: unknown): Problem => (typeof v === 'string' && Number.isFinite(Date.parse(v)) ? undefined : 'is not a timestamp');
const bool = (v: unknown): Problem => (typeof v === 'boolean' ? undefined : 'is not a boolean');
const num = (v: unknown): Problem => (typeof v === 'number' && Number.isFinite(v) ? undefined : 'is not a number');
const strings = (v: unknown): Problem =>
  Array.isArray(v) && v.every((s) => typeof s === 'string') ? undefined : 'is not a list of strings';
const objectOrNull = (v: unknown): Problem => (v === null || isObject(v) ? undefined : 'is not an object or null');
const optional =
  (check: (v: unknown) => Problem) =>
  (v: unknown): Problem =>
    v === undefined ? undefined : check(v);

/** Checks `value` field by field; the first problem throws. */
function checkFields(value: unknown, what: string, from: string, fields: Record<string, (v: unknown) => Problem>, prefix = ''): Obj {
  if (!isObject(value)) throw malformed(what, from, prefix ? prefix.slice(0, -1) : 'the body', 'is not a JSON object');
  for (const [field, check] of Object.entries(fields)) {
    const problem = check(value[field]);
    if (problem !== undefined) throw malformed(what, from, `${prefix}${field}`, value[field] === undefined ? 'is missing' : problem);
  }
  return value;
}

function malformed(what: string, from: string, field: string, problem: string): CreddyError {
  return new CreddyError('ERR_INTERNAL', `${from} answered with a malformed ${what}: ${field} ${problem}`, {
    expose: true,
    details: { field },
  });
}

/** `POST /v1/credentials` (and a token exchange, in the same shape). */
export const checkIssued: AnswerCheck<IssueResponse> = (value, from) => {
  const answer = checkFields(value, 'credential', from, {
    id: str,
    token: str,
    token_type: (v) => (v === 'Bearer' || v === 'DPoP' ? undefined : 'is neither "Bearer" nor "DPoP"'),
    expires_at: time,
    backend: str,
    scopes: strings,
    metadata: optional(objectOrNull),
    ttl: optional(objectOrNull),
    credential: optional(objectOrNull),
  });
  if (isObject(answer['credential'])) {
    checkFields(
      answer['credential'],
      'credential',
      from,
      { type: str, expires_at: optional((v) => (v === null ? undefined : time(v))) },
      'credential.',
    );
  }
  return answer as unknown as IssueResponse;
};

/** `GET /v1/credentials`. */
export const checkList: AnswerCheck<CredentialList> = (value, from) => {
  const list = checkFields(value, 'credential list', from, { credentials: (v) => (Array.isArray(v) ? undefined : 'is not a list') });
  (list['credentials'] as unknown[]).forEach((entry, i) => {
    checkFields(entry, 'credential list', from, { id: str, backend: str, scopes: strings, expires_at: time }, `credentials[${i}].`);
  });
  return list as unknown as CredentialList;
};

/** `DELETE /v1/credentials/:id`. */
export const checkRevoked: AnswerCheck<RevokeResponse> = (value, from) =>
  checkFields(value, 'revocation', from, { id: str, revoked_at: time }) as unknown as RevokeResponse;

/** `GET /v1/revocations/:jti`. */
export const checkRevocationStatus: AnswerCheck<RevocationStatus> = (value, from) =>
  checkFields(value, 'revocation status', from, { jti: str, revoked: bool }) as unknown as RevocationStatus;

/** `GET /v1/backends/:name`. */
export const checkBackendInfo: AnswerCheck<BackendInfo> = (value, from) =>
  checkFields(value, 'backend description', from, {
    name: str,
    type: str,
    default_ttl: num,
    max_ttl: num,
    default_scopes: strings,
    grants: strings,
  }) as unknown as BackendInfo;

/** The discovery document: returned unchecked (`Partial`), but an object. */
export const checkObject: AnswerCheck<Obj> = (value, from) => checkFields(value, 'discovery document', from, {});
