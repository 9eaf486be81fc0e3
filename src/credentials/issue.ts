import { isoSeconds } from '../_utils/clock.js';
import { describeError } from '../_utils/error-chain.js';
import { fingerprint, timeOrderedId } from '../_utils/ids.js';
import { redact, redactCapped } from '../_utils/redact.js';
import type { Backend, Minted } from '../backends/types.js';
import { CreddyError, isCreddyError } from '../errors.js';
import { revocationHandleAad, seal } from '../keys/kek.js';
import type { BackendInstruments } from '../metrics/port.js';
import { auditEvent } from '../model/audit.js';
import type { CredentialRecord } from '../model/credential.js';
import { decideScopes, uncoveredScope } from '../policy/grants.js';
import { SCOPE_MAX_LENGTH } from '../policy/scopes.js';
import { decideTtl, type TtlBound } from '../policy/ttl.js';
import type { Services } from '../services.js';
import type { HolderChange, HolderStamp } from '../store/port.js';
import type { IssueResponse, TtlDecision } from '../wire.js';
import type { AgentCaller, Caller, RequestContext } from './context.js';
import { type IssuanceProof, issuanceBinding } from './dpop-binding.js';
import { AGENT_REVOKED_REASON, GRANT_REVOKED_REASON, KEY_REMOVED_REASON, revokeRecord, TOKEN_ROTATED_REASON } from './revoke.js';

/** How long a backend may take to mint (including its retries) before the request fails. */
export const MINT_DEADLINE_MS = 20_000;

/** An issue request after the HTTP edge checked its shape; scopes and TTL are judged here, by policy. */
export interface IssueRequest {
  readonly backend: string;
  readonly scopes: readonly unknown[] | undefined;
  readonly ttl: unknown;
  readonly metadata: Readonly<Record<string, string>> | null;
  /** Backend-specific fields (e.g. `repositories`), checked against what the backend accepts. */
  readonly params: Readonly<Record<string, unknown>>;
  /** The request's DPoP proof, if it sent one: the credential is then bound to its key. */
  readonly dpop?: IssuanceProof | undefined;
}

/**
 * Issues one credential (see {@link issue}) and counts it: outcome `issued`, `denied` (a 4xx:
 * the request was refused) or `error` (a 5xx: the broker or the backend failed), with its code
 * and duration, under the backend's name when it is configured.
 */
export async function issueCredential(services: Services, ctx: RequestContext, body: IssueRequest): Promise<IssueResponse> {
  const started = performance.now();
  const instruments = services.metrics.backend(body.backend);
  try {
    const response = await issue(services, ctx, body, instruments);
    instruments.issuance('issued', '', (performance.now() - started) / 1000);
    return response;
  } catch (err) {
    const code = isCreddyError(err) ? err.code : 'ERR_INTERNAL';
    const outcome = isCreddyError(err) && err.status < 500 ? 'denied' : 'error';
    instruments.issuance(outcome, code, (performance.now() - started) / 1000);
    throw err;
  }
}

/**
 * Issues one credential: policy (scopes ⊆ ceiling, TTL in bounds, a valid DPoP proof where the
 * backend or the agent requires one) → downstream mint → sign (with `cnf.jkt` when the request
 * carried a proof) → audit (fail-closed) → response. Every denial is audited with its code before it is thrown. If
 * the audit write fails after a downstream credential was minted, that credential is revoked
 * where the backend can, so nothing leaves or lingers unrecorded.
 */
async function issue(services: Services, ctx: RequestContext, body: IssueRequest, instruments: BackendInstruments): Promise<IssueResponse> {
  const { clock } = services;
  const { caller } = ctx;
  const base = { actor: caller.name, agent: caller.name, backend: body.backend, clientIp: ctx.clientIp, requestId: ctx.requestId };
  // Federated issuances and denials carry the rule, issuer and run in every row (audit list --rule / --run-id).
  const federation = caller.kind === 'federated' ? { federation: caller.audit } : {};
  // One clock reading: iat, and the time order of the jti (batched inserts share index pages).
  const issuedAtMs = clock.now();
  const iat = Math.floor(issuedAtMs / 1000);
  let backend: Backend;
  let scopes: string[];
  let ttl: TtlDecision;
  let jkt: string | undefined;
  try {
    backend = services.backends.get(body.backend) ?? unknownBackend(body.backend);
    const grants = caller.grants.filter((g) => g.backend === body.backend).map((g) => g.scope);
    scopes = decideScopes(body.scopes, backend, grants);
    ttl = decideTtl(body.ttl, backend, callerTtlCaps(caller, backend, iat));
    // Last of the checks: a proof's jti is spent only by a request that is otherwise granted.
    jkt = await issuanceBinding(services, caller, backend.common, body.dpop);
  } catch (err) {
    if (isCreddyError(err) && err.expose) {
      await services.audit.write({
        event: auditEvent({
          ...base,
          time: clock.now(),
          type: 'credential.denied',
          outcome: 'denied',
          reason: err.code,
          scopes: requestedScopes(body.scopes),
          details:
            err.details || caller.kind === 'federated' ? { ...(err.details ? redactStrings(err.details) : {}), ...federation } : null,
        }),
      });
    }
    throw err;
  }

  const jti = timeOrderedId(issuedAtMs);
  const exp = iat + ttl.granted;
  // Fail before minting anything downstream if there is no signer at all.
  services.keyring.signer();
  let minted: Minted | undefined;
  let deadline: AbortSignal | undefined;
  const mintStarted = performance.now();
  let mintEnded = 0;
  try {
    minted = await backend.mint({
      jti,
      agent: caller.name,
      scopes,
      ttlSeconds: ttl.granted,
      issuedAt: iat,
      expiresAt: exp,
      params: body.params,
      // Created on first read: the generic backend never reads it, and a timer per request
      // showed up in the issuance profile (~2.5%). Backends read it as they start.
      get signal() {
        return (deadline ??= AbortSignal.timeout(MINT_DEADLINE_MS));
      },
    });
    mintEnded = performance.now();
    instruments.mint((mintEnded - mintStarted) / 1000);
  } catch (err) {
    instruments.mint((performance.now() - mintStarted) / 1000);
    const code = isCreddyError(err) ? err.code : 'ERR_BACKEND_UPSTREAM';
    await services.audit.write({
      event: auditEvent({
        ...base,
        time: clock.now(),
        type: 'credential.denied',
        // A 4xx is the request's doing (a repository outside the ceiling, a permission the
        // installation lacks, a secret that is not there), found only by the backend: `denied`,
        // as the checks before the mint and the issuance metric say; a 5xx is the backend failing.
        outcome: isCreddyError(err) && err.status < 500 ? 'denied' : 'error',
        reason: code,
        scopes,
        jti,
        // What failed and why (upstream status, the network reason), redacted: the row answers
        // "why did this agent get a 502" without the server log.
        details: {
          error: describeError(err),
          ...(isCreddyError(err) && err.details ? redactStrings(err.details) : {}),
          ...(caller.kind === 'federated' ? federation : {}),
        },
      }),
    });
    throw isCreddyError(err) ? err : new CreddyError('ERR_BACKEND_UPSTREAM', `backend "${body.backend}" failed`, { cause: err });
  }

  // Signed after the mint (which may take seconds) so a rotation or key revocation meanwhile is
  // honoured: the token always carries the kid that is current when it leaves.
  const signer = services.keyring.signer();
  const token = signer.sign({
    iss: services.config.issuer,
    sub: caller.name,
    aud: backend.audience,
    client_id: caller.name,
    iat,
    nbf: iat,
    exp,
    jti,
    scope: scopes.join(' '),
    backend: body.backend,
    ...(body.metadata ? { metadata: body.metadata } : {}),
    ...(jkt === undefined ? {} : { cnf: { jkt } }),
  });
  // From the mint's end (one clock read fewer): the signer lookup and the claims are part of signing.
  services.metrics.sign((performance.now() - mintEnded) / 1000);

  const credential: CredentialRecord = {
    jti,
    agent: caller.name,
    backend: body.backend,
    scopes,
    kid: signer.kid,
    issuedAt: iat,
    expiresAt: exp,
    revokedAt: null,
    metadata: body.metadata,
    downstream: minted
      ? {
          type: minted.credential.type,
          revocation: minted.credential.revocation,
          expiresAt: typeof minted.credential['expires_at'] === 'string' ? minted.credential['expires_at'] : null,
          fingerprint: minted.secret ? fingerprint(minted.secret) : null,
        }
      : null,
    revocationHandle: minted?.revocationHandle
      ? seal(services.keks.current, Buffer.from(minted.revocationHandle), revocationHandleAad(jti))
      : null,
    downstreamRevokedAt: null,
  };
  let written: Awaited<ReturnType<Services['audit']['write']>>;
  try {
    written = await services.audit.write({
      credential,
      // An agent's credential is checked against its record (and a key-pair request's against its
      // key) inside the commit (refuseChangedHolder).
      ...(caller.kind === 'agent' ? { holder: holderStamp(caller) } : {}),
      event: auditEvent({
        ...base,
        time: clock.now(),
        type: 'credential.issued',
        outcome: 'success',
        scopes,
        jti,
        kid: signer.kid,
        details: {
          // What the backend read or made (secret paths and versions, a database role), never a secret.
          ...(minted?.auditDetails ?? {}),
          ttl,
          exp,
          // Redacted again though secret-shaped values were refused at the edge: the log never holds one.
          ...(body.metadata ? { metadata: redactStrings(body.metadata) } : {}),
          ...(credential.downstream ? { downstream: credential.downstream } : {}),
          // The key the token is bound to (cnf.jkt), and the agent key whose assertion asked for it.
          ...(jkt === undefined ? {} : { dpop_jkt: jkt }),
          ...(caller.kind === 'agent' && caller.keyJkt !== undefined ? { agent_key: caller.keyJkt } : {}),
          ...federation,
        },
      }),
    });
  } catch (err) {
    if (minted?.revocationHandle) {
      await backend.revoke(minted.revocationHandle).catch((revokeErr: unknown) => {
        services.logger.error('could not revoke downstream credential after audit failure', {
          jti,
          error: String(revokeErr),
          request_id: ctx.requestId,
        });
      });
    }
    throw err;
  }
  if (written.holderChanged) await refuseChangedHolder(services, ctx, credential, written.holderChanged);

  return {
    id: jti,
    token,
    token_type: jkt === undefined ? 'Bearer' : 'DPoP',
    expires_at: isoSeconds(exp),
    backend: body.backend,
    scopes,
    metadata: body.metadata,
    ttl,
    credential: minted?.credential ?? null,
  };
}

/** The agent record (and, for a key-pair request, the key) this request was judged by. */
function holderStamp(caller: AgentCaller): HolderStamp {
  const stamp = { id: caller.id, tokenHash: caller.tokenHash, grants: caller.grants };
  return caller.keyJkt === undefined ? stamp : { ...stamp, jkt: caller.keyJkt };
}

/**
 * An agent's record can change while one of its requests is served: `agent revoke`, `agent
 * rotate-token`, `agent revoke-grant`, `agent key remove`. Revocation and the removal of a grant
 * or a key revoke what the agent holds (what the key obtained) by scanning its active credentials
 * once the change has committed; a rotation promises the old token is refused from then on. A
 * request that authenticated and passed its policy checks before the change, and commits its row
 * after it (its downstream mint or audit write was slow; on another replica), escapes all four.
 * Its append therefore compares the agent record with the one the request was judged by, and for
 * a key-pair request looks up the key it authenticated with among the agent's keys
 * (`AuditEntry.holder`), inside the commit, under the lock every agent change takes too: either the change committed
 * first and the append reports it (`holderChanged`), or it commits after this row, and the
 * credential was issued before it (the scan of a revocation or of a grant's or key's removal then
 * sees it). Reported, and the change takes the credential away, it is revoked here and the
 * request refused as the agent's next request would be:
 * - revoked: 401 ERR_AGENT_REVOKED;
 * - the agent key that signed its client assertion removed: 401 ERR_UNAUTHENTICATED;
 * - its token rotated: 401 ERR_UNAUTHENTICATED (the old token matches no agent now);
 * - a grant its scopes needed removed: 403 ERR_SCOPE_DENIED, naming the scope.
 * A change that takes nothing from it (a grant added, one it did not need removed, another of its
 * keys removed) hands it out.
 *
 * Why in the commit rather than after it: issuance is the hot path, and a store read after every
 * commit would cost each request a round trip (PostgreSQL) for an event that almost never
 * happens. Read in the append's own transaction — in the statement that reads the chain head
 * (PostgreSQL), or by an in-process indexed read on the audit worker (SQLite) — it costs no round
 * trip, holds on every replica and process sharing the store, and answers for any way the agent
 * authenticated (bearer token or key pair).
 */
async function refuseChangedHolder(
  services: Services,
  ctx: RequestContext,
  credential: CredentialRecord,
  now: HolderChange,
): Promise<void> {
  const why = holderRefusal(now, credential);
  // The change's own scan may win the revocation; either way the token is not handed out.
  if (why) await revokeAndRefuse(services, ctx, credential, why);
}

/** What a holder change refuses, in the order the agent's next request would be judged; undefined: nothing. */
function holderRefusal(now: HolderChange, credential: CredentialRecord): Refusal | undefined {
  const served = 'while this request was served; its credential is revoked';
  if (now.revoked) {
    return {
      reason: AGENT_REVOKED_REASON,
      what: 'agent was revoked',
      refusal: new CreddyError('ERR_AGENT_REVOKED', `the agent was revoked ${served}`),
    };
  }
  // Authentication before authorization: a removed key is a 401 even when a grant went too.
  if (now.keyRemoved) {
    return {
      reason: KEY_REMOVED_REASON,
      what: 'agent key was removed',
      refusal: new CreddyError(
        'ERR_UNAUTHENTICATED',
        'the agent key that signed this request was removed while it was served; its credential is revoked',
      ),
    };
  }
  if (now.tokenRotated) {
    return {
      reason: TOKEN_ROTATED_REASON,
      what: "agent's token was rotated",
      refusal: new CreddyError('ERR_UNAUTHENTICATED', `the agent's token was rotated ${served}`),
    };
  }
  const scope = uncoveredScope(now.grants, credential);
  if (scope === undefined) return undefined;
  return {
    reason: GRANT_REVOKED_REASON,
    what: 'grant was removed',
    refusal: new CreddyError(
      'ERR_SCOPE_DENIED',
      `scope "${scope}" is no longer granted to this agent on backend "${credential.backend}": the grant was removed ${served}`,
      { details: { scope } },
    ),
  };
}

/** Why a committed credential is taken back: the revocation's reason, the log's words, the caller's error. */
interface Refusal {
  readonly reason: string;
  readonly what: string;
  readonly refusal: CreddyError;
}

/**
 * Revokes a committed credential that must not be handed out, then throws `refusal`. Whether or
 * not the revocation commits, the token is not handed out; a failure is logged (as a late
 * commit's compensation is) and the credential ends with its TTL.
 */
async function revokeAndRefuse(services: Services, ctx: RequestContext, credential: CredentialRecord, why: Refusal): Promise<never> {
  await revokeRecord(services, credential, {
    actor: 'server',
    clientIp: ctx.clientIp,
    requestId: ctx.requestId,
    reason: why.reason,
  }).catch((err: unknown) =>
    services.logger.error(`could not revoke a credential whose ${why.what} while it was issued`, {
      jti: credential.jti,
      error: String(err),
      request_id: ctx.requestId,
    }),
  );
  throw why.refusal;
}

/**
 * A federated caller's own TTL bounds beyond the backend's: its rule's max_ttl, and the ID
 * token's exp plus the backend's max_ttl (a CI job's identity does not outlast its token by more
 * than one credential lifetime). Agents have none.
 */
function callerTtlCaps(caller: Caller, backend: Backend, now: number): TtlBound[] {
  if (caller.kind !== 'federated') return [];
  const caps: TtlBound[] = [{ seconds: caller.idTokenExp + backend.common.maxTtl - now, reason: 'id_token_exp' }];
  if (caller.maxTtl !== null) caps.unshift({ seconds: caller.maxTtl, reason: 'rule_max_ttl' });
  return caps;
}

function unknownBackend(name: string): never {
  throw new CreddyError('ERR_BACKEND_UNKNOWN', `no backend named "${name}"`, { details: { backend: name } });
}

/**
 * Requested scopes as they may be recorded: strings only, capped, so a hostile body cannot bloat
 * the log, and redacted — a caller who pastes its `ckr_` token as a scope must not put it in the
 * audit, not even the part of it that fits under the cap.
 */
function requestedScopes(scopes: readonly unknown[] | undefined): string[] | null {
  if (!scopes) return null;
  return scopes.slice(0, 64).map((s) => (typeof s === 'string' ? redactCapped(s, SCOPE_MAX_LENGTH) : '<invalid>'));
}

/** Denial details echo caller input (the scope asked for); redact secret shapes before auditing. */
function redactStrings(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(details).map(([key, value]) => [key, typeof value === 'string' ? redact(value) : value]));
}
