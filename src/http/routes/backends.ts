import { Hono } from 'hono';
import type { Federation } from '../../agents/federation/index.js';
import { BACKEND_NAME_RE } from '../../backends/config.js';
import { CreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import type { BackendInfo } from '../../wire.js';
import { type AppEnv, callerOf } from '../context.js';
import { requireCaller } from '../middleware/require-caller.js';
import type { AuthThrottle } from '../middleware/throttle.js';

/**
 * `GET /v1/backends/:name`: a backend's type and TTLs, for a caller that holds a grant on it, so
 * a client can refuse a request it could not use (an AWS `credential_process` for a github
 * backend) before anything is issued. It reveals no more than an issue request would: unknown →
 * 404, no grant → 403.
 */
export function backendRoutes(services: Services, federation: Federation, throttle: AuthThrottle): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // A lookup spends no single-use ID token: the issuance that follows does.
  app.get('/:name', requireCaller(services, federation, throttle, { spend: false }), (c) => {
    const name = c.req.param('name');
    // The config's name grammar, as on issuance: anything else cannot name a backend, and is not echoed.
    if (!BACKEND_NAME_RE.test(name))
      throw new CreddyError('ERR_BAD_REQUEST', 'name: must be a backend name ([a-z0-9][a-z0-9_-]{0,62})', { details: { field: 'name' } });
    const backend = services.backends.get(name);
    if (!backend) throw new CreddyError('ERR_BACKEND_UNKNOWN', `no backend named "${name}"`, { details: { backend: name } });
    const grants = callerOf(c)
      .caller.grants.filter((g) => g.backend === name)
      .map((g) => g.scope);
    if (grants.length === 0)
      throw new CreddyError('ERR_BACKEND_FORBIDDEN', `caller has no grant for backend "${name}"`, { details: { backend: name } });
    const { common } = backend;
    const info: BackendInfo = {
      name,
      type: common.type,
      default_ttl: common.defaultTtl,
      max_ttl: common.maxTtl,
      default_scopes: common.defaultScopes,
      grants,
    };
    return c.json(info);
  });
  return app;
}
