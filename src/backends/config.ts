import type { ConfigReader } from '../_utils/config-reader.js';
import { coveredBy, scopeProblem } from '../policy/scopes.js';
import { backendTypes, isBackendType } from './registry.js';
import type { BackendConfig, BackendType } from './types.js';

/** Backend names: also how a request names one, so anything else is refused before any lookup. */
export const BACKEND_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Validates one `backends.<name>` entry: common keys here, type-specific keys by its type. */
export function parseBackend(name: string, reader: ConfigReader): BackendConfig {
  if (!BACKEND_NAME_RE.test(name)) reader.fail('', `backend name must match ${BACKEND_NAME_RE.source}`);
  const type = reader.string('type');
  if (!isBackendType(type)) {
    reader.fail('type', `unknown backend type "${type}" (known: ${Object.keys(backendTypes).join(', ')})`);
  }
  const maxTtl = reader.duration('max_ttl', 3600);
  const defaultTtl = reader.duration('default_ttl', Math.min(900, maxTtl));
  if (maxTtl < 60) reader.report('max_ttl', 'must be at least 60s');
  if (defaultTtl < 60) reader.report('default_ttl', 'must be at least 60s');
  if (defaultTtl > maxTtl) reader.report('default_ttl', `must not exceed max_ttl (${maxTtl}s)`);
  const allowedScopes = reader.guard(() => reader.stringList('allowed_scopes'), []);
  allowedScopes.forEach((scope, i) => {
    const problem = scopeProblem(scope);
    if (problem) reader.report(`allowed_scopes[${i}]`, problem);
  });
  const defaultScopes = reader.stringList('default_scopes', []);
  defaultScopes.forEach((scope, i) => {
    const problem = scopeProblem(scope) ?? (coveredBy(allowedScopes, scope) ? undefined : 'is not covered by allowed_scopes');
    if (problem) reader.report(`default_scopes[${i}]`, problem);
  });
  const common = {
    name,
    type,
    description: reader.optionalString('description'),
    defaultTtl,
    maxTtl,
    allowedScopes,
    defaultScopes,
    requireDpop: reader.boolean('require_dpop', false),
  };
  const settings = backendTypes[type].parse(reader, name);
  reader.done();
  return { common, settings };
}

/** The `aud` of a backend's tokens: what its type's config sets (generic `audience`), else its name. */
export function backendAudience(config: BackendConfig): string {
  const type: BackendType<unknown> = backendTypes[config.common.type];
  return type.audience?.(config.settings, config.common.name) ?? config.common.name;
}

/**
 * Refuses two backends whose tokens carry one `aud`. A verifier checks `aud` (and scopes), so a
 * token of one would pass at the other's service: an agent granted `sandbox:*` could get a
 * `refund` token for `payments`, and as a Bearer token even where `payments` requires DPoP. The
 * problem is reported at the backend that set its `audience` (the other one may only be named so).
 */
export function checkAudiences(entries: ReadonlyArray<[string, ConfigReader]>, backends: ReadonlyMap<string, BackendConfig>): void {
  const owners = new Map<string, { name: string; reader: ConfigReader }>();
  for (const [name, reader] of entries) {
    const config = backends.get(name);
    // An unresolved ${env:}/${file:} is already reported; its placeholder is no audience.
    if (!config || reader.broken('audience')) continue;
    const audience = backendAudience(config);
    const owner = owners.get(audience);
    if (!owner) {
      owners.set(audience, { name, reader });
      continue;
    }
    const [blamed, other] = !reader.has('audience') && owner.reader.has('audience') ? [owner.reader, name] : [reader, owner.name];
    blamed.report(
      blamed.has('audience') ? 'audience' : '',
      `audience "${audience}" is also the audience of backend "${other}": each backend needs an audience of its own, ` +
        "or a verifier that checks aud accepts one backend's tokens for the other",
    );
  }
}
