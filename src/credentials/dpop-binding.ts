import type { BackendCommon } from '../backends/types.js';
import { CreddyError } from '../errors.js';
import type { Services } from '../services.js';
import { verifyDpopProof } from '../verify/dpop.js';
import type { Caller } from './context.js';
import { storeReplayCache } from './store-replay.js';

/** A DPoP proof (RFC 9449 §4) sent with an issuance request, and the URL it must be for. */
export interface IssuanceProof {
  /** The request's `DPoP` header. */
  readonly proof: string;
  /** The issuer plus the request's path: what the client must have signed as `htu`. */
  readonly htu: string;
}

/** How old an issuance proof may be (plus the configured clock skew); clients make one per request. */
const PROOF_MAX_AGE_S = 60;

/**
 * Verifies the proof of an issuance request (verify/dpop.ts) and returns the thumbprint of its
 * key, which the credential is then bound to (`cnf.jkt`): `htm` POST, `htu` the issuer plus the
 * path, no `ath` (no token is presented, RFC 9449 §5), fresh within 60 s plus the clock skew, and
 * its `jti` claimed once in the store's replay record across every replica.
 *
 * @throws CreddyError `ERR_DPOP_INVALID`
 */
export async function verifyIssuanceProof(services: Pick<Services, 'config' | 'clock' | 'store'>, proof: IssuanceProof): Promise<string> {
  const verified = await verifyDpopProof(
    { proof: proof.proof, method: 'POST', url: proof.htu },
    {
      accessToken: null,
      maxAge: PROOF_MAX_AGE_S,
      clockTolerance: services.config.keys.clockSkew,
      replay: storeReplayCache(services.store, 'dpop-proof'),
      now: () => services.clock.now(),
    },
  );
  return verified.jkt;
}

/**
 * The key an issuance binds its credential to: the proof's, when the request carried one (checked
 * by {@link verifyIssuanceProof}), else none — unless the backend or the agent has
 * `require_dpop`, which refuses the request (`ERR_DPOP_INVALID`, `details.reason: proof_required`,
 * `details.required_by: backend | agent`).
 */
export async function issuanceBinding(
  services: Pick<Services, 'config' | 'clock' | 'store'>,
  caller: Caller,
  backend: BackendCommon,
  proof: IssuanceProof | undefined,
): Promise<string | undefined> {
  if (proof) return verifyIssuanceProof(services, proof);
  const agentRequires = caller.kind === 'agent' && caller.requireDpop === true;
  if (!backend.requireDpop && !agentRequires) return undefined;
  const who = backend.requireDpop ? `backend "${backend.name}"` : `agent "${caller.name}"`;
  throw new CreddyError('ERR_DPOP_INVALID', `${who} requires DPoP-bound credentials: send a DPoP proof with the request`, {
    // Which setting asks for it, so a client that cannot make proofs (the CLI) can name the fix.
    details: { reason: 'proof_required', required_by: backend.requireDpop ? 'backend' : 'agent' },
  });
}
