/**
 * A loopback OIDC issuer for federation tests: discovery, a JWKS that counts its fetches, ID
 * tokens with GitHub Actions' published claim set or a Kubernetes service account's, and the
 * GitHub Actions runner's ID-token request endpoint (ACTIONS_ID_TOKEN_REQUEST_URL). Tokens are
 * RS256, signed here with node:crypto on a hand-built JWS so a test can produce exactly the
 * malformed or hostile variant it needs (alg none, HS256 keyed with the public key, unknown kid).
 * With `tls`, it serves HTTPS with the given certificate (a private CA, like a Kubernetes API
 * server's).
 */
import { createHmac, type KeyObject, randomBytes, sign } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { rsaKeyPair } from './rsa.js';

interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: Record<string, unknown>;
  readonly publicPem: string;
}

export interface SignOptions {
  /** Header members merged over `{alg: RS256, typ: JWT, kid}`. */
  readonly header?: Record<string, unknown>;
  /** Sign with a key that the JWKS does not publish (an unknown kid). */
  readonly unpublished?: boolean;
}

export interface FakeOidcIssuer {
  /** The issuer URL (`iss`), also the base of discovery. */
  readonly url: string;
  /** How many times each endpoint was fetched. */
  readonly hits: { discovery: number; jwks: number; ghaToken: number };
  /** The current signing key's public key as PEM (for the HS256 confusion attack). */
  readonly publicKeyPem: string;
  /** The runner's ID-token request URL and the bearer it requires (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN). */
  readonly ghaRequestUrl: string;
  readonly ghaRequestToken: string;
  /** Audiences asked for at the GitHub Actions endpoint. */
  readonly ghaAudiences: string[];
  /** Signs `claims` as an RS256 JWT with the current key. */
  sign(claims: Record<string, unknown>, options?: SignOptions): string;
  /** A token with alg none (no signature). */
  unsigned(claims: Record<string, unknown>): string;
  /** HS256 keyed with the issuer's public key PEM: the classic algorithm-confusion forgery. */
  hs256WithPublicKey(claims: Record<string, unknown>): string;
  /** GitHub Actions' claim set for `audience`, valid for 5 minutes from `now` (ms). */
  githubClaims(audience: string, overrides?: Record<string, unknown>, now?: number): Record<string, unknown>;
  /** A Kubernetes projected service-account token's claims. */
  kubernetesClaims(audience: string, overrides?: Record<string, unknown>, now?: number): Record<string, unknown>;
  /** Adds a new current key to the JWKS (the old one stays published); returns its kid. */
  rotate(): string;
  /** While down, every endpoint answers 503. */
  setDown(down: boolean): void;
  /** Cache-Control of the JWKS response (default `max-age=300`); null sends none. */
  setJwksCacheControl(value: string | null): void;
  close(): Promise<void>;
}

function newKey(): SigningKey {
  const { privateKey, publicKey } = rsaKeyPair();
  const kid = randomBytes(8).toString('hex');
  return {
    kid,
    privateKey,
    publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' },
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export async function startFakeOidcIssuer(options: { tls?: { key: string; cert: string } } = {}): Promise<FakeOidcIssuer> {
  const keys: SigningKey[] = [newKey()];
  const stray = newKey();
  const hits = { discovery: 0, jwks: 0, ghaToken: 0 };
  const ghaRequestToken = randomBytes(16).toString('hex');
  const ghaAudiences: string[] = [];
  let down = false;
  let jwksCacheControl: string | null = 'max-age=300';
  let url = '';
  const current = (): SigningKey => keys.at(-1)!;

  const signWith = (key: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string => {
    const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...header })}.${b64(claims)}`;
    return `${input}.${sign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`;
  };

  const issuer: FakeOidcIssuer = {
    get url() {
      return url;
    },
    hits,
    get publicKeyPem() {
      return current().publicPem;
    },
    get ghaRequestUrl() {
      return `${url}/_apis/token?api-version=2.0`;
    },
    ghaRequestToken,
    ghaAudiences,
    sign: (claims, signOptions = {}) => signWith(signOptions.unpublished ? stray : current(), claims, signOptions.header),
    unsigned: (claims) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
    hs256WithPublicKey(claims) {
      const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: current().kid })}.${b64(claims)}`;
      return `${input}.${createHmac('sha256', current().publicPem).update(input).digest('base64url')}`;
    },
    githubClaims(audience, overrides = {}, now = Date.now()) {
      const t = Math.floor(now / 1000);
      // https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect
      return {
        jti: randomBytes(16).toString('hex'),
        sub: 'repo:my-org/infra:environment:production',
        aud: audience,
        ref: 'refs/heads/main',
        sha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
        repository: 'my-org/infra',
        repository_owner: 'my-org',
        repository_owner_id: '1234567',
        run_id: '9876543210',
        run_number: '42',
        run_attempt: '1',
        repository_visibility: 'private',
        repository_id: '7654321',
        actor_id: '5555',
        actor: 'octocat',
        workflow: 'deploy',
        head_ref: '',
        base_ref: '',
        event_name: 'push',
        ref_protected: 'true',
        ref_type: 'branch',
        workflow_ref: 'my-org/infra/.github/workflows/deploy.yml@refs/heads/main',
        workflow_sha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
        job_workflow_ref: 'my-org/infra/.github/workflows/deploy.yml@refs/heads/main',
        job_workflow_sha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
        runner_environment: 'github-hosted',
        environment: 'production',
        iss: url,
        nbf: t - 5,
        exp: t + 300,
        iat: t,
        ...overrides,
      };
    },
    kubernetesClaims(audience, overrides = {}, now = Date.now()) {
      const t = Math.floor(now / 1000);
      return {
        aud: [audience],
        exp: t + 3600,
        iat: t,
        nbf: t,
        iss: url,
        jti: randomBytes(16).toString('hex'),
        sub: 'system:serviceaccount:ci:deployer',
        'kubernetes.io': {
          namespace: 'ci',
          node: { name: 'node-1', uid: '0b5f1c8e-0000-4000-8000-000000000001' },
          pod: { name: 'runner-7f9c', uid: '0b5f1c8e-0000-4000-8000-000000000002' },
          serviceaccount: { name: 'deployer', uid: '0b5f1c8e-0000-4000-8000-000000000003' },
        },
        ...overrides,
      };
    },
    rotate() {
      keys.push(newKey());
      return current().kid;
    },
    setDown(value) {
      down = value;
    },
    setJwksCacheControl(value) {
      jwksCacheControl = value;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    if (down) return json(503, { error: 'down' });
    if (path === '/.well-known/openid-configuration') {
      hits.discovery++;
      return json(200, { issuer: url, jwks_uri: `${url}/.well-known/jwks`, id_token_signing_alg_values_supported: ['RS256'] });
    }
    if (path === '/.well-known/jwks') {
      hits.jwks++;
      return json(200, { keys: keys.map((k) => k.publicJwk) }, jwksCacheControl === null ? {} : { 'cache-control': jwksCacheControl });
    }
    if (path === '/_apis/token') {
      hits.ghaToken++;
      if (req.headers.authorization !== `bearer ${ghaRequestToken}`) return json(401, { message: 'bad request token' });
      const audience = new URL(req.url ?? '/', 'http://fake').searchParams.get('audience');
      if (!audience) return json(400, { message: 'audience required' });
      ghaAudiences.push(audience);
      return json(200, { count: 1, value: issuer.sign(issuer.githubClaims(audience)) });
    }
    return json(404, { error: 'not found' });
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return issuer;
}
