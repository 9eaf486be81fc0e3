// Second reference target: a general-purpose OAuth 2.0 server (panva's oidc-provider, the
// certified OpenID Provider for Node) configured for what creddy does on its issue path — the
// client_credentials grant, client authenticated with a secret (client_secret_basic), an
// RFC 9068 at+jwt access token signed with an Ed25519 key (EdDSA) for one resource server —
// with its in-memory adapter, on loopback. No audit log, no durable store.
//
//   node bench/oidc-provider.mjs [--listen 127.0.0.1:0]
//   → first stdout line "oidc-provider listening on URL"; the client secret comes from
//     BENCH_OIDC_SECRET (the bench generates one), so it never shows in `ps`.
//
// Other configurations, for `node bench/issue.mjs --variant 'oidc-provider~LABEL:NAME=VALUE'`
// (what the figure in bench/README.md uses, and why, is written there):
//   BENCH_OIDC_AUTH=client_secret_post   the secret in the form instead of `Authorization: Basic`
//   BENCH_OIDC_FORMAT=opaque             an opaque access token kept in the in-memory adapter
//   BENCH_OIDC_CLIENT=adapter            the client registered in the adapter, not the static config
//   BENCH_OIDC_MODULE=PATH               another install of oidc-provider (e.g. 9.x), its entry file
//   and NODE_ENV, DEBUG as usual (oidc-provider itself logs nothing unless DEBUG=oidc-provider:*).
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { default: Provider } = await import(
  process.env.BENCH_OIDC_MODULE ? pathToFileURL(process.env.BENCH_OIDC_MODULE).href : 'oidc-provider'
);
const auth = process.env.BENCH_OIDC_AUTH ?? 'client_secret_basic';
const opaque = process.env.BENCH_OIDC_FORMAT === 'opaque';

const { values } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:0' } } });
const colon = values.listen.lastIndexOf(':');
const hostname = values.listen.slice(0, colon);
const port = Number(values.listen.slice(colon + 1));
if (hostname !== '127.0.0.1' && hostname !== 'localhost') throw new Error('oidc-provider bench target listens on loopback only');
const secret = process.env.BENCH_OIDC_SECRET;
if (!secret) throw new Error('BENCH_OIDC_SECRET is required');

const { privateKey } = generateKeyPairSync('ed25519');
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'EdDSA', kid: 'bench' };
/** The token's aud, as creddy's generic backend `demo`; resource indicators must be absolute URIs. */
const AUDIENCE = 'demo';
const RESOURCE = 'urn:creddy:demo';

const client = {
  client_id: 'bench',
  client_secret: secret,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: auth,
  // Never used (no ID tokens here), but client metadata must name an algorithm the keys allow.
  id_token_signed_response_alg: 'EdDSA',
  scope: 'read write',
};
/** For BENCH_OIDC_CLIENT=adapter: a Map-backed adapter holding the client, as a database would. */
const stored = new Map();
class MapAdapter {
  constructor(model) {
    this.model = model;
  }
  async upsert(id, payload) {
    stored.set(`${this.model}:${id}`, payload);
  }
  async find(id) {
    return stored.get(`${this.model}:${id}`);
  }
  async findByUid() {}
  async findByUserCode() {}
  async consume() {}
  async destroy(id) {
    stored.delete(`${this.model}:${id}`);
  }
  async revokeByGrantId() {}
}
const inAdapter = process.env.BENCH_OIDC_CLIENT === 'adapter';
if (inAdapter) await new MapAdapter('Client').upsert(client.client_id, client);
const provider = new Provider('http://127.0.0.1:8400', {
  // The default adapter is in-memory (an LRU); nothing is persisted.
  ...(inAdapter ? { adapter: MapAdapter } : {}),
  clients: inAdapter ? [] : [client],
  jwks: { keys: [signingKey] },
  // Unused on this path (no interactions), set so the provider does not warn at start.
  cookies: { keys: [secret] },
  scopes: ['read', 'write'],
  ttl: { ClientCredentials: 300 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every token is for the one resource server "demo", like creddy's generic backend.
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        audience: AUDIENCE,
        scope: 'read write',
        accessTokenTTL: 300,
        accessTokenFormat: opaque ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'EdDSA' } },
      }),
    },
  },
});
// Errors are answered to the client; printing each one would only slow the target down.
provider.on('server_error', (_ctx, err) => process.stderr.write(`server_error: ${err.message}\n`));

const server = createServer(provider.callback()).listen(port, hostname, () => {
  process.stdout.write(`oidc-provider listening on http://${hostname}:${server.address().port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
