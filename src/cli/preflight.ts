import { CreddyError, ERROR_CODES, type ErrorCode, isCreddyError } from '../errors.js';
import type { BackendInfo, IssueResponse } from '../wire.js';
import { nodeFetch } from './node-fetch.js';

/**
 * No CLI path issues a credential it will not hand over: an output that needs one kind of
 * backend (AWS `credential_process`, the git helper) asks the broker for the backend's type
 * first (`GET /v1/backends/:name`) and refuses a mismatch before anything is minted or audited.
 */

/** The backend as the broker describes it to this caller; undefined from a broker too old to say. */
export async function backendInfo(url: string, token: string, name: string): Promise<BackendInfo | undefined> {
  const base = url.replace(/\/+$/, '');
  let response: Response;
  try {
    response = await nodeFetch(`${base}/v1/backends/${encodeURIComponent(name)}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new CreddyError('ERR_NOT_READY', `cannot reach creddy at ${base}: ${(err as Error).message}`, { cause: err, expose: true });
  }
  const body = (await response.json().catch(() => ({}))) as Partial<BackendInfo> & { error?: { code?: string; message?: string } };
  if (response.ok) return body as BackendInfo;
  const code = body.error?.code;
  // A broker without this route answers 404 ERR_NOT_FOUND: fall back to checking the response.
  if (code === 'ERR_NOT_FOUND') return undefined;
  const known = code && Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'ERR_INTERNAL';
  throw new CreddyError(known, body.error?.message ?? `HTTP ${response.status}`, { expose: true });
}

/** Refuses, before issuing, a backend whose type cannot produce what `purpose` needs. */
export async function requireBackendType(
  client: { url: string },
  token: string,
  name: string,
  type: 'aws' | 'github',
  purpose: string,
): Promise<void> {
  const info = await backendInfo(client.url, token, name);
  if (info && info.type !== type) {
    throw new CreddyError(
      'ERR_USAGE',
      `${purpose} needs a${type === 'aws' ? 'n' : ''} ${type} backend; "${name}" is ${info.type} (nothing was issued)`,
    );
  }
}

/**
 * Hands an issued credential over through `render`; if it cannot be (only the response could
 * tell), revokes it at once and says so, so nothing usable is left behind unseen.
 */
export async function handOver<T>(
  issued: IssueResponse,
  client: { revoke(id: string): Promise<unknown> },
  render: (issued: IssueResponse) => T,
): Promise<T> {
  try {
    return render(issued);
  } catch (err) {
    if (!isCreddyError(err, 'ERR_USAGE')) throw err;
    const revoked = await client.revoke(issued.id).then(
      () => 'it was revoked at once',
      (e: unknown) => `revoking it failed (${(e as Error).message}): revoke it with creddy revoke ${issued.id}`,
    );
    throw new CreddyError('ERR_USAGE', `${err.message}; credential ${issued.id} was issued but not handed over, and ${revoked}`, {
      details: { credential_id: issued.id },
    });
  }
}
