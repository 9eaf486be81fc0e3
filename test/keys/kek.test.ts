import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Kek, type KekSet, open, openWithAny, seal } from '../../src/keys/kek.js';

const kek = (): Kek => ({ id: randomBytes(8).toString('hex'), key: randomBytes(32) });
const set = (current: Kek, previous?: Kek): KekSet => ({
  current,
  previous,
  byId: (id) => [current, previous].find((k) => k?.id === id),
});
const AAD = 'creddy-signing-key:kid-1';
// Layout: version (1) | iv (12) | tag (16) | ciphertext.
const TAG_AT = 13;

describe('KEK envelope (AES-256-GCM)', () => {
  const a = kek();
  const plaintext = randomBytes(48);
  const sealed = seal(a, plaintext, AAD);

  it('round-trips and uses a fresh IV every time', () => {
    expect(open(a, sealed, AAD).equals(plaintext)).toBe(true);
    expect(seal(a, plaintext, AAD).subarray(1, 13).equals(sealed.subarray(1, 13))).toBe(false);
  });

  it('rejects a truncated GCM tag (12 of 16 bytes)', () => {
    const truncated = Buffer.concat([sealed.subarray(0, TAG_AT), sealed.subarray(TAG_AT, TAG_AT + 12), sealed.subarray(TAG_AT + 16)]);
    expect(() => open(a, truncated, AAD)).toThrow(expect.objectContaining({ code: 'ERR_KEK_INVALID' }));
  });

  it('pinning authTagLength is what stops truncation: GCM alone accepts a 12-byte tag', () => {
    // Shows why kek.open sets authTagLength: without it Node verifies a truncated tag happily.
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', a.key, iv);
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const shortTag = cipher.getAuthTag().subarray(0, 12);
    const lax = createDecipheriv('aes-256-gcm', a.key, iv);
    lax.setAuthTag(shortTag);
    expect(Buffer.concat([lax.update(ct), lax.final()]).equals(plaintext)).toBe(true);
    const strict = createDecipheriv('aes-256-gcm', a.key, iv, { authTagLength: 16 });
    expect(() => strict.setAuthTag(shortTag)).toThrow();
  });

  it.each([
    [
      'a flipped ciphertext bit',
      (b: Buffer) => {
        b[b.length - 1]! ^= 1;
      },
    ],
    [
      'a flipped tag bit',
      (b: Buffer) => {
        b[TAG_AT]! ^= 0x80;
      },
    ],
    [
      'a flipped IV bit',
      (b: Buffer) => {
        b[1]! ^= 1;
      },
    ],
    [
      'an unknown version',
      (b: Buffer) => {
        b[0] = 2;
      },
    ],
  ])('rejects %s', (_name, mutate) => {
    const copy = Buffer.from(sealed);
    mutate(copy);
    expect(() => open(a, copy, AAD)).toThrow(expect.objectContaining({ code: 'ERR_KEK_INVALID' }));
  });

  it('rejects blobs too short to hold iv + tag, the wrong AAD, and the wrong KEK', () => {
    expect(() => open(a, sealed.subarray(0, 29), AAD)).toThrow(expect.objectContaining({ code: 'ERR_KEK_INVALID' }));
    expect(() => open(a, sealed, 'creddy-signing-key:kid-2')).toThrow(expect.objectContaining({ code: 'ERR_KEK_INVALID' }));
    expect(() => open(kek(), sealed, AAD)).toThrow(expect.objectContaining({ code: 'ERR_KEK_INVALID' }));
  });

  it('openWithAny falls back to the previous KEK during a KEK rotation, and only then', () => {
    const b = kek();
    expect(openWithAny(set(b, a), sealed, AAD).equals(plaintext)).toBe(true);
    expect(() => openWithAny(set(b), sealed, AAD)).toThrow(expect.objectContaining({ code: 'ERR_KEK_INVALID' }));
  });
});
