import { type Context, Hono } from 'hono';
import { issueCredential } from '../../credentials/issue.js';
import { listCredentials } from '../../credentials/list.js';
import { revokeCredential } from '../../credentials/revoke.js';
import { CreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import { type AppEnv, CREDENTIAL_ID_RE, callerOf } from '../context.js';
import { parseIssueBody } from '../issue-body.js';
import { requireAgent } from '../middleware/require-agent.js';
import type { AuthThrottle } from '../middleware/throttle.js';
import { readJson } from '../read-json.js';

/** `/v1/credentials`: issue, list own, revoke own. Every route needs an agent bearer token. */
export function credentialRoutes(services: Services, throttle: AuthThrottle): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const agent = requireAgent(services, throttle);

  const issue = async (c: Context<AppEnv>, backendParam: string | undefined) => {
    const body = parseIssueBody(await readJson(c), backendParam, (name) => services.backends.get(name)?.requestParams ?? []);
    return c.json(await issueCredential(services, callerOf(c), body), 201);
  };

  app.post('/', agent, (c) => issue(c, undefined));
  app.post('/:backend', agent, (c) => issue(c, c.req.param('backend')));

  app.get('/', agent, async (c) => c.json(await listCredentials(services, c.get('agent').name)));

  app.delete('/:id', agent, async (c) => {
    const id = c.req.param('id');
    if (!CREDENTIAL_ID_RE.test(id)) throw new CreddyError('ERR_BAD_REQUEST', 'id: malformed credential id', { details: { field: 'id' } });
    return c.json(await revokeCredential(services, callerOf(c), id));
  });

  return app;
}
