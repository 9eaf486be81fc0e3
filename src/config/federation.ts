import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConfigReader } from '../_utils/config-reader.js';
import { isSecureOrLoopbackUrl } from '../_utils/url.js';
import { BACKEND_NAME_RE } from '../backends/config.js';
import type { BackendConfig } from '../backends/types.js';
import { CLAIM_NAME_RE, claimPatternProblem } from '../policy/claim-pattern.js';
import { parseGrant } from '../policy/grants.js';
import { subjectTemplateProblem } from '../policy/subject-template.js';
import type { ClaimCondition, FederationConfig, FederationRule } from './types.js';

/** Signature algorithms an ID token may use: asymmetric only (an HS* key would be the issuer's public key). */
export const ID_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

/** GitHub Actions' issuer host: its repository and owner *names* can be renamed and re-registered by someone else. */
const GITHUB_ACTIONS_HOST = 'token.actions.githubusercontent.com';
const GITHUB_IMMUTABLE_IDS = ['repository_owner_id', 'repository_id'];

/** Checked by issuer, audience and the time checks themselves; a condition on them would mislead. */
const RESERVED_CLAIMS = new Set(['iss', 'aud', 'exp', 'nbf', 'iat', 'jti']);
const MAX_PATTERNS = 32;

/**
 * Validates the `federation:` block (name → rule). Refused, naming the rule: an issuer or
 * jwks_uri over plain http other than loopback, creddy's own issuer, a rule without any claim
 * condition, a symmetric or `none` algorithm, a grant outside its backend's allowed_scopes, rules
 * of one issuer that disagree on where its keys are. Accepted with a warning: a GitHub Actions
 * rule that does not pin `repository_owner_id` or `repository_id`.
 */
/** No `federation:` block (or one whose problems were reported): no rule trusts any issuer. */
export const NO_FEDERATION: FederationConfig = { rules: [], warnings: [] };

export function parseFederation(
  entries: Array<[string, ConfigReader]>,
  context: { issuer: string; baseDir: string; backends: ReadonlyMap<string, BackendConfig> },
): FederationConfig {
  const rules: FederationRule[] = [];
  const warnings: string[] = [];
  for (const [name, reader] of entries) {
    const rule = parseRule(name, reader, context);
    const sibling = rules.find((r) => r.issuer === rule.issuer);
    if (sibling) {
      // One issuer has one key set: the cache and the unknown-kid cooldown are per issuer.
      if (sibling.jwksUri !== rule.jwksUri) reader.fail('jwks_uri', `differs from rule ${sibling.name} for the same issuer`);
      if (sibling.ca !== rule.ca) reader.fail('ca_file', `differs from rule ${sibling.name} for the same issuer`);
      if (sibling.algorithms.join() !== rule.algorithms.join())
        reader.fail('algorithms', `differ from rule ${sibling.name} for the same issuer`);
    }
    if (isGitHubActions(rule.issuer) && !rule.claims.some((c) => GITHUB_IMMUTABLE_IDS.includes(c.claim))) {
      warnings.push(
        `federation.${name}: GitHub Actions rule without a repository_owner_id or repository_id condition; ` +
          'owner and repository names can be renamed and re-registered by someone else, ids cannot',
      );
    }
    rules.push(rule);
  }
  return Object.freeze({ rules: Object.freeze(rules), warnings: Object.freeze(warnings) });
}

function parseRule(
  name: string,
  reader: ConfigReader,
  context: { issuer: string; baseDir: string; backends: ReadonlyMap<string, BackendConfig> },
): FederationRule {
  if (!BACKEND_NAME_RE.test(name)) reader.fail('', `rule name must match ${BACKEND_NAME_RE.source}`);
  const issuer = reader.string('issuer');
  if (!isSecureOrLoopbackUrl(issuer)) reader.fail('issuer', 'must be an https URL (plain http only to a loopback address)');
  if (issuer === context.issuer) reader.fail('issuer', "is creddy's own issuer; its tokens are credentials, not identities");
  const audience = reader.string('audience');
  const jwksUri = reader.optionalString('jwks_uri') ?? null;
  if (jwksUri !== null && !isSecureOrLoopbackUrl(jwksUri))
    reader.fail('jwks_uri', 'must be an https URL (plain http only to a loopback address)');
  const caFile = reader.optionalString('ca_file');
  const ca = caFile === undefined ? null : readCa(resolve(context.baseDir, caFile), reader);
  const algorithms = reader.stringList('algorithms', [...ID_TOKEN_ALGORITHMS]);
  algorithms.forEach((alg, i) => {
    if (!(ID_TOKEN_ALGORITHMS as readonly string[]).includes(alg)) {
      reader.fail(
        `algorithms[${i}]`,
        `"${alg}" is not accepted: only asymmetric algorithms (${ID_TOKEN_ALGORITHMS.join(', ')}); ` +
          'with HS* anyone holding the public key could sign, with none nobody needs to',
      );
    }
  });
  if (algorithms.length === 0) reader.fail('algorithms', 'must name at least one algorithm');
  const claims = parseClaims(reader);
  const subject = reader.string('subject', `${name}:{sub}`);
  const subjectProblem = subjectTemplateProblem(subject);
  if (subjectProblem) reader.fail('subject', subjectProblem);
  const canList = reader.stringList('can');
  if (canList.length === 0) reader.fail('can', 'must grant at least one BACKEND:SCOPE');
  const can = canList.map((text, i) => {
    const parsed = parseGrant(text, (backend) => context.backends.get(backend)?.common.allowedScopes);
    return 'problem' in parsed ? reader.fail(`can[${i}]`, parsed.problem) : parsed;
  });
  const maxTtl = reader.optionalDuration('max_ttl') ?? null;
  if (maxTtl !== null && maxTtl < 60) reader.fail('max_ttl', 'must be at least 60s');
  const singleUse = reader.boolean('single_use', false);
  reader.done();
  return Object.freeze({ name, issuer, audience, jwksUri, ca, algorithms, claims, subject, can, maxTtl, singleUse });
}

function parseClaims(reader: ConfigReader): ClaimCondition[] {
  const claimsReader = reader.optionalChild('claims');
  const names = claimsReader?.keys() ?? [];
  if (!claimsReader || names.length === 0) {
    reader.fail(
      'claims',
      'at least one claim condition is required: without one the rule accepts every token the issuer signs for this audience',
    );
  }
  return names.map((claim) => {
    if (!CLAIM_NAME_RE.test(claim)) claimsReader.fail(claim, 'is not a claim name (letters, digits, _ . : - ; / reaches into an object)');
    if (RESERVED_CLAIMS.has(claim))
      claimsReader.fail(claim, 'is checked by issuer, audience and the token lifetime; not a claim condition');
    const raw = claimsReader.value(claim);
    const values = Array.isArray(raw) ? raw : [raw];
    if (values.length === 0 || values.length > MAX_PATTERNS)
      claimsReader.fail(claim, `must be a value or a list of 1-${MAX_PATTERNS} values`);
    const patterns = values.map((value, i) => {
      const at = Array.isArray(raw) ? `${claim}[${i}]` : claim;
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        return claimsReader.fail(at, 'must be a string (exact, or a glob with *), a number or a boolean');
      }
      const pattern = String(value);
      const problem = claimPatternProblem(pattern);
      return problem ? claimsReader.fail(at, problem) : pattern;
    });
    return Object.freeze({ claim, patterns: Object.freeze(patterns) });
  });
}

function readCa(path: string, reader: ConfigReader): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch {
    return reader.fail('ca_file', `cannot read ${path}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) reader.fail('ca_file', `${path} holds no PEM certificate`);
  return pem;
}

/** True for GitHub Actions' issuer (also its per-enterprise form `…/ENTERPRISE`). */
export function isGitHubActions(issuer: string): boolean {
  return new URL(issuer).hostname === GITHUB_ACTIONS_HOST;
}
