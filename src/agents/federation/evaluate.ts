import { redactCapped } from '../../_utils/redact.js';
import type { FederationRule } from '../../config/types.js';
import { matchesClaimPattern, readClaim } from '../../policy/claim-pattern.js';
import { renderSubject } from '../../policy/subject-template.js';

/** One condition of a rule against a token. */
export interface ConditionVerdict {
  readonly claim: string;
  readonly expected: readonly string[];
  /** The token's value (capped); null when absent or not text. */
  readonly actual: string | null;
  readonly matched: boolean;
}

/** One rule against a token: issuer, audience, each claim condition, the subject it would render. */
export interface RuleVerdict {
  readonly rule: FederationRule;
  readonly conditions: readonly ConditionVerdict[];
  readonly subject: { readonly subject: string } | { readonly problem: string };
  readonly matched: boolean;
  /** How many checks failed (issuer and audience count as conditions): the fewest is the closest rule. */
  readonly failures: number;
}

const VALUE_CAP = 128;

/** Evaluates every rule in file order; pure, no verification (the caller verified the token or says it did not). */
export function evaluateRules(rules: readonly FederationRule[], payload: Readonly<Record<string, unknown>>): RuleVerdict[] {
  return rules.map((rule) => evaluateRule(rule, payload));
}

function evaluateRule(rule: FederationRule, payload: Readonly<Record<string, unknown>>): RuleVerdict {
  const audiences = typeof payload['aud'] === 'string' ? [payload['aud']] : Array.isArray(payload['aud']) ? payload['aud'] : [];
  const conditions: ConditionVerdict[] = [
    { claim: 'iss', expected: [rule.issuer], actual: shown(readClaim(payload, 'iss')), matched: payload['iss'] === rule.issuer },
    {
      claim: 'aud',
      expected: [rule.audience],
      actual: shown(audiences.filter((a) => typeof a === 'string').join(' ') || undefined),
      matched: audiences.includes(rule.audience),
    },
    ...rule.claims.map((condition) => {
      const value = readClaim(payload, condition.claim);
      return {
        claim: condition.claim,
        expected: condition.patterns,
        actual: shown(value),
        matched: value !== undefined && condition.patterns.some((pattern) => matchesClaimPattern(pattern, value)),
      };
    }),
  ];
  const subject = renderSubject(rule.subject, payload);
  const failures = conditions.filter((c) => !c.matched).length + ('problem' in subject ? 1 : 0);
  return { rule, conditions, subject, matched: failures === 0, failures };
}

/** The rule a token identifies as: the first in file order whose checks all hold. */
export function selectRule(verdicts: readonly RuleVerdict[]): RuleVerdict | undefined {
  return verdicts.find((v) => v.matched);
}

/** The rule that came closest (fewest failed checks; the earlier on a tie). */
export function closestRule(verdicts: readonly RuleVerdict[]): RuleVerdict | undefined {
  return verdicts.reduce<RuleVerdict | undefined>((best, v) => (best === undefined || v.failures < best.failures ? v : best), undefined);
}

/** What the audit row and the log say about a refusal: the closest rule and what failed in it. */
export function describeMiss(verdict: RuleVerdict | undefined): Record<string, unknown> {
  if (!verdict) return {};
  return {
    closest_rule: verdict.rule.name,
    failed: [
      ...verdict.conditions.filter((c) => !c.matched).map((c) => ({ claim: c.claim, expected: c.expected.slice(0, 8), actual: c.actual })),
      ...('problem' in verdict.subject ? [{ claim: 'subject', problem: verdict.subject.problem }] : []),
    ],
  };
}

/** A claim value as it may be logged and audited: capped, secret shapes redacted. */
function shown(value: string | undefined): string | null {
  return value === undefined ? null : redactCapped(value, VALUE_CAP);
}
