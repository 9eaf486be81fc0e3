/**
 * The token endpoint's edges: the form (RFC 8693 §2.1), OAuth error bodies (RFC 6749 §5.2)
 * with creddy's code, and its place in the discovery document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOidcIssuer, startFakeOidcIssuer } from '../fakes/oidc-issuer.js';
import {
  AUDIENCE,
  baseYaml,
  exchange,
  exchangeForm,
  type FederationBroker,
  ID_TOKEN_TYPE,
  rulesYaml,
  startFederationBroker,
  TOKEN_EXCHANGE,
} from './fixture.js';

let gha: FakeOidcIssuer;
let broker: FederationBroker;

beforeAll(async () => {
  gha = await startFakeOidcIssuer();
  broker = await startFederationBroker((dataDir) => baseYaml(dataDir) + rulesYaml(gha.url, 'http://127.0.0.1:9'));
});
afterAll(async () => {
  await broker.stop();
  await gha.close();
});

const token = () => gha.sign(gha.githubClaims(AUDIENCE, {}, broker.clock.now()));

describe('POST /oauth/token', () => {
  it.each<[string, Array<[string, string]>, string, string]>([
    ['an unsupported grant', [['grant_type', 'authorization_code']], 'unsupported_grant_type', 'ERR_GRANT_TYPE_UNSUPPORTED'],
    ['client_credentials without a client assertion', [['grant_type', 'client_credentials']], 'invalid_request', 'ERR_BAD_REQUEST'],
    ['no grant_type', [['subject_token', 'x']], 'invalid_request', 'ERR_BAD_REQUEST'],
    [
      'no subject_token',
      [
        ['grant_type', TOKEN_EXCHANGE],
        ['subject_token_type', ID_TOKEN_TYPE],
        ['audience', 'demo'],
      ],
      'invalid_request',
      'ERR_BAD_REQUEST',
    ],
    [
      'a wrong subject_token_type',
      [
        ['grant_type', TOKEN_EXCHANGE],
        ['subject_token', 'a.b.c'],
        ['subject_token_type', 'urn:ietf:params:oauth:token-type:saml2'],
        ['audience', 'demo'],
      ],
      'invalid_request',
      'ERR_BAD_REQUEST',
    ],
    [
      'a repeated parameter',
      [
        ['grant_type', TOKEN_EXCHANGE],
        ['subject_token', 'a.b.c'],
        ['subject_token_type', ID_TOKEN_TYPE],
        ['audience', 'demo'],
        ['audience', 'other'],
      ],
      'invalid_request',
      'ERR_BAD_REQUEST',
    ],
    [
      'delegation (actor_token)',
      [
        ['grant_type', TOKEN_EXCHANGE],
        ['subject_token', 'a.b.c'],
        ['subject_token_type', ID_TOKEN_TYPE],
        ['audience', 'demo'],
        ['actor_token', 'x'],
      ],
      'invalid_request',
      'ERR_BAD_REQUEST',
    ],
    [
      'an audience that is no backend name',
      [
        ['grant_type', TOKEN_EXCHANGE],
        ['subject_token', 'a.b.c'],
        ['subject_token_type', ID_TOKEN_TYPE],
        ['audience', 'https://x'],
      ],
      'invalid_request',
      'ERR_BAD_REQUEST',
    ],
  ])('refuses %s', async (_, form, error, code) => {
    const res = await exchange(broker.url, form);
    expect(res.status, res.text).toBe(400);
    expect(res.body).toEqual({ error, error_description: expect.any(String), code, request_id: expect.any(String) });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('wants a form, not JSON, and caps the body', async () => {
    const json = await exchange(broker.url, exchangeForm(token(), 'demo'), 'application/json');
    expect(json.body).toMatchObject({ error: 'invalid_request', code: 'ERR_UNSUPPORTED_MEDIA_TYPE' });
    const big = await exchange(broker.url, exchangeForm(token(), 'demo', { pad: 'x'.repeat(20_000) }));
    expect(big.body).toMatchObject({ error: 'invalid_request', code: 'ERR_BODY_TOO_LARGE' });
  });

  it('ignores unknown parameters, and takes requested_token_type access_token and creddy ttl', async () => {
    const res = await exchange(
      broker.url,
      exchangeForm(token(), 'demo', {
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        ttl: '2m',
        something_new: 'x',
      }),
    );
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ expires_in: 120, scope: 'read' });
  });

  it('is announced in the discovery document and the RFC 8414 metadata', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const doc = await (await fetch(`${broker.url}${path}`)).json();
      expect(doc).toMatchObject({
        token_endpoint: 'http://127.0.0.1:8400/oauth/token',
        grant_types_supported: ['client_credentials', TOKEN_EXCHANGE],
        token_endpoint_auth_methods_supported: ['private_key_jwt', 'none'],
      });
    }
  });

  it('is POST only; other methods are 404 as anywhere else', async () => {
    expect((await fetch(`${broker.url}/oauth/token`)).status).toBe(404);
  });
});
