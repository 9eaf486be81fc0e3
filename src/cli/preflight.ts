import { CreddyError, isCreddyError } from '../errors.js';
import type { BackendInfo, IssueResponse } from '../wire.js';

/**
 * No CLI path issues a credential it will not hand over: an output that needs one kind of
 * backend (AWS `credential_process`, the git helper) asks the broker for the backend's type
 * first (`GET /v1/backends/:name`) and refuses a mismatch before anything is minted or audited.
 */

/**
 * Refuses, before issuing, a backend whose type cannot produce what `purpose` needs. The lookup
 * goes through the caller's own client, so it authenticates as the issuance will (token, key
 * pair or ID token). A broker too old to have the route (404 `ERR_NOT_FOUND`) is let through:
 * the hand-over then checks the response.
 */
export async function requireBackendType(
  client: { backend(name: string): Promise<BackendInfo> },
  name: string,
  type: 'aws' | 'github',
  purpose: string,
): Promise<void> {
  let info: BackendInfo;
  try {
    info = await client.backend(name);
  } catch (err) {
    if (isCreddyError(err, 'ERR_NOT_FOUND')) return;
    throw err;
  }
  if (info.type !== type) {
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
