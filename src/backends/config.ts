import type { ConfigReader } from '../_utils/config-reader.js';
import { coveredBy, scopeProblem } from '../policy/scopes.js';
import { backendTypes, isBackendType } from './registry.js';
import type { BackendConfig } from './types.js';

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
