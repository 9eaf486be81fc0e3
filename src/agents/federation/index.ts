import { decodeJwt, type JWTPayload } from 'jose';
import type { Clock } from '../../_utils/clock.js';
import { sha256Hex } from '../../_utils/ids.js';
import type { Logger } from '../../_utils/logger.js';
import { redactCapped } from '../../_utils/redact.js';
import type { Config, FederationRule } from '../../config/types.js';
import type { FederatedCaller } from '../../credentials/context.js';
import { CreddyError, isCreddyError } from '../../errors.js';
import type { Store } from '../../store/port.js';
import { auditFacts } from './audit-facts.js';
import { FederationDenied } from './denied.js';
import { closestRule, describeMiss, evaluateRules, selectRule } from './evaluate.js';
import { createIssuerKeys, type FetchDocument, type IssuerKeys } from './issuer-keys.js';
import { VerifyError, verifyIdToken } from './verify.js';

/** Longest ID token looked at (GitHub's are ~1.5 KiB); anything longer is refused before parsing. */
export const MAX_ID_TOKEN_LENGTH = 8192;
/** A compact JWS: three base64url parts. The only shape of bearer that reaches federation. */
export const ID_TOKEN_RE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;
const MAX_JTI_LENGTH = 256;

/** What federation needs; a subset of Services, so `creddy federation explain` runs without a store or keys. */
export interface FederationDeps {
  readonly config: Pick<Config, 'federation' | 'keys' | 'backends'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The replay record of `single_use` rules; absent where nothing is exchanged (explain). */
  readonly replay?: Store['replay'];
  /** Tests may replace how issuer documents are fetched; the default is fetch-json.ts. */
  readonly fetch?: FetchDocument;
}

export interface Federation {
  /**
   * Verifies an ID token and finds the rule it satisfies (the first in file order): the caller
   * it is. `spend` records the token of a `single_use` rule as used (issuance paths). Throws
   * FederationDenied (401/403, with the diagnosis for audit and log) or ERR_ISSUER_UNAVAILABLE.
   */
  authenticate(token: string, options: { readonly requestId: string | null; readonly spend: boolean }): Promise<FederatedCaller>;
  /** The issuer key cache of `issuer` (one per issuer, shared by its rules). */
  issuerKeys(issuer: string): IssuerKeys | undefined;
  readonly rules: readonly FederationRule[];
}

/**
 * Builds the federation verifier from config: one key cache per issuer, created lazily (nothing
 * is fetched until a token of that issuer arrives). Logs the config's warnings once.
 */
export function createFederation(deps: FederationDeps): Federation {
  const { clock, logger } = deps;
  const { rules, warnings } = deps.config.federation;
  for (const warning of warnings) logger.warn(`INSECURE: ${warning}`);
  const caches = new Map<string, IssuerKeys>();
  for (const rule of rules) {
    if (!caches.has(rule.issuer)) {
      const options = { issuer: rule.issuer, jwksUri: rule.jwksUri, ca: rule.ca, clock, logger };
      caches.set(rule.issuer, createIssuerKeys(deps.fetch ? { ...options, fetch: deps.fetch } : options));
    }
  }

  const deny = (denial: FederationDenied, requestId: string | null): FederationDenied => {
    logger.warn('federated token refused', { request_id: requestId, code: denial.code, ...denial.diagnosis });
    return denial;
  };

  return {
    rules,
    issuerKeys: (issuer) => caches.get(issuer),
    async authenticate(token, { requestId, spend }) {
      // Without rules a JWT bearer is what it was before federation: not an agent token.
      if (rules.length === 0)
        throw new CreddyError('ERR_UNAUTHENTICATED', 'not an agent token (ckr_…), and no federation rules are configured');
      const unverified = decode(token);
      if (!unverified) throw deny(new FederationDenied('ERR_ID_TOKEN_INVALID', 'malformed ID token', 'malformed'), requestId);
      const issuer = typeof unverified.iss === 'string' ? unverified.iss : '';
      const candidates = rules.filter((r) => r.issuer === issuer);
      const keys = caches.get(issuer);
      if (candidates.length === 0 || !keys) {
        throw deny(
          new FederationDenied('ERR_ID_TOKEN_INVALID', 'no federation rule trusts the issuer of this ID token', 'untrusted_issuer', {
            issuer: redactCapped(issuer, 256),
            unverified: true,
            ...describeMiss(closestRule(evaluateRules(rules, unverified))),
          }),
          requestId,
        );
      }
      let payload: JWTPayload;
      try {
        payload = await verifyIdToken(token, candidates, keys, { now: clock.now(), clockSkew: deps.config.keys.clockSkew });
      } catch (err) {
        if (!(err instanceof VerifyError)) {
          if (isCreddyError(err, 'ERR_ISSUER_UNAVAILABLE'))
            logger.warn('federated token refused', { request_id: requestId, code: err.code, issuer });
          throw err;
        }
        // The claims are unverified here: said so in the row, and still the quickest pointer to a wrong aud.
        const miss = describeMiss(closestRule(evaluateRules(candidates, unverified)));
        throw deny(
          new FederationDenied(err.failure.code, err.failure.message, err.failure.reason, { issuer, unverified: true, ...miss }),
          requestId,
        );
      }
      const verdicts = evaluateRules(candidates, payload);
      const selected = selectRule(verdicts);
      if (!selected || !('subject' in selected.subject)) {
        throw deny(
          new FederationDenied(
            'ERR_FEDERATION_NO_MATCH',
            'no federation rule matches this ID token; the server log and audit row under this request id name the closest rule',
            'no_rule_matched',
            { issuer, sub: redactCapped(String(payload.sub ?? ''), 256), ...describeMiss(closestRule(verdicts)) },
          ),
          requestId,
        );
      }
      const { rule } = selected;
      if (spend && rule.singleUse) await spendOnce(rule, payload, deps, (d) => deny(d, requestId));
      return {
        kind: 'federated',
        name: selected.subject.subject,
        grants: rule.can,
        rule: rule.name,
        maxTtl: rule.maxTtl,
        idTokenExp: payload.exp!,
        audit: auditFacts(rule, payload),
      };
    },
  };
}

/**
 * `single_use`: records issuer + jti in the store until the token expires (plus the skew), so a
 * second exchange — on any replica — is refused. A token without a jti cannot be held to once.
 */
async function spendOnce(
  rule: FederationRule,
  payload: JWTPayload,
  deps: FederationDeps,
  deny: (denial: FederationDenied) => FederationDenied,
): Promise<void> {
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw deny(
      new FederationDenied('ERR_ID_TOKEN_INVALID', `rule ${rule.name} is single_use and the ID token has no usable jti`, 'jti', {
        rule: rule.name,
      }),
    );
  }
  if (!deps.replay) throw new CreddyError('ERR_INTERNAL', 'single_use needs the store replay record');
  const key = sha256Hex(`${rule.issuer}\n${jti}`);
  if (!(await deps.replay.claim(key, payload.exp! + deps.config.keys.clockSkew))) {
    throw deny(
      new FederationDenied('ERR_ID_TOKEN_REPLAYED', 'this ID token was already exchanged (single_use)', 'replayed', {
        rule: rule.name,
        issuer: rule.issuer,
        jti: redactCapped(jti, 128),
      }),
    );
  }
}

/** The unverified payload of a JWT-shaped token, or undefined (for routing and diagnosis only, never trust). */
export function decode(token: string): JWTPayload | undefined {
  if (token.length > MAX_ID_TOKEN_LENGTH || !ID_TOKEN_RE.test(token)) return undefined;
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}
