import { CLAIM_NAME_RE, readClaim } from './claim-pattern.js';

/**
 * Subject templates of federation rules: `gha:{repository}@{ref}` names the caller in tokens
 * (`sub`, `client_id`) and audit rows. Placeholders are claim names; the literal text must hold a
 * `:`, which agent names never contain, so a federated caller can never take an agent's name
 * (and with it that agent's credentials in `GET /v1/credentials`).
 */

/** Longest rendered subject; it becomes a token claim and an audit column. */
export const SUBJECT_MAX_LENGTH = 200;
const PLACEHOLDER = /\{([^{}]*)\}/g;

/** What is wrong with a template, or undefined. */
export function subjectTemplateProblem(template: string): string | undefined {
  const literal = template.replace(PLACEHOLDER, '');
  if (/[{}]/.test(literal)) return `"${template}": unbalanced { or }`;
  for (const [, name] of template.matchAll(PLACEHOLDER)) {
    if (!CLAIM_NAME_RE.test(name!)) return `"${template}": {${name}} is not a claim name`;
  }
  if (!literal.includes(':'))
    return `"${template}" must contain a ":" outside placeholders (e.g. gha:{repository}), so it never equals an agent name`;
  if (/[\s\p{Cc}]/u.test(literal)) return `"${template}" must not contain spaces or control characters`;
  return undefined;
}

/** The claims a template reads. */
export function subjectClaims(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/**
 * Fills the template from the token's claims: the subject, or the problem (a placeholder's claim
 * absent or not text, a value with whitespace or control characters, too long).
 */
export function renderSubject(template: string, payload: Readonly<Record<string, unknown>>): { subject: string } | { problem: string } {
  let problem: string | undefined;
  const subject = template.replace(PLACEHOLDER, (_, name: string) => {
    const value = readClaim(payload, name);
    if (value === undefined) problem ??= `claim ${name} (used in subject) is absent or not a string`;
    else if (/[\s\p{Cc}{}]/u.test(value)) problem ??= `claim ${name} (used in subject) contains whitespace, braces or control characters`;
    return value ?? '';
  });
  if (problem) return { problem };
  if (subject.length > SUBJECT_MAX_LENGTH) return { problem: `subject is longer than ${SUBJECT_MAX_LENGTH} characters` };
  return { subject };
}
