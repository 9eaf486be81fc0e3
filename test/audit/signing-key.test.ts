import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAuditSigner, parsePublicKey, publicKeyFormats, rewrapAuditSigningKeys, verifySignature } from '../../src/audit/signing-key.js';
import { loadKeks } from '../../src/keys/kek.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { silentLogger, tempDir } from '../helpers/harness.js';

describe('audit signing key', () => {
  it('is generated once, sealed under the KEK, survives a KEK rewrap, and exports as PEM and JWK', async () => {
    const { dir, cleanup } = tempDir();
    const store = createSqliteStore(join(dir, 'creddy.db'));
    try {
      const oldKek = randomBytes(32).toString('hex');
      const keks = loadKeks({ env: { CREDDY_KEK: oldKek }, dataDir: dir, logger: silentLogger });
      const [a, b] = await Promise.all([loadAuditSigner({ store, keks, now: Date.now }), loadAuditSigner({ store, keks, now: Date.now })]);
      expect(a.kid).toBe(b.kid);
      expect(await store.audit.signingKeys()).toHaveLength(1);
      const sealed = Buffer.from((await store.audit.signingKeys())[0]!.sealedPrivate);
      expect(sealed.includes(Buffer.from(a.publicX, 'base64url'))).toBe(false);

      const rotated = loadKeks({
        env: { CREDDY_KEK: randomBytes(32).toString('hex'), CREDDY_KEK_PREVIOUS: oldKek },
        dataDir: dir,
        logger: silentLogger,
      });
      expect(await rewrapAuditSigningKeys({ store, keks: rotated })).toEqual({ rewrapped: 1, skipped: [] });
      expect(await rewrapAuditSigningKeys({ store, keks: rotated })).toEqual({ rewrapped: 0, skipped: [] });
      const onlyNew = loadKeks({ env: { CREDDY_KEK: rotated.current.key.toString('hex') }, dataDir: dir, logger: silentLogger });
      const after = await loadAuditSigner({ store, keks: onlyNew, now: Date.now });
      expect(after.kid).toBe(a.kid);

      const { pem, jwk } = publicKeyFormats(after.publicX);
      const data = Buffer.from('manifest');
      for (const text of [pem, JSON.stringify(jwk)]) expect(verifySignature(parsePublicKey(text), data, after.sign(data))).toBe(true);
      expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: a.kid });
    } finally {
      await store.close();
      cleanup();
    }
  });
});
