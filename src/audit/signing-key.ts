import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import type { Logger } from '../_utils/logger.js';
import { CreddyError } from '../errors.js';
import { generateSigningKey, type PublicJwk, privateKeyFromDer, publicJwk, thumbprint } from '../keys/jwk.js';
import { type KekSet, open, openWithAny, seal } from '../keys/kek.js';
import type { AuditSigningKeyRecord } from '../model/audit.js';
import type { Store } from '../store/port.js';

/** The Ed25519 key that signs checkpoints and export manifests (never the token signing keys). */
export interface AuditSigner {
  readonly kid: string;
  readonly publicX: string;
  sign(data: Uint8Array): Buffer;
}

/** Binds a sealed audit signing key to its kid, so it cannot be swapped with another sealed blob. */
const aad = (kid: string): string => `creddy-audit-signing-key:${kid}`;

/**
 * Returns the audit signing key, generating it on first use (sealed under the current KEK, like
 * token signing keys). Concurrent first uses from several processes still end with one key:
 * the store inserts under its write lock only when none exists. Of the stored keys, the newest
 * whose private half opens with the KEK signs: a row someone added without the KEK (a leaked
 * database password) is skipped and logged by kid, so it cannot stop checkpoints, exports and
 * retention. ERR_KEK_INVALID when no stored key opens (a wrong KEK).
 */
export async function loadAuditSigner(deps: { store: Store; keks: KekSet; now: () => number; logger?: Logger }): Promise<AuditSigner> {
  const ensured = await deps.store.audit.ensureSigningKey(() => {
    const key = generateSigningKey();
    return {
      kid: key.kid,
      publicX: key.x,
      sealedPrivate: seal(deps.keks.current, key.privateDer, aad(key.kid)),
      kekId: deps.keks.current.id,
      createdAt: Math.floor(deps.now() / 1000),
    };
  });
  const stored = await deps.store.audit.signingKeys();
  const newestFirst = [...(stored.some((r) => r.kid === ensured.kid) ? stored : [...stored, ensured])].reverse();
  let firstError: unknown;
  for (const record of newestFirst) {
    try {
      const privateKey = privateKeyFromDer(openWithAny(deps.keks, record.sealedPrivate, aad(record.kid)), record.publicX);
      if (thumbprint(record.publicX) !== record.kid) throw new CreddyError('ERR_KEK_INVALID', 'its kid does not name its public key');
      return { kid: record.kid, publicX: record.publicX, sign: (data) => sign(null, data, privateKey) };
    } catch (err) {
      firstError ??= err;
      deps.logger?.error(`audit signing key ${record.kid} does not open with the configured KEK; not used to sign`, {
        kid: record.kid,
        problem: (err as Error).message,
      });
    }
  }
  throw new CreddyError(
    'ERR_KEK_INVALID',
    `no stored audit signing key opens with the configured KEK (${newestFirst.map((r) => r.kid).join(', ')}): ${(firstError as Error).message}`,
    { cause: firstError },
  );
}

/** An audit signing-key row `keys rewrap` left as it is: no configured KEK opens it. */
export interface SkippedAuditKey {
  readonly kid: string;
  readonly kekId: string;
  /** Why it does not open (kids and KEK ids, never key material). */
  readonly problem: string;
}

/** What `rewrapAuditSigningKeys` did: rows re-sealed, and rows it could not open (left untouched). */
export interface AuditKeysRewrap {
  readonly rewrapped: number;
  readonly skipped: readonly SkippedAuditKey[];
}

/**
 * Re-seals audit signing keys not yet under the current KEK (`creddy keys rewrap` calls this next
 * to the token keys); idempotent and resumable. As there, a row no configured KEK opens — one
 * written without the KEK, whatever `kek_id` it claims, or one altered — is skipped and returned,
 * not a stop: it must not keep the revocation handles and secrets after it on the old KEK, and
 * nothing is lost by leaving it, since nothing could open it (it never signs: loadAuditSigner,
 * kekVouchedKeys). A row that claims the current KEK is opened with that KEK too.
 */
export async function rewrapAuditSigningKeys(deps: { store: Store; keks: KekSet }): Promise<AuditKeysRewrap> {
  const { keks } = deps;
  let rewrapped = 0;
  const skipped: SkippedAuditKey[] = [];
  for (const record of await deps.store.audit.signingKeys()) {
    const current = record.kekId === keks.current.id;
    const der = openedAuditKey(keks, record, current);
    if (!der) {
      skipped.push({ kid: record.kid, kekId: record.kekId, problem: unopenedAuditKey(keks, record) });
      continue;
    }
    try {
      if (current) continue;
      await deps.store.audit.resealSigningKey(record.kid, seal(keks.current, der, aad(record.kid)), keks.current.id);
      rewrapped += 1;
    } finally {
      der.fill(0);
    }
  }
  return { rewrapped, skipped };
}

/**
 * The row's private key (DER), or undefined when it does not open or fails the checks
 * kekVouchedKeys makes (a row failing them is never trusted, so it is not "done" either). A row
 * that claims the current KEK must open with that one: it is the KEK left once the previous goes.
 */
function openedAuditKey(keks: KekSet, record: AuditSigningKeyRecord, current: boolean): Buffer | undefined {
  let der: Buffer | undefined;
  try {
    der = current ? open(keks.current, record.sealedPrivate, aad(record.kid)) : openWithAny(keks, record.sealedPrivate, aad(record.kid));
    privateKeyFromDer(der, record.publicX);
    if (thumbprint(record.publicX) !== record.kid) throw new Error('its kid does not name its public key');
    return der;
  } catch {
    der?.fill(0);
    return undefined;
  }
}

/** Why an audit signing-key row did not open, as unsealSigningKey says it of a token key. */
function unopenedAuditKey(keks: KekSet, record: AuditSigningKeyRecord): string {
  const configured = `${keks.current.id}${keks.previous ? ` and previous ${keks.previous.id}` : ''}`;
  return keks.byId(record.kekId)
    ? `audit signing key ${record.kid} does not open under the configured KEK (id ${configured}): the stored key was altered or written without the KEK`
    : `wrong KEK: audit signing key ${record.kid} is sealed by KEK id ${record.kekId}, but the configured KEK id is ${configured}`;
}

/** A verifier's view of an audit public key. */
export interface AuditPublicKey {
  readonly kid: string;
  readonly key: KeyObject;
}

export function publicKeyFromX(x: string): AuditPublicKey {
  return { kid: thumbprint(x), key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' }) };
}

export function publicKeysOf(records: readonly AuditSigningKeyRecord[]): AuditPublicKey[] {
  return records.map((r) => publicKeyFromX(r.publicX));
}

/**
 * The stored audit signing keys this process can vouch for: those whose sealed private half opens
 * with the KEK and matches the public half (and the kid names that half). A row that a role with
 * INSERT on the table but without the KEK wrote (a leaked PostgreSQL runtime password) cannot
 * pass, so checkpoints signed with such a key anchor nothing.
 */
export function kekVouchedKeys(records: readonly AuditSigningKeyRecord[], keks: KekSet): AuditPublicKey[] {
  return records.flatMap((record) => {
    try {
      privateKeyFromDer(openWithAny(keks, record.sealedPrivate, aad(record.kid)), record.publicX);
      const key = publicKeyFromX(record.publicX);
      return key.kid === record.kid ? [key] : [];
    } catch {
      return [];
    }
  });
}

/** Parses a pinned public key as given to `--public-key`: SPKI PEM or an Ed25519 JWK (JSON). */
export function parsePublicKey(text: string): AuditPublicKey {
  const trimmed = text.trim();
  const key = trimmed.startsWith('{')
    ? createPublicKey({ key: JSON.parse(trimmed) as import('node:crypto').JsonWebKey, format: 'jwk' })
    : createPublicKey(trimmed);
  if (key.asymmetricKeyType !== 'ed25519') throw new CreddyError('ERR_USAGE', 'not an Ed25519 public key');
  return publicKeyFromX(key.export({ format: 'jwk' }).x!);
}

/** The public key as SPKI PEM (for `openssl pkeyutl -verify`) and as a JWK. */
export function publicKeyFormats(x: string): { pem: string; jwk: PublicJwk } {
  return { pem: publicKeyFromX(x).key.export({ format: 'pem', type: 'spki' }).toString(), jwk: publicJwk(x) };
}

export function verifySignature(key: AuditPublicKey, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return signature.length === 64 && verify(null, data, key.key, signature);
  } catch {
    return false;
  }
}
