import { Hono } from 'hono';
import { CreddyError } from '../../errors.js';
import { isoSeconds, nowSeconds } from '../../_utils/clock.js';
import { authenticate } from '../auth.js';
import { parseIssueBody } from '../body.js';
import { issueCredential, type RequestContext } from '../issue.js';
import { revokeCredential } from '../revoke.js';
import type { Services } from '../services.js';
import { CREDENTIAL_ID_RE, clientIp, type AppEnv } from '../request.js';
import { recordAuthFailure } from '../auth-failures.js';
import type { AuthThrottle } from '../throttle.js';
import { isCreddyError } from '../../errors.js';
import type { Context } from 'hono';

/** `/v1/credentials`: issue, list own, revoke own. Every route needs an agent bearer token. */
export function credentialRoutes(services: Services, throttle: AuthThrottle): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  const context = async (c: Context<AppEnv>): Promise<RequestContext> => {
    const requestId = c.get('requestId');
    try {
      const agent = await authenticate(services, c.req.header('authorization'));
      return { agent, clientIp: clientIp(c), requestId };
    } catch (err) {
      throw isCreddyError(err) ? await recordAuthFailure(services, throttle, c, err) : err;
    }
  };

  const readJson = async (c: Context<AppEnv>): Promise<unknown> => {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\b/i.test(type)) throw new CreddyError('ERR_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
    try {
      return await c.req.json();
    } catch {
      throw new CreddyError('ERR_BAD_REQUEST', 'body: not valid JSON', { details: { field: 'body' } });
    }
  };

  const issue = async (c: Context<AppEnv>, backendParam: string | undefined) => {
    const ctx = await context(c);
    const body = parseIssueBody(await readJson(c), backendParam, (name) => services.backends.get(name)?.requestParams ?? []);
    return c.json(await issueCredential(services, ctx, body), 201);
  };

  app.post('/', (c) => issue(c, undefined));
  app.post('/:backend', (c) => issue(c, c.req.param('backend')));

  app.get('/', async (c) => {
    const ctx = await context(c);
    const active = await services.store.credentials.listActive(ctx.agent.name, nowSeconds(services.clock));
    return c.json({
      credentials: active.map((r) => ({
        id: r.jti,
        backend: r.backend,
        scopes: r.scopes,
        issued_at: isoSeconds(r.issuedAt),
        expires_at: isoSeconds(r.expiresAt),
        metadata: r.metadata,
        credential: r.downstream && { type: r.downstream.type, revocation: r.downstream.revocation, expires_at: r.downstream.expiresAt },
      })),
    });
  });

  app.delete('/:id', async (c) => {
    const ctx = await context(c);
    const id = c.req.param('id');
    if (!CREDENTIAL_ID_RE.test(id)) throw new CreddyError('ERR_BAD_REQUEST', 'id: malformed credential id', { details: { field: 'id' } });
    return c.json(await revokeCredential(services, ctx, id));
  });

  return app;
}
