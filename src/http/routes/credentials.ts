import { type Context, Hono } from 'hono';
import type { Federation } from '../../agents/federation/index.js';
import { issueCredential } from '../../credentials/issue.js';
import { listCredentials } from '../../credentials/list.js';
import { revokeCredential } from '../../credentials/revoke.js';
import { CreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import { type AppEnv, CREDENTIAL_ID_RE, callerOf } from '../context.js';
import { issuanceProof } from '../issuance-proof.js';
import { parseIssueBody } from '../issue-body.js';
import { requireCaller } from '../middleware/require-caller.js';
import type { AuthThrottle } from '../middleware/throttle.js';
import { readJson } from '../read-json.js';

/**
 * `/v1/credentials`: issue, list own, revoke own. Every route needs a caller: an agent token, a
 * key-pair agent's client assertion or an OIDC ID token.
 */
export function credentialRoutes(services: Services, federation: Federation, throttle: AuthThrottle): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const caller = requireCaller(services, federation, throttle, { spend: false });
  const issuer = requireCaller(services, federation, throttle, { spend: true });

  const issue = async (c: Context<AppEnv>, backendParam: string | undefined) => {
    const body = parseIssueBody(await readJson(c), backendParam, (name) => services.backends.get(name)?.requestParams ?? []);
    // A DPoP proof binds the credential to the proof's key (cnf.jkt).
    return c.json(await issueCredential(services, callerOf(c), { ...body, dpop: issuanceProof(c, services.config.issuer) }), 201);
  };

  app.post('/', issuer, (c) => issue(c, undefined));
  app.post('/:backend', issuer, (c) => issue(c, c.req.param('backend')));

  app.get('/', caller, async (c) => c.json(await listCredentials(services, c.get('caller').name)));

  app.delete('/:id', caller, async (c) => {
    const id = c.req.param('id');
    if (!CREDENTIAL_ID_RE.test(id)) throw new CreddyError('ERR_BAD_REQUEST', 'id: malformed credential id', { details: { field: 'id' } });
    return c.json(await revokeCredential(services, callerOf(c), id));
  });

  return app;
}
