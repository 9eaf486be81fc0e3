/**
 * The SCRAM-SHA-256 verifier creddy sends in CREATE ROLE instead of the password: checked
 * against the exchange in RFC 7677 §3 (user "user", password "pencil"), which a server holding
 * only the verifier must be able to run.
 */
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { scramVerifier } from '../../../src/backends/postgres/scram.js';

const SALT = 'W22ZaJ0SNY7soEsUEjb6gQ==';
const CLIENT_FIRST_BARE = 'n=user,r=rOprNGfwEbeRWgbNEkqO';
const SERVER_FIRST = `r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=${SALT},i=4096`;
const CLIENT_FINAL_NO_PROOF = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
const CLIENT_PROOF = 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
const SERVER_SIGNATURE = '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

describe('SCRAM-SHA-256 verifier', () => {
  it('lets a server verify the RFC 7677 client proof and produce its server signature', async () => {
    const verifier = await scramVerifier('pencil', { salt: Buffer.from(SALT, 'base64'), iterations: 4096 });
    const match = /^SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)$/.exec(verifier);
    expect(match?.[1]).toBe(SALT);
    const storedKey = Buffer.from(match![2]!, 'base64');
    const serverKey = Buffer.from(match![3]!, 'base64');
    const authMessage = `${CLIENT_FIRST_BARE},${SERVER_FIRST},${CLIENT_FINAL_NO_PROOF}`;
    // Server side of RFC 5802: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and H(ClientKey) = StoredKey.
    const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
    const proof = Buffer.from(CLIENT_PROOF, 'base64');
    const clientKey = Buffer.from(proof.map((b, i) => b ^ clientSignature[i]!));
    expect(createHash('sha256').update(clientKey).digest()).toEqual(storedKey);
    expect(createHmac('sha256', serverKey).update(authMessage).digest('base64')).toBe(SERVER_SIGNATURE);
  });

  it('uses a fresh 16-byte salt each time', async () => {
    const [a, b] = await Promise.all([scramVerifier('same'), scramVerifier('same')]);
    expect(a).not.toBe(b);
    expect(Buffer.from(a.split(/[:$]/)[2]!, 'base64')).toHaveLength(16);
  });
});
