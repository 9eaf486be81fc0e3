import { CreddyError } from '../errors.js';
import { decodeBase64url, encodeBase64url } from '../verify/base64url.js';
import { type Ed25519PublicJwk, jwkThumbprint } from '../verify/thumbprint.js';

/** An Ed25519 private key as a JWK (RFC 8037): `d` is the 32-byte seed, `x` the public key. */
export interface Ed25519PrivateJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly d: string;
  /** Checked against `d` when present, so a mismatched pair is caught before it signs anything. */
  readonly x?: string | undefined;
}

/**
 * An agent's Ed25519 private key: the 32-byte seed, a private JWK, or a PKCS#8 PEM
 * (`-----BEGIN PRIVATE KEY-----`, as `openssl genpkey -algorithm ed25519` writes it).
 */
export type Ed25519PrivateKey = Uint8Array | Ed25519PrivateJwk | string;

/** Signs compact JWS with one Ed25519 key, without node:crypto (so it runs in browsers and edge runtimes). */
export interface AgentSigner {
  /** The public key, to register with the broker and to embed in DPoP proofs. */
  readonly publicJwk: Ed25519PublicJwk;
  /** The RFC 7638 thumbprint of the public key: the `cnf.jkt` of tokens bound to it. */
  readonly jkt: string;
  /** `base64url(header).base64url(payload).base64url(signature)`, header `alg: EdDSA`. */
  sign(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string>;
}

/** A freshly generated key pair, as JWKs. */
export interface AgentKey {
  /** Keep secret: it is the agent's credential. */
  readonly privateJwk: Ed25519PrivateJwk;
  /** Register this one with the broker. */
  readonly publicJwk: Ed25519PublicJwk;
  /** RFC 7638 thumbprint of the public key. */
  readonly jkt: string;
}

/**
 * @noble/ed25519 (40 kB of source) loads with the first key operation: a bearer caller, such as
 * `creddy get` with CREDDY_TOKEN, never signs and should not pay for compiling it.
 */
const noble = () => import('@noble/ed25519');

/** DER prefix of a PKCS#8 v1 Ed25519 private key (RFC 8410 §7): the 32-byte seed follows. */
const PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/**
 * Generates an Ed25519 key pair for a key-pair agent with `crypto.getRandomValues` (WebCrypto;
 * no node:crypto). The agent keeps the private JWK; the broker only ever sees the public one.
 *
 * @returns The private and public JWK and the key's thumbprint.
 *
 * @example
 * ```ts
 * import { generateAgentKey } from 'creddy/client';
 *
 * const { privateJwk, publicJwk, jkt } = await generateAgentKey();
 * console.log(JSON.stringify(publicJwk), jkt); // register the public key; store privateJwk as a secret
 * void privateJwk;
 * ```
 */
export async function generateAgentKey(): Promise<AgentKey> {
  const ed = await noble();
  const seed = ed.utils.randomSecretKey();
  const signer = await createAgentSigner(seed);
  return {
    privateJwk: { kty: 'OKP', crv: 'Ed25519', d: encodeBase64url(seed), x: signer.publicJwk.x },
    publicJwk: signer.publicJwk,
    jkt: signer.jkt,
  };
}

/**
 * A signer over an Ed25519 private key, with @noble/ed25519 (SHA-512 from WebCrypto). The key
 * stays inside the returned object; nothing here logs or serialises it.
 *
 * @param privateKey - The seed, a private JWK or a PKCS#8 PEM.
 * @returns A signer with the public JWK and its thumbprint.
 * @throws A {@link CreddyError} `ERR_USAGE` when the key is malformed or the JWK's `x` does not match `d`.
 *
 * @example
 * ```ts
 * import { createAgentSigner } from 'creddy/client';
 *
 * const signer = await createAgentSigner(process.env.CREDDY_AGENT_KEY ?? '');
 * console.log(signer.jkt);
 * ```
 */
export async function createAgentSigner(privateKey: Ed25519PrivateKey): Promise<AgentSigner> {
  const seed = privateKeySeed(privateKey);
  const ed = await noble();
  const x = encodeBase64url(await ed.getPublicKeyAsync(seed));
  if (typeof privateKey === 'object' && !(privateKey instanceof Uint8Array) && privateKey.x !== undefined && privateKey.x !== x) {
    throw new CreddyError('ERR_USAGE', 'the private JWK does not match its x (public key)');
  }
  const publicJwk: Ed25519PublicJwk = { kty: 'OKP', crv: 'Ed25519', x };
  return {
    publicJwk,
    jkt: await jwkThumbprint(publicJwk),
    async sign(header, payload) {
      // This key signs EdDSA only, whatever the caller put in the header.
      const input = `${encodeBase64url(JSON.stringify({ ...header, alg: 'EdDSA' }))}.${encodeBase64url(JSON.stringify(payload))}`;
      const signature = await ed.signAsync(new TextEncoder().encode(input), seed);
      return `${input}.${encodeBase64url(signature)}`;
    },
  };
}

/**
 * The 32-byte seed of a private key in any accepted form; throws `ERR_USAGE` for anything else.
 *
 * @internal
 */
export function privateKeySeed(key: Ed25519PrivateKey): Uint8Array {
  const bad = (why: string) => new CreddyError('ERR_USAGE', `Ed25519 private key: ${why}`);
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw bad('a raw key must be the 32-byte seed');
    return key.slice();
  }
  if (typeof key === 'string') {
    const body = /^-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----\s*$/.exec(key.trim());
    if (!body) throw bad('expected a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)');
    let der: Uint8Array;
    try {
      der = Uint8Array.from(atob(body[1]!.replace(/\s+/g, '')), (c) => c.charCodeAt(0));
    } catch {
      throw bad('the PEM body is not base64');
    }
    if (der.length !== 48 || !PKCS8_PREFIX.every((byte, i) => der[i] === byte)) throw bad('the PEM is not a PKCS#8 Ed25519 key');
    return der.slice(16);
  }
  if (key === null || typeof key !== 'object' || key.kty !== 'OKP' || key.crv !== 'Ed25519' || typeof key.d !== 'string') {
    throw bad('expected an OKP Ed25519 JWK with d');
  }
  const seed = decodeBase64url(key.d);
  if (seed?.length !== 32) throw bad('d must be 32 bytes, base64url');
  return seed;
}

// The TSDoc above links to CreddyError, and a link in the emitted .d.ts resolves only to a name
// that file imports, which it does only for names its declarations use: this keeps it there.
export type { CreddyError };
