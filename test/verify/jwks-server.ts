import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attackerEd25519, compact, ed25519Signer } from './forge.js';

/**
 * A loopback issuer with a key the test controls, speaking the three endpoints `creddy verify`
 * uses (discovery, JWKS, revocation status). It lets a test sign header variants the broker's
 * signer never produces (e.g. `typ: JWT`) with a key the verifier trusts, so exactly one thing
 * is wrong with the token.
 */
export interface TestIssuer {
  readonly url: string;
  readonly kid: string;
  /** Signs `claims` under `header` (alg EdDSA and the kid are filled in unless given). */
  sign(header: Record<string, unknown>, claims: Record<string, unknown>): string;
  close(): Promise<void>;
}

export async function startTestIssuer(): Promise<TestIssuer> {
  const key = attackerEd25519();
  const kid = 'test-issuer-key';
  let url = '';
  const server: Server = createServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration') return json(200, { issuer: url, jwks_uri: `${url}/.well-known/jwks.json` });
    if (req.url === '/.well-known/jwks.json') {
      return json(200, { keys: [{ kty: 'OKP', crv: 'Ed25519', x: key.x, kid, alg: 'EdDSA', use: 'sig' }] });
    }
    const revocation = /^\/v1\/revocations\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    if (revocation) return json(200, { jti: revocation[1], revoked: false, kid });
    return json(404, { error: { code: 'ERR_NOT_FOUND', message: 'no route' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    kid,
    sign: (header, claims) => compact({ alg: 'EdDSA', kid, ...header }, claims, ed25519Signer(key.privateKey)),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
