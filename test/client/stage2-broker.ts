import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { verifyClientAssertion } from '../../src/verify/client-assertion.js';
import { verifyDpopProof } from '../../src/verify/dpop.js';
import { createReplayCache } from '../../src/verify/replay-cache.js';
import type { Ed25519PublicJwk } from '../../src/verify/thumbprint.js';
import type { TestBroker } from '../helpers/harness.js';

/**
 * A wire-level stand-in for the broker's coming issue-12 endpoints, which do not exist yet:
 * `POST /v1/credentials` authenticated by an RFC 7523 client assertion (or a `ckr_` token) with
 * an optional DPoP proof, and an RFC 8693 token endpoint for OIDC ID tokens, advertised in RFC
 * 8414 metadata. It checks what the client sends with creddy's verifier pieces and signs the
 * answer with the real broker's current key, so resource servers verify it against the real
 * JWKS. Every request it saw is kept for the test to inspect.
 */
export interface Stage2Broker {
  readonly url: string;
  readonly requests: Array<{ method: string; path: string; headers: Record<string, string>; body: string }>;
  close(): Promise<void>;
}

export interface Stage2Options {
  /** Key-pair agents the broker knows: name → public key. */
  readonly agents: Readonly<Record<string, Ed25519PublicJwk>>;
  /** The ID token the token endpoint accepts, and the workload it stands for. */
  readonly idToken?: { readonly token: string; readonly subject: string };
  /** Bind to this thumbprint instead of the proof's key (to test a client that does not hold it). */
  readonly bindTo?: string;
}

export async function startStage2Broker(broker: TestBroker, options: Stage2Options): Promise<Stage2Broker> {
  const issuer = broker.services.config.issuer;
  const replay = createReplayCache();
  const requests: Stage2Broker['requests'] = [];
  let url = '';
  const t = () => Math.floor(Date.now() / 1000);
  const oauthError = (error: string, description: string) => ({ error, error_description: description });

  const sign = (sub: string, backend: string, scope: string, jkt: string | undefined) => {
    const jti = `s2-${Math.random().toString(36).slice(2, 14)}`;
    const exp = t() + 600;
    const cnf = (options.bindTo ?? jkt) === undefined ? {} : { cnf: { jkt: options.bindTo ?? jkt } };
    const token = broker.services.keyring
      .signer()
      .sign({ iss: issuer, sub, aud: backend, client_id: sub, iat: t(), nbf: t(), exp, jti, scope, backend, ...cnf });
    return { jti, exp, token };
  };
  const proofKey = async (header: string | undefined, method: string, target: string) =>
    header === undefined
      ? undefined
      : (await verifyDpopProof({ proof: header, method, url: target }, { maxAge: 60, clockTolerance: 5, replay, now: Date.now })).jkt;

  const app = new Hono();
  app.use(async (c, next) => {
    const body = c.req.method === 'POST' ? await c.req.raw.clone().text() : '';
    requests.push({ method: c.req.method, path: new URL(c.req.url).pathname, headers: c.req.header(), body });
    await next();
  });
  app.get('/.well-known/openid-configuration', (c) => c.json({ issuer, jwks_uri: `${broker.url}/.well-known/jwks.json` }));
  app.get('/.well-known/oauth-authorization-server', (c) => c.json({ issuer, token_endpoint: `${url}/oauth/token` }));

  app.post('/v1/credentials', async (c) => {
    const bearer = /^Bearer (\S+)$/.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
    let agent: string;
    let jkt: string | undefined;
    try {
      agent = bearer.startsWith('ckr_')
        ? 'bearer-agent'
        : (await verifyClientAssertion(bearer, { audience: [issuer], publicKey: (name) => options.agents[name], replay })).agent;
      jkt = await proofKey(c.req.header('dpop'), 'POST', `${url}/v1/credentials`);
    } catch (err) {
      const e = err as { code: string; message: string };
      return c.json({ error: { code: e.code, message: e.message, request_id: 'stage2' } }, 401);
    }
    const request = (await c.req.json()) as { backend: string; scopes?: string[] };
    const scopes = request.scopes ?? ['read'];
    const { jti, exp, token } = sign(agent, request.backend, scopes.join(' '), jkt);
    return c.json(
      {
        id: jti,
        token,
        expires_at: new Date(exp * 1000).toISOString(),
        backend: request.backend,
        scopes,
        metadata: null,
        ttl: { requested: null, granted: 600, clamped_by: null },
        credential: null,
      },
      201,
    );
  });

  app.post('/oauth/token', async (c) => {
    const form = new URLSearchParams(await c.req.text());
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange')
      return c.json(oauthError('unsupported_grant_type', 'x'), 400);
    if (form.get('subject_token_type') !== 'urn:ietf:params:oauth:token-type:id_token')
      return c.json(oauthError('invalid_request', 'type'), 400);
    if (!options.idToken || form.get('subject_token') !== options.idToken.token)
      return c.json(oauthError('invalid_grant', 'unknown ID token'), 400);
    const scope = form.get('scope') ?? 'read';
    const jkt = await proofKey(c.req.header('dpop'), 'POST', `${url}/oauth/token`).catch(() => 'invalid');
    if (jkt === 'invalid') return c.json(oauthError('invalid_dpop_proof', 'bad proof'), 400);
    const { token } = sign(options.idToken.subject, form.get('audience') ?? '', scope, jkt);
    return c.json({
      access_token: token,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: jkt ? 'DPoP' : 'Bearer',
      expires_in: 600,
      scope,
    });
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
