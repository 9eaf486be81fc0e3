import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '../../src/verify/verifier.js';
import { runCli } from '../helpers/cli.js';
import { issue, startBroker, type TestBroker } from '../helpers/harness.js';
import { attackerEd25519, compact, decodeSegment, ed25519Signer, segments } from '../verify/forge.js';

/**
 * docs/errors.md: ERR_TOKEN_REVOKED for a token whose signing key was revoked, where the broker is
 * asked. Such a key leaves the JWKS at once, so signature lookup fails first; `creddy verify` then
 * asks the broker's revocation status and answers with that code. A `createVerifier` has only the
 * JWKS at that point and cannot tell a revoked key from one that never existed: ERR_TOKEN_INVALID
 * (`details.reason: unknown_kid`) once the key has left its set, and a pass until then.
 */
describe('creddy verify on a token signed by a revoked key', () => {
  let broker: TestBroker;
  let token: string;
  beforeAll(async () => {
    broker = await startBroker();
    const agent = await broker.agent('bot', 'demo:read');
    token = (await issue(broker.url, agent, { backend: 'demo' })).body.token as string;
  });
  afterAll(async () => broker.stop());

  it('is ERR_TOKEN_REVOKED (exit 1), not an unknown-key ERR_TOKEN_INVALID; createVerifier answers as docs/errors.md says', async () => {
    const kid = decodeProtectedHeader(token).kid!;
    const options = { issuer: broker.services.config.issuer, url: broker.url, audience: 'demo' };
    const cached = createVerifier(options);
    const cachedOnline = createVerifier({ ...options, introspect: true });
    await expect(cached.verify(token)).resolves.toMatchObject({ aud: 'demo' });
    await expect(cachedOnline.verify(token)).resolves.toMatchObject({ aud: 'demo' });
    const revoked = await runCli(['keys', 'revoke', kid, '--force', '--config', broker.configPath], broker.env);
    expect(revoked.code, revoked.stderr).toBe(0);
    await broker.services.keyring.refresh(); // what the server's 1 s refresh does
    const jwks = (await (await fetch(`${broker.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).not.toContain(kid);

    // A verifier that has only the JWKS: one that never saw the key cannot tell it from a forged kid…
    await expect(createVerifier(options).verify(token)).rejects.toMatchObject({
      code: 'ERR_TOKEN_INVALID',
      details: { reason: 'unknown_kid', kid },
    });
    // …and one that cached the set before the revocation accepts the token until its max-age runs out.
    await expect(cached.verify(token)).resolves.toMatchObject({ aud: 'demo' });
    // Asking the broker (introspect) while the key is still cached: its deny-list says revoked.
    await expect(cachedOnline.verify(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });

    const result = await runCli(['verify', token], { CREDDY_URL: broker.url });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^creddy: ERR_TOKEN_REVOKED: token \S+ is revoked \(its signing key \S+ is no longer in the JWKS\)\n$/);
    const json = await runCli(['verify', token, '--json'], { CREDDY_URL: broker.url });
    expect(JSON.parse(json.stderr).error).toMatchObject({ code: 'ERR_TOKEN_REVOKED', details: { kid } });
  });

  it('a token under an unknown kid that merely names a revoked jti stays ERR_TOKEN_INVALID', async () => {
    // The attacker copies the claims (jti included) and signs with a key of their own under
    // another kid: the broker's status names the real (revoked) kid, not this one, so the forged
    // token is not "revoked", it is invalid.
    const [header, payload] = segments(token);
    const forged = compact(
      { ...decodeSegment<Record<string, unknown>>(header), kid: 'attacker-kid' },
      decodeSegment(payload),
      ed25519Signer(attackerEd25519().privateKey),
    );
    const result = await runCli(['verify', forged], { CREDDY_URL: broker.url });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('ERR_TOKEN_INVALID');
  });

  it("an unknown kid is quoted in the message: the token's words cannot pass for the verifier's", async () => {
    const [header, payload] = segments(token);
    const kid = ") in the issuer's JWKS; accepted (";
    const forged = compact(
      { ...decodeSegment<Record<string, unknown>>(header), kid },
      decodeSegment(payload),
      ed25519Signer(attackerEd25519().privateKey),
    );
    const verifier = createVerifier({ issuer: broker.services.config.issuer, url: broker.url, audience: 'demo' });
    await expect(verifier.verify(forged)).rejects.toMatchObject({
      code: 'ERR_TOKEN_INVALID',
      message: `token rejected (no key with kid ${JSON.stringify(kid)} in the issuer's JWKS)`,
      details: { reason: 'unknown_kid', kid },
    });
  });
});
