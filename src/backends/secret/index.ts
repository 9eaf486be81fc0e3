import { isoSeconds } from '../../_utils/clock.js';
import { CreddyError } from '../../errors.js';
import type { SecretValue } from '../../wire.js';
import type { Backend, BackendType, Minted, MintRequest } from '../types.js';
import { parseSecretSettings, type SecretSettings } from './config.js';
import { secretScopeProblem, selectorOf } from './path.js';
import type { SecretReading, SecretSource } from './source.js';

/** Most paths one issuance may return: a broad wildcard must not turn one response into a dump of the vault. */
export const MAX_SECRETS_PER_CREDENTIAL = 100;

/**
 * `type: secret` — the credential is the current values of the granted secret paths (and, within
 * a rotation's grace, the previous ones), read from the store and unsealed with the KEK. Values
 * outlive the token that read them, so `revocation` is `none`. The audit row of each issuance names
 * every path and version read, never a value.
 */
export const secret: BackendType<SecretSettings> = {
  parse: parseSecretSettings,
  servedFromStore: 'secret: values come from the store (checked above); nothing downstream to check',
  create: (settings, common, deps): Backend => {
    const source = deps.secrets;
    if (!source) throw new CreddyError('ERR_INTERNAL', `backend "${common.name}" of type secret needs the secret source`);
    return {
      common,
      audience: common.name,
      ttlLimits: {},
      requestParams: [],
      checkScope: secretScopeProblem,
      mint: (request) => mintSecrets(request, settings, source),
      // Values cannot be taken back from whoever read them: rotate instead.
      revoke: async () => {},
      sweep: (now) => source.erase(now),
    };
  },
};

async function mintSecrets(request: MintRequest, settings: SecretSettings, source: SecretSource): Promise<Minted> {
  const now = request.issuedAt;
  const readings = await source.read(selectorOf(request.scopes), now, MAX_SECRETS_PER_CREDENTIAL);
  const byPath = new Map<string, SecretReading[]>();
  for (const reading of readings) byPath.set(reading.path, [...(byPath.get(reading.path) ?? []), reading]);
  for (const scope of request.scopes) {
    const found = scope.endsWith('*') ? [...byPath.keys()].some((p) => p.startsWith(scope.slice(0, -1))) : byPath.has(scope);
    if (!found) {
      throw new CreddyError('ERR_SECRET_NOT_FOUND', scope.endsWith('*') ? `no secret under ${scope}` : `no secret at ${scope}`, {
        details: { scope },
      });
    }
  }
  const secrets: Record<string, SecretValue> = {};
  const read: Array<{ path: string; version: number; previous_version?: number }> = [];
  for (const [path, versions] of byPath) {
    const current = versions.find((v) => v.supersededAt === null);
    // A path whose current value was erased under us (deleted mid-read) is simply not there.
    if (!current) continue;
    // Only the version the current one replaced (versions of a path are consecutive), while its
    // grace lasts. An older one may still be inside the grace of its own rotation, but the rotation
    // after it decided what stays readable: `secret rotate --grace 0` cuts off every old value.
    const previous = versions.find((v) => v.version === current.version - 1 && v.supersededAt !== null && previousUntil(v, settings) > now);
    secrets[path] = {
      value: current.value,
      version: current.version,
      created_at: isoSeconds(current.createdAt),
      env: settings.env.get(path) ?? null,
      previous: previous
        ? { value: previous.value, version: previous.version, readable_until: isoSeconds(previousUntil(previous, settings)) }
        : null,
    };
    read.push({ path, version: current.version, ...(previous ? { previous_version: previous.version } : {}) });
  }
  return {
    credential: { type: 'secret_values', revocation: 'none', expires_at: null, secrets },
    auditDetails: { secrets: read },
  };
}

/**
 * Until when a replaced version is readable through this backend: its own grace from the
 * rotation, and never past what the store allows (the longest grace of the backends serving it).
 */
function previousUntil(reading: SecretReading, settings: SecretSettings): number {
  return Math.min(reading.readableUntil ?? 0, (reading.supersededAt ?? 0) + settings.grace);
}
