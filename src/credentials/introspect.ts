import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { nowSeconds } from '../_utils/clock.js';
import { CreddyError, isCreddyError } from '../errors.js';
import type { CredentialRecord } from '../model/credential.js';
import type { Services } from '../services.js';
import { type CreddyClaims, verifyAccessToken } from '../verify/access-token.js';
import type { IntrospectionResponse } from '../wire.js';
import type { RequestContext } from './context.js';
import { revokeRecord } from './revoke.js';
import { revocationStatus } from './status.js';

/** RFC 7662 §2.2: an inactive token is reported with nothing but `active`, whatever the reason. */
const INACTIVE: IntrospectionResponse = { active: false };

/** A token the broker issued and that has not expired: its verified claims and its credential row. */
interface Issued {
  readonly claims: CreddyClaims;
  readonly record: CredentialRecord;
}

/**
 * A creddy access token as the broker itself judges it: signed by a key it publishes (a token of
 * a key no longer published is expired or revoked), `typ: at+jwt`, its issuer, not expired, and
 * recorded in the credentials table. Anything else is undefined: the callers answer "inactive".
 */
async function findIssued(services: Pick<Services, 'config' | 'clock' | 'keyring' | 'store'>, token: string): Promise<Issued | undefined> {
  const keys = createLocalJWKSet(JSON.parse(services.keyring.jwks().body) as JSONWebKeySet);
  let claims: CreddyClaims;
  try {
    // The skew covers a replica whose clock runs behind the signer's (iat, nbf); exp is judged exactly below.
    claims = await verifyAccessToken(token, {
      issuer: services.config.issuer,
      clockTolerance: services.config.keys.clockSkew,
      keys,
      now: () => services.clock.now(),
    });
  } catch (err) {
    if (isCreddyError(err)) return undefined;
    throw err;
  }
  if (claims.exp <= nowSeconds(services.clock)) return undefined;
  const record = await services.store.credentials.get(claims.jti);
  return record ? { claims, record } : undefined;
}

/**
 * RFC 7662 introspection for an agent. Active only for its own token that is validly signed,
 * unexpired and not revoked (the deny-list, the audit log's revocations and revoked signing keys
 * all count, as on `GET /v1/revocations/:jti`). Another agent's token is reported `{active:
 * false}` exactly like an unknown one: the endpoint tells an agent about its own credentials
 * only, and a resource server that mistakenly introspects with an agent's identity fails closed.
 */
export async function introspectToken(services: Services, ctx: RequestContext, token: string): Promise<IntrospectionResponse> {
  const issued = await findIssued(services, token);
  if (!issued || issued.record.agent !== ctx.caller.name) return INACTIVE;
  if ((await revocationStatus(services, issued.claims.jti)).revoked) return INACTIVE;
  const { claims } = issued;
  return {
    active: true,
    scope: claims.scope,
    client_id: claims.client_id,
    sub: claims.sub,
    ...(claims.aud === undefined ? {} : { aud: claims.aud }),
    iss: claims.iss,
    exp: claims.exp,
    ...(claims.iat === undefined ? {} : { iat: claims.iat }),
    ...(claims.nbf === undefined ? {} : { nbf: claims.nbf }),
    jti: claims.jti,
    token_type: claims.cnf ? 'DPoP' : 'Bearer',
    backend: claims.backend,
    ...(claims.cnf ? { cnf: { jkt: claims.cnf.jkt } } : {}),
    ...(claims.metadata ? { metadata: claims.metadata } : {}),
  };
}

/**
 * RFC 7009 revocation for an agent: its own unexpired token is revoked as by `DELETE
 * /v1/credentials/:id` (deny-listed, downstream revoked where the backend can, audited). A token
 * that is invalid, expired, unknown or already revoked needs nothing (RFC 7009 §2.2). Another
 * agent's valid token is refused (§2.1): `ERR_FORBIDDEN`.
 */
export async function revokeToken(services: Services, ctx: RequestContext, token: string): Promise<void> {
  const issued = await findIssued(services, token);
  if (!issued) return;
  if (issued.record.agent !== ctx.caller.name) throw new CreddyError('ERR_FORBIDDEN', 'this token was issued to another caller');
  await revokeRecord(services, issued.record, { actor: ctx.caller.name, clientIp: ctx.clientIp, requestId: ctx.requestId });
}
