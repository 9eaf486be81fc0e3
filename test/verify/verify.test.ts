import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creddyJwks, type VerifyOptions, verifyCreddyToken } from '../../src/verify/token.js';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';
import {
  attackerEd25519,
  b64url,
  compact,
  decodeSegment,
  ed25519Signer,
  editPayload,
  es256Signer,
  flipSignatureBit,
  hmac,
  rs256Signer,
  segments,
} from './forge.js';
import { startTestIssuer, type TestIssuer } from './jwks-server.js';

/**
 * The token path's security cases, each checked twice: in-process through `verifyCreddyToken`
 * (what resource servers embed) and through the real `creddy verify` binary against a running
 * broker (discovery + JWKS + deny-list over HTTP). Claim cases are signed by the broker's own
 * signer (`keyring.signer()`), so only the claim under test is wrong.
 */
describe('creddy token verification', () => {
  let broker: TestBroker;
  let agentToken: string;
  let issued: { id: string; token: string };
  let jwks: JWTVerifyGetKey;
  let issuer: string;
  let kid: string;
  let publicX: string;

  const now = (): number => Math.floor(Date.now() / 1000);
  const verifyHere = (token: string, options: Partial<VerifyOptions> = {}) =>
    verifyCreddyToken(token, { issuer, audience: 'demo', keys: jwks, ...options });
  const cli = (token: string, ...args: string[]) => runCli(['verify', token, ...args], { CREDDY_URL: broker.url });
  const errorCode = (stderr: string): string | undefined => /^creddy: (ERR_[A-Z_]+)/m.exec(stderr)?.[1];

  /** Claims as creddy issues them, for the broker's real signer to sign with one thing changed. */
  const claims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => {
    const t = now();
    return {
      iss: issuer,
      sub: 'bot',
      aud: 'demo',
      client_id: 'bot',
      iat: t,
      nbf: t,
      exp: t + 600,
      jti: `forged-${Math.random().toString(36).slice(2, 12)}`,
      scope: 'read',
      backend: 'demo',
      ...overrides,
    };
  };
  const signReal = (overrides: Record<string, unknown> = {}) => broker.services.keyring.signer().sign(claims(overrides));

  /** Rejected in-process and by the CLI with `code`; the CLI prints nothing on stdout. */
  async function expectRejected(token: string, code: string, options: { audience?: string } = {}): Promise<void> {
    const [, result] = await Promise.all([
      expect(verifyHere(token, options.audience ? { audience: options.audience } : {})).rejects.toMatchObject({ code }),
      cli(token, ...(options.audience ? ['--audience', options.audience] : [])),
    ]);
    expect(result.code, result.stderr).toBe(1);
    expect(errorCode(result.stderr), result.stderr).toBe(code);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toMatch(/\n\s+at /); // one line, no stack trace
  }

  beforeAll(async () => {
    broker = await startBroker();
    agentToken = await broker.agent('bot', 'demo:read,demo:write,demo:files:*');
    const response = await issue(broker.url, agentToken, { backend: 'demo', scopes: ['read'], ttl: '10m' });
    expect(response.status).toBe(201);
    issued = response.body as { id: string; token: string };
    issuer = broker.services.config.issuer;
    jwks = creddyJwks(broker.url);
    kid = broker.services.keyring.signer().kid;
    const jwksBody = JSON.parse(broker.services.keyring.jwks().body) as { keys: Array<{ kid: string; x: string }> };
    publicX = jwksBody.keys.find((k) => k.kid === kid)!.x;
  });
  afterAll(async () => broker?.stop());

  describe('accepts', () => {
    it('a token the broker issued, in-process and through `creddy verify`', async () => {
      const verified = await verifyHere(issued.token, { audience: 'demo' });
      expect(verified).toMatchObject({ jti: issued.id, sub: 'bot', scope: 'read', backend: 'demo', aud: 'demo', iss: issuer });

      const plain = await cli(issued.token);
      expect(plain.code, plain.stderr).toBe(0);
      expect(plain.stdout).toContain(`valid token ${issued.id}`);

      const json = await cli(issued.token, '--audience', 'demo', '--json');
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ valid: true, claims: { jti: issued.id, scope: 'read' } });

      const stdin = await runCli(['verify', '-'], { CREDDY_URL: broker.url }, `${issued.token}\n`);
      expect(stdin.code, stdin.stderr).toBe(0);
    });

    it('exp, nbf and iat inside the 60 s clock tolerance', async () => {
      const t = now();
      await expect(verifyHere(signReal({ exp: t - 20 }))).resolves.toMatchObject({ sub: 'bot' });
      await expect(verifyHere(signReal({ nbf: t + 20, iat: t + 20 }))).resolves.toMatchObject({ sub: 'bot' });
    });

    it('the largest token the broker will issue (64 max-length scopes, metadata at its cap)', async () => {
      // The verifier's pre-crypto size cap must never refuse a token the issuer was willing to sign.
      // 127 characters is the longest non-wildcard scope; 7 entries of 282 bytes fill the 2 KiB metadata cap.
      const scopes = Array.from({ length: 64 }, (_, i) => `files:${String(i).padStart(2, '0')}${'x'.repeat(119)}`);
      const metadata = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`key-${i}-${'k'.repeat(50)}`, 'v'.repeat(220)]));
      const response = await issue(broker.url, agentToken, { backend: 'demo', scopes, metadata });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      const token = (response.body as { token: string }).token;
      expect(token.length).toBeGreaterThan(8192);
      await expect(verifyHere(token)).resolves.toMatchObject({ scope: scopes.join(' ') });
      const result = await cli(token);
      expect(result.code, result.stderr).toBe(0);
    });
  });

  describe('rejects forged algorithms and keys', () => {
    it('alg "none" (unsigned), with an empty and with a padded signature', async () => {
      const header = { alg: 'none', typ: 'at+jwt', kid };
      await expectRejected(`${b64url(header)}.${b64url(claims())}.`, 'ERR_TOKEN_INVALID');
      // 86 characters, so it passes the shape check and reaches the algorithm allow-list.
      await expectRejected(`${b64url(header)}.${b64url(claims())}.${'A'.repeat(86)}`, 'ERR_TOKEN_INVALID');
      await expectRejected(`${b64url({ ...header, alg: 'None' })}.${b64url(claims())}.${'A'.repeat(86)}`, 'ERR_TOKEN_INVALID');
    });

    it('alg confusion: HMAC keyed with the published public key', async () => {
      const raw = Buffer.from(publicX, 'base64url');
      const jwk = JSON.stringify(JSON.parse(broker.services.keyring.jwks().body).keys[0]);
      for (const secret of [raw, publicX, jwk, broker.services.keyring.jwks().body]) {
        // HS512 yields a 64-byte MAC: the same length as an Ed25519 signature, so it passes the shape check.
        const hs512 = compact({ alg: 'HS512', typ: 'at+jwt', kid }, claims(), hmac('sha512', secret));
        await expect(verifyHere(hs512)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
        const hs256 = compact({ alg: 'HS256', typ: 'at+jwt', kid }, claims(), hmac('sha256', secret));
        await expect(verifyHere(hs256)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
      }
      await expectRejected(compact({ alg: 'HS512', typ: 'at+jwt', kid }, claims(), hmac('sha512', raw)), 'ERR_TOKEN_INVALID');
      await expectRejected(compact({ alg: 'HS256', typ: 'at+jwt', kid }, claims(), hmac('sha256', raw)), 'ERR_TOKEN_INVALID');
    });

    it('ES256 and RS256 tokens signed by another key under the real kid', async () => {
      await expectRejected(compact({ alg: 'ES256', typ: 'at+jwt', kid }, claims(), es256Signer()), 'ERR_TOKEN_INVALID');
      await expectRejected(compact({ alg: 'RS256', typ: 'at+jwt', kid }, claims(), rs256Signer()), 'ERR_TOKEN_INVALID');
    });

    it('EdDSA signed by another Ed25519 key under the real kid', async () => {
      const attacker = attackerEd25519();
      await expectRejected(
        compact({ alg: 'EdDSA', typ: 'at+jwt', kid }, claims(), ed25519Signer(attacker.privateKey)),
        'ERR_TOKEN_INVALID',
      );
    });

    it('an unknown kid, and a key embedded in the header (jwk) that is not in the JWKS', async () => {
      const attacker = attackerEd25519();
      const sign = ed25519Signer(attacker.privateKey);
      await expectRejected(compact({ alg: 'EdDSA', typ: 'at+jwt', kid: 'A'.repeat(43) }, claims(), sign), 'ERR_TOKEN_INVALID');
      const embedded = { alg: 'EdDSA', typ: 'at+jwt', kid: 'attacker', jwk: { kty: 'OKP', crv: 'Ed25519', x: attacker.x } };
      await expectRejected(compact(embedded, claims(), sign), 'ERR_TOKEN_INVALID');
    });
  });

  describe('rejects bad claims signed by the real key', () => {
    it('expired beyond the skew → ERR_TOKEN_EXPIRED', async () => {
      const t = now();
      await expectRejected(signReal({ iat: t - 3600, nbf: t - 3600, exp: t - 120 }), 'ERR_TOKEN_EXPIRED');
    });

    it('nbf in the future beyond the skew', async () => {
      await expectRejected(signReal({ nbf: now() + 600 }), 'ERR_TOKEN_INVALID');
    });

    it('iat in the future beyond the skew', async () => {
      const t = now();
      await expectRejected(signReal({ iat: t + 3600, nbf: t, exp: t + 7200 }), 'ERR_TOKEN_INVALID');
    });

    it('wrong aud when an audience is required', async () => {
      await expectRejected(issued.token, 'ERR_TOKEN_INVALID', { audience: 'https://another-service' });
      await expectRejected(signReal({ aud: 'other' }), 'ERR_TOKEN_INVALID', { audience: 'demo' });
    });

    it('verifyCreddyToken without an audience: ERR_USAGE, not a pass for any audience; audience: null opts out', async () => {
      const foreign = signReal({ aud: 'other', backend: 'other' });
      const refused = await verifyCreddyToken(foreign, { issuer, keys: jwks } as unknown as VerifyOptions).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'ERR_USAGE' });
      expect((refused as Error).message).toMatch(/audience/);
      expect((refused as Error).message).not.toContain(foreign);
      await expect(
        verifyCreddyToken(foreign, { issuer, keys: jwks, audience: undefined } as unknown as VerifyOptions),
      ).rejects.toMatchObject({ code: 'ERR_USAGE' });
      for (const bad of ['', [], [''], 42]) {
        await expect(verifyHere(foreign, { audience: bad as never }), JSON.stringify(bad)).rejects.toMatchObject({ code: 'ERR_USAGE' });
      }
      await expect(verifyHere(foreign)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' }); // pinned to demo
      await expect(verifyHere(foreign, { audience: null })).resolves.toMatchObject({ aud: 'other', backend: 'other' });
    });

    it('wrong iss', async () => {
      await expectRejected(signReal({ iss: 'https://evil.example' }), 'ERR_TOKEN_INVALID');
      await expectRejected(signReal({ iss: `${issuer}/` }), 'ERR_TOKEN_INVALID');
    });

    it('missing required claims (exp, jti, scope)', async () => {
      for (const drop of ['exp', 'jti', 'scope', 'sub', 'iat']) {
        const c = claims();
        delete c[drop];
        await expect(verifyHere(broker.services.keyring.signer().sign(c)), drop).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
      }
      const c = claims();
      delete c['exp'];
      await expectRejected(broker.services.keyring.signer().sign(c), 'ERR_TOKEN_INVALID');
    });
  });

  describe('rejects a wrong typ from a trusted key', () => {
    // The broker's signer always writes at+jwt, so typ variants are signed by a loopback issuer
    // whose key the verifier trusts: only the typ is wrong. The at+jwt control proves it.
    let other: TestIssuer;
    beforeAll(async () => {
      other = await startTestIssuer();
    });
    afterAll(async () => other?.close());

    const viaOther = (token: string, ...args: string[]) => runCli(['verify', token, ...args], { CREDDY_URL: other.url });
    const otherClaims = () => ({ ...claims(), iss: other.url });

    it('accepts at+jwt (control) and rejects JWT, a missing typ and a JOSE typ', async () => {
      const keys = createLocalJWKSet({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: await otherX(other), kid: other.kid, alg: 'EdDSA' }] });
      const control = other.sign({ typ: 'at+jwt' }, otherClaims());
      await expect(verifyCreddyToken(control, { issuer: other.url, audience: 'demo', keys })).resolves.toMatchObject({ iss: other.url });
      const ok = await viaOther(control);
      expect(ok.code, ok.stderr).toBe(0);

      await Promise.all(
        [{ typ: 'JWT' }, {}, { typ: 'JOSE' }, { typ: 'at+JWT+x' }].map(async (header) => {
          const token = other.sign(header, otherClaims());
          await expect(
            verifyCreddyToken(token, { issuer: other.url, audience: 'demo', keys }),
            JSON.stringify(header),
          ).rejects.toMatchObject({
            code: 'ERR_TOKEN_INVALID',
          });
          const result = await viaOther(token);
          expect(result.code, result.stderr).toBe(1);
          expect(errorCode(result.stderr)).toBe('ERR_TOKEN_INVALID');
        }),
      );
    });
  });

  describe('rejects tampering', () => {
    it('a typ swapped to JWT on a real token (the signature no longer matches)', async () => {
      const [, payload, signature] = segments(issued.token);
      await expectRejected(`${b64url({ alg: 'EdDSA', typ: 'JWT', kid })}.${payload}.${signature}`, 'ERR_TOKEN_INVALID');
    });

    it('a flipped claim with the original signature', async () => {
      await expectRejected(
        editPayload(issued.token, (c) => ({ ...c, scope: 'read write' })),
        'ERR_TOKEN_INVALID',
      );
      await expectRejected(
        editPayload(issued.token, (c) => ({ ...c, exp: (c['exp'] as number) + 86_400 })),
        'ERR_TOKEN_INVALID',
      );
      await expectRejected(
        editPayload(issued.token, (c) => ({ ...c, sub: 'admin' })),
        'ERR_TOKEN_INVALID',
      );
    });

    it('flipped signature bits (R and S halves)', async () => {
      for (const [byte, bit] of [
        [0, 0],
        [31, 7],
        [32, 0],
        [63, 3],
      ] as const) {
        await expect(verifyHere(flipSignatureBit(issued.token, byte, bit)), `byte ${byte}`).rejects.toMatchObject({
          code: 'ERR_TOKEN_INVALID',
        });
      }
      await expectRejected(flipSignatureBit(issued.token, 63, 3), 'ERR_TOKEN_INVALID');
    });

    it('the payload of one token with the signature of another', async () => {
      const other = signReal({ scope: 'write' });
      const [h, p] = segments(other);
      await expectRejected(`${h}.${p}.${segments(issued.token)[2]}`, 'ERR_TOKEN_INVALID');
    });
  });

  describe('rejects malformed and oversized tokens before any crypto', () => {
    const malformed = (token: string): string[] => {
      const [header, payload, signature] = segments(token);
      return [
        '',
        'not-a-token',
        `${header}.${payload}`,
        `${header}.${payload}.${signature}.${signature}`,
        `${header}..${signature}`,
        `${header}.${payload}.${signature}=`,
        ` ${token}`,
        `${token}\n`,
        `${header}.${payload}.${signature.slice(0, 85)}`,
        `${header}.${payload}+/.${signature}`,
        `${'e'.repeat(3000)}.${payload}.${signature}`,
        `${header}.${'A'.repeat(40_000)}.${signature}`,
      ];
    };

    it('never asks for a key (so never runs a signature check) and answers ERR_TOKEN_INVALID', async () => {
      let keyLookups = 0;
      const countingKeys: JWTVerifyGetKey = async (...args) => {
        keyLookups += 1;
        return jwks(...args);
      };
      for (const token of malformed(issued.token)) {
        await expect(
          verifyCreddyToken(token, { issuer, audience: 'demo', keys: countingKeys }),
          JSON.stringify(token.slice(0, 40)),
        ).rejects.toMatchObject({
          code: 'ERR_TOKEN_INVALID',
        });
      }
      await expect(verifyCreddyToken(42 as unknown as string, { issuer, audience: 'demo', keys: countingKeys })).rejects.toMatchObject({
        code: 'ERR_TOKEN_INVALID',
      });
      expect(keyLookups).toBe(0);
    });

    it('through the BIN, too', async () => {
      const [header, payload, signature] = segments(issued.token);
      await expectRejected('not-a-token', 'ERR_TOKEN_INVALID');
      await expectRejected(`${header}.${'A'.repeat(40_000)}.${signature}`, 'ERR_TOKEN_INVALID');
      await expectRejected(`${header}.${payload}.${signature}.x`, 'ERR_TOKEN_INVALID');
    });

    it('a shape-valid token whose segments are not JSON', async () => {
      const [, , signature] = segments(issued.token);
      await expectRejected(`${'A'.repeat(40)}.${'B'.repeat(40)}.${signature}`, 'ERR_TOKEN_INVALID');
      const header = b64url({ alg: 'EdDSA', typ: 'at+jwt', kid });
      await expectRejected(`${header}.${b64url('[1,2,3]')}.${signature}`, 'ERR_TOKEN_INVALID');
    });
  });

  describe('deny-list', () => {
    it('a revoked jti → ERR_TOKEN_REVOKED through the CLI', async () => {
      const fresh = await issue(broker.url, agentToken, { backend: 'demo', scopes: ['read'] });
      expect(fresh.status).toBe(201);
      const { id, token } = fresh.body as { id: string; token: string };
      expect((await cli(token)).code).toBe(0);

      const revoked = await fetch(`${broker.url}/v1/credentials/${id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${agentToken}` },
      });
      expect(revoked.status).toBe(200);

      await expectRevoked(token, id);
    });

    async function expectRevoked(token: string, id: string): Promise<void> {
      const result = await cli(token);
      expect(result.code, result.stderr).toBe(1);
      expect(errorCode(result.stderr)).toBe('ERR_TOKEN_REVOKED');
      expect(result.stdout).toBe('');
      // In-process with the same deny-list source the CLI uses.
      const isRevoked = async (jti: string) => (await broker.services.store.credentials.get(jti))?.revokedAt != null;
      await expect(verifyHere(token, { isRevoked })).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
      expect(decodeSegment<{ jti: string }>(segments(token)[1]).jti).toBe(id);
    }
  });
});

/** The test issuer's public x, read from its JWKS as any verifier would. */
async function otherX(issuer: TestIssuer): Promise<string> {
  const body = (await (await fetch(`${issuer.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ x: string }> };
  return body.keys[0]!.x;
}
