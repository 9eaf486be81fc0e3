import { redactCapped } from '../../_utils/redact.js';
import type { FederationRule } from '../../config/types.js';
import { readClaim } from '../../policy/claim-pattern.js';

/**
 * Claims that say which CI run a token belongs to, recorded with every federated issuance:
 * GitHub Actions' published claims, GitLab CI's, and a Kubernetes pod's. Whatever the rule's own
 * conditions read is recorded too.
 */
const RUN_CLAIMS = [
  // GitHub Actions
  'repository',
  'repository_id',
  'repository_owner_id',
  'ref',
  'sha',
  'workflow',
  'workflow_ref',
  'job_workflow_ref',
  'event_name',
  'run_id',
  'run_attempt',
  'actor',
  'actor_id',
  'environment',
  // GitLab CI
  'project_path',
  'project_id',
  'pipeline_id',
  'job_id',
  'user_login',
  // Kubernetes
  'kubernetes.io/namespace',
  'kubernetes.io/serviceaccount/name',
  'kubernetes.io/pod/name',
];
const MAX_CLAIMS = 40;
const VALUE_CAP = 256;

/**
 * `details.federation` of an issuance by a federated caller: the rule, issuer, `sub`, the ID
 * token's jti, `run_id` (GitHub run_id or GitLab pipeline_id; indexed for `audit list --run-id`)
 * and the run's claims. Values are capped and redacted: claims are not secrets, but they are
 * caller input.
 */
export function auditFacts(rule: FederationRule, payload: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const text = (name: string): string | null => {
    const value = readClaim(payload, name);
    return value === undefined ? null : redactCapped(value, VALUE_CAP);
  };
  const claims: Record<string, string> = {};
  for (const name of [...RUN_CLAIMS, ...rule.claims.map((c) => c.claim)]) {
    const value = text(name);
    if (value !== null && Object.keys(claims).length < MAX_CLAIMS) claims[name] = value;
  }
  return {
    rule: rule.name,
    issuer: rule.issuer,
    sub: text('sub'),
    jti: text('jti'),
    run_id: text('run_id') ?? text('pipeline_id'),
    claims,
  };
}
