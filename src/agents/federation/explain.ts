import { decodeProtectedHeader } from 'jose';
import { isoSeconds } from '../../_utils/clock.js';
import { CreddyError, isCreddyError } from '../../errors.js';
import type { ConditionVerdict } from './evaluate.js';
import { evaluateRules, selectRule } from './evaluate.js';
import { decode, type Federation, type FederationDeps } from './index.js';
import { VerifyError, verifyIdToken } from './verify.js';

/** How far the signature (and the checks jose makes with it) could be taken. */
export type SignatureStatus = 'verified' | 'invalid' | 'unverified' | 'not_checked';

/** `creddy federation explain`: every rule against one token, and what the token would get. */
export interface Explanation {
  readonly token: {
    readonly iss: string | null;
    readonly sub: string | null;
    readonly aud: readonly string[];
    readonly jti: string | null;
    readonly alg: string | null;
    readonly kid: string | null;
    readonly typ: string | null;
    readonly issued_at: string | null;
    readonly not_before: string | null;
    readonly expires_at: string | null;
  };
  /** `verified`: signature, iss, aud and lifetime checked as the server would; else `detail` says why not. */
  readonly signature: { readonly status: SignatureStatus; readonly detail: string };
  readonly rules: readonly RuleExplanation[];
  /** The rule the server would use (the first whose checks all hold), or null. */
  readonly selected: string | null;
  /** True when the server would accept this token now (signature verified and a rule selected). */
  readonly would_accept: boolean;
}

export interface RuleExplanation {
  readonly name: string;
  readonly matched: boolean;
  readonly conditions: readonly ConditionVerdict[];
  readonly subject: string | null;
  readonly subject_problem: string | null;
  readonly single_use: boolean;
  /** What a matching token may ask for: each grant and the longest TTL it could get. */
  readonly grants: readonly { readonly backend: string; readonly scope: string; readonly max_ttl: number | null }[];
}

/**
 * Explains a token against the configured rules. The claims are evaluated as written in the
 * token; the signature is verified when the issuer's keys can be fetched, and the explanation
 * says plainly when they could not (the rules' verdicts are then about unverified claims).
 */
export async function explainToken(federation: Federation, deps: FederationDeps, token: string): Promise<Explanation> {
  const payload = decode(token.trim());
  if (!payload) throw new CreddyError('ERR_USAGE', 'not a JWT (expected three base64url parts)');
  const header = decodeProtectedHeader(token.trim());
  const verdicts = evaluateRules(federation.rules, payload);
  const selected = selectRule(verdicts);
  const signature = await checkSignature(federation, deps, token.trim(), typeof payload.iss === 'string' ? payload.iss : '');
  const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
  const time = (value: unknown): string | null => (typeof value === 'number' && Number.isFinite(value) ? isoSeconds(value) : null);
  const aud = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
  return {
    token: {
      iss: str(payload.iss),
      sub: str(payload.sub),
      aud,
      jti: str(payload.jti),
      alg: str(header.alg),
      kid: str(header.kid),
      typ: str(header.typ),
      issued_at: time(payload.iat),
      not_before: time(payload.nbf),
      expires_at: time(payload.exp),
    },
    signature,
    rules: verdicts.map((v) => ({
      name: v.rule.name,
      matched: v.matched,
      conditions: v.conditions,
      subject: 'subject' in v.subject ? v.subject.subject : null,
      subject_problem: 'problem' in v.subject ? v.subject.problem : null,
      single_use: v.rule.singleUse,
      grants: v.rule.can.map((g) => {
        const backendMax = deps.config.backends.get(g.backend)?.common.maxTtl ?? null;
        const bounds = [backendMax, v.rule.maxTtl].filter((n): n is number => n !== null);
        return { backend: g.backend, scope: g.scope, max_ttl: bounds.length > 0 ? Math.min(...bounds) : null };
      }),
    })),
    selected: selected?.rule.name ?? null,
    would_accept: signature.status === 'verified' && selected !== undefined,
  };
}

async function checkSignature(
  federation: Federation,
  deps: FederationDeps,
  token: string,
  issuer: string,
): Promise<Explanation['signature']> {
  const rules = federation.rules.filter((r) => r.issuer === issuer);
  const keys = federation.issuerKeys(issuer);
  if (rules.length === 0 || !keys) return { status: 'not_checked', detail: 'no rule trusts this issuer, so its keys were not fetched' };
  try {
    await verifyIdToken(token, rules, keys, { now: deps.clock.now(), clockSkew: deps.config.keys.clockSkew });
    return { status: 'verified', detail: "signature, iss, aud, exp/nbf/iat checked against the issuer's keys" };
  } catch (err) {
    if (err instanceof VerifyError)
      return { status: 'invalid', detail: `${err.failure.code} (${err.failure.reason}): ${err.failure.message}` };
    if (isCreddyError(err, 'ERR_ISSUER_UNAVAILABLE')) {
      return { status: 'unverified', detail: `could not fetch the issuer's keys (${err.message}); the claims below are unverified` };
    }
    throw err;
  }
}
