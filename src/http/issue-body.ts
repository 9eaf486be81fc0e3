import { redact } from '../_utils/redact.js';
import { BACKEND_NAME_RE } from '../backends/config.js';
import type { IssueRequest } from '../credentials/issue.js';
import { CreddyError } from '../errors.js';

const COMMON_FIELDS = new Set(['backend', 'scopes', 'ttl', 'metadata']);
const METADATA_KEY_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const METADATA_MAX_ENTRIES = 16;
const METADATA_MAX_VALUE = 256;
/**
 * Serialised size cap of the whole map: it is signed into the token, and verifiers refuse tokens
 * over 16 KiB before any crypto (verify/verify.ts), so what the broker signs must stay under it.
 */
const METADATA_MAX_BYTES = 2048;

const bad = (field: string, message: string): CreddyError =>
  new CreddyError('ERR_BAD_REQUEST', `${field}: ${message}`, { details: { field } });

/**
 * Validates the JSON shape of `POST /v1/credentials`, naming the offending field. `backendParam`
 * is the `:backend` of the alias route; `acceptsParams` lists the extra fields the backend takes.
 */
export function parseIssueBody(
  raw: unknown,
  backendParam: string | undefined,
  acceptsParams: (backend: string) => readonly string[],
): IssueRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad('body', 'must be a JSON object');
  const body = raw as Record<string, unknown>;
  const backend = body['backend'] ?? backendParam;
  // The config's name grammar: anything else cannot name a backend, and is not echoed or stored.
  if (typeof backend !== 'string' || !BACKEND_NAME_RE.test(backend))
    throw bad('backend', 'must be a backend name ([a-z0-9][a-z0-9_-]{0,62})');
  if (backendParam !== undefined && body['backend'] !== undefined && body['backend'] !== backendParam) {
    throw bad('backend', 'differs from the backend in the URL');
  }
  const extras = acceptsParams(backend);
  const params: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (COMMON_FIELDS.has(key)) continue;
    if (!extras.includes(key)) throw bad(key, 'unknown field');
    params[key] = value;
  }
  const scopes = body['scopes'];
  if (scopes !== undefined && !Array.isArray(scopes)) throw bad('scopes', 'must be an array of strings');
  const ttl = body['ttl'];
  if (ttl !== undefined && typeof ttl !== 'string' && typeof ttl !== 'number') throw bad('ttl', 'must be a duration string or seconds');
  return { backend, scopes, ttl, metadata: parseMetadata(body['metadata']), params };
}

function parseMetadata(raw: unknown): Record<string, string> | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw bad('metadata', 'must be an object of strings');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > METADATA_MAX_ENTRIES) throw bad('metadata', `at most ${METADATA_MAX_ENTRIES} entries`);
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (!METADATA_KEY_RE.test(key)) throw bad(`metadata.${key.slice(0, 64)}`, 'key must match [A-Za-z0-9_.-]{1,64}');
    if (typeof value !== 'string' || value.length > METADATA_MAX_VALUE) {
      throw bad(`metadata.${key}`, `must be a string of at most ${METADATA_MAX_VALUE} characters`);
    }
    // Metadata is signed into the token and kept in the audit log: a pasted secret would live on in both.
    if (redact(value) !== value) throw bad(`metadata.${key}`, 'looks like a secret (a token or key); metadata is not secret');
    out[key] = value;
  }
  if (Buffer.byteLength(JSON.stringify(out)) > METADATA_MAX_BYTES) throw bad('metadata', `at most ${METADATA_MAX_BYTES} bytes as JSON`);
  return entries.length > 0 ? out : null;
}
