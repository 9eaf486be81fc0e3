import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { CreddyError } from '../errors.js';
import { thumbprint } from '../keys/jwk.js';

/** A key-pair agent's Ed25519 public key, as the broker registers it. */
export interface AgentPublicKey {
  /** The 32-byte public key, base64url (the JWK's `x`). */
  readonly x: string;
  /** Its RFC 7638 thumbprint: the `kid` of the agent's assertions, the `jkt` of its DPoP proofs. */
  readonly jkt: string;
}

/** How `--generate-key` writes the private half: PKCS#8 PEM (as `openssl genpkey` does) or a private JWK. */
export type PrivateKeyFormat = 'pem' | 'jwk';

/** Longest key file looked at: a PEM or JWK of one Ed25519 key is a few hundred bytes. */
const MAX_KEY_TEXT = 16 * 1024;
/** Members only a private JWK carries: an operator handing one over is told to give the public half. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

const usage = (why: string) => new CreddyError('ERR_USAGE', `public key: ${why}`);

/**
 * Reads an agent's public key from what an operator hands over: an SPKI PEM (`-----BEGIN PUBLIC
 * KEY-----`, as `openssl pkey -pubout` writes it) or an OKP Ed25519 JWK (`{"kty":"OKP",
 * "crv":"Ed25519","x":…}`, as `generateAgentKey()` returns it). A private key is refused: the
 * broker never needs, and should never see, the private half.
 */
export function parsePublicKey(text: string): AgentPublicKey {
  if (text.length > MAX_KEY_TEXT) throw usage('too long to be one Ed25519 key');
  const trimmed = text.trim();
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) throw usage('this is a private key; register the public half only');
  let key: KeyObject;
  if (trimmed.startsWith('{')) {
    let jwk: Record<string, unknown>;
    try {
      jwk = JSON.parse(trimmed) as Record<string, unknown>;
    } catch {
      throw usage('not valid JSON');
    }
    if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw usage('expected a JWK object');
    if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw usage('this JWK holds a private key; register the public half only');
    if (jwk['kty'] !== 'OKP' || jwk['crv'] !== 'Ed25519') throw usage('expected an OKP Ed25519 JWK');
    const x = jwk['x'];
    if (typeof x !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(x) || Buffer.from(x, 'base64url').toString('base64url') !== x) {
      throw usage('x must be 32 bytes, base64url');
    }
    key = importKey(() => createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' }));
  } else if (trimmed.startsWith('-----BEGIN PUBLIC KEY-----')) {
    key = importKey(() => createPublicKey({ key: trimmed, format: 'pem' }));
  } else {
    throw usage('expected an SPKI PEM (-----BEGIN PUBLIC KEY-----) or an Ed25519 JWK');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw usage(`expected an Ed25519 key, got ${key.asymmetricKeyType ?? 'another type'}`);
  const x = key.export({ format: 'jwk' }).x!;
  return { x, jkt: thumbprint(x) };
}

function importKey(load: () => KeyObject): KeyObject {
  try {
    return load();
  } catch {
    throw usage('the key does not parse');
  }
}

/**
 * A fresh Ed25519 key pair for `agent create --generate-key`: the public half to register, and
 * the private half serialised for the agent's key file (never stored by the broker).
 */
export function generateAgentKeyPair(format: PrivateKeyFormat): { publicKey: AgentPublicKey; privateKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x!;
  const text =
    format === 'pem'
      ? (privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
      : `${JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: thumbprint(x) })}\n`;
  return { publicKey: { x, jkt: thumbprint(x) }, privateKey: text };
}
