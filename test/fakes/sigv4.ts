/**
 * Server-side AWS Signature Version 4 verification for loopback test fakes.
 *
 * Written from the SigV4 spec rather than borrowed from the SDK, so a bug in
 * the code under test (or in how it configures the SDK) cannot be masked by
 * the fake sharing the same signing implementation.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The parts of an HTTP request that SigV4 covers, exactly as received. */
export interface SignedRequest {
  method: string;
  /** Request target as sent on the wire (path plus optional `?query`), still percent-encoded. */
  rawUrl: string;
  /** Node's `IncomingMessage.rawHeaders`: flat name/value list, duplicates and order preserved. */
  rawHeaders: string[];
  body: Buffer;
}

/** A credential the verifier may accept; `sessionToken` set means the request must present it. */
export interface KnownCredential {
  secretAccessKey: string;
  sessionToken?: string;
  /** Temporary credentials stop working after this instant (403 ExpiredToken). */
  expiration?: Date;
}

export interface VerifyOptions {
  region: string;
  service: string;
  lookup(accessKeyId: string): KnownCredential | undefined;
  /** Injected so tests of the verifier can pin the clock; defaults to the real clock. */
  now?: Date;
  /** Allowed distance between `x-amz-date` and now, either direction. Default 5 minutes. */
  maxSkewMs?: number;
}

/** Why a request was refused, in the code/status AWS itself would use. */
export interface SigV4Failure {
  ok: false;
  status: number;
  code: string;
  message: string;
}

export type SigV4Result = { ok: true; accessKeyId: string; sessionToken?: string } | SigV4Failure;

const ALGORITHM = 'AWS4-HMAC-SHA256';
const AMZ_DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

const fail = (status: number, code: string, message: string): SigV4Failure => ({ ok: false, status, code, message });
const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 strict encoding: encodeURIComponent leaves `!'()*` alone, SigV4 does not. */
export function uriEscape(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `AWS4`+secret → date → region → service → `aws4_request`, per the spec's key derivation. */
export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/**
 * Canonical URI for every service except S3: empty and dot segments removed
 * (the test suite's get-slashes/get-relative cases), then the already-encoded
 * path is encoded once more ("double encoding"), keeping `/`.
 */
export function canonicalUri(rawPath: string): string {
  const out: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  const path = `/${out.join('/')}${out.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  return uriEscape(path).replace(/%2F/g, '/');
}

/** Canonical query: decode, strictly re-encode, sort by key then value; empty query → "". */
export function canonicalQuery(rawQuery: string): string {
  const pairs: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = safeDecode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : safeDecode(part.slice(eq + 1));
    if (key.toLowerCase() === 'x-amz-signature') continue; // presigned URLs carry the signature itself
    pairs.push([uriEscape(key), uriEscape(value)]);
  }
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a malformed escape cannot round-trip, so the signature simply will not match
  }
}

/** Lower-cased header name → values in arrival order (duplicates are joined with `,` later). */
function headerMap(rawHeaders: string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    const list = map.get(name) ?? [];
    list.push(rawHeaders[i + 1] ?? '');
    map.set(name, list);
  }
  return map;
}

/** Value normalisation from the spec: trim, and fold runs of whitespace into one space. */
const canonicalValue = (v: string): string => v.replace(/\s+/g, ' ').trim();

/** Build the canonical request string; `undefined` when a signed header is absent. */
export function canonicalRequest(req: SignedRequest, signedHeaders: string[], payloadHash: string): string | undefined {
  const headers = headerMap(req.rawHeaders);
  const q = req.rawUrl.indexOf('?');
  const lines: string[] = [];
  for (const name of signedHeaders) {
    const values = headers.get(name);
    if (!values) return undefined;
    lines.push(`${name}:${values.map(canonicalValue).join(',')}\n`);
  }
  return [
    req.method.toUpperCase(),
    canonicalUri(q < 0 ? req.rawUrl : req.rawUrl.slice(0, q)),
    canonicalQuery(q < 0 ? '' : req.rawUrl.slice(q + 1)),
    lines.join(''), // each canonical header line already ends in \n, so the blank line appears here
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

/** Parse `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
function parseAuthorization(header: string): { credential: string; signedHeaders: string; signature: string } | SigV4Failure {
  const space = header.indexOf(' ');
  const algorithm = space < 0 ? header : header.slice(0, space);
  if (algorithm !== ALGORITHM) return fail(400, 'IncompleteSignature', `Unsupported AWS 'algorithm': '${algorithm}'`);
  const fields = new Map<string, string>();
  for (const part of header.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature) {
    return fail(400, 'IncompleteSignature', `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.`);
  }
  return { credential, signedHeaders, signature };
}

const amzStamp = (d: Date): string =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/**
 * Verify a header-signed SigV4 request the way AWS does, in AWS's order:
 * structure → scope → clock → key/token → payload hash → signature.
 */
export function verifySigV4(req: SignedRequest, opts: VerifyOptions): SigV4Result {
  const headers = headerMap(req.rawHeaders);
  const authorization = headers.get('authorization')?.[0];
  if (authorization === undefined) return fail(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
  const auth = parseAuthorization(authorization);
  if ('ok' in auth) return auth;

  const scope = auth.credential.split('/');
  if (scope.length !== 5)
    return fail(
      400,
      'IncompleteSignature',
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${auth.credential}'`,
    );
  const [accessKeyId = '', scopeDate = '', region = '', service = '', terminator = ''] = scope;
  const signedHeaders = auth.signedHeaders.split(';');
  if (signedHeaders.some((h) => h !== h.toLowerCase()) || signedHeaders.join(';') !== [...signedHeaders].sort().join(';')) {
    return fail(400, 'IncompleteSignature', 'SignedHeaders must be lower-case and sorted.');
  }
  if (!signedHeaders.includes('host'))
    return fail(400, 'IncompleteSignature', `'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.`);
  if (!signedHeaders.includes('x-amz-date'))
    return fail(400, 'IncompleteSignature', `'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.`);

  const amzDate = headers.get('x-amz-date')?.[0] ?? '';
  const m = AMZ_DATE_RE.exec(amzDate);
  if (!m) return fail(400, 'IncompleteSignature', `X-Amz-Date '${amzDate}' is not in ISO-8601 basic format (YYYYMMDD'T'HHMMSS'Z').`);
  // Scope must agree with the request, otherwise a signature is replayable across regions/services/days.
  if (scopeDate !== amzDate.slice(0, 8))
    return fail(403, 'SignatureDoesNotMatch', 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.');
  if (region !== opts.region) return fail(403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${region}'.`);
  if (service !== opts.service)
    return fail(403, 'SignatureDoesNotMatch', `Credential should be scoped to correct service: '${opts.service}'.`);
  if (terminator !== 'aws4_request')
    return fail(403, 'SignatureDoesNotMatch', `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`);

  // Bounded clock skew is what stops captured requests being replayed later.
  const now = opts.now ?? new Date();
  const skew = opts.maxSkewMs ?? 5 * 60_000;
  const signedAt = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (signedAt < now.getTime() - skew) {
    return fail(
      403,
      'SignatureDoesNotMatch',
      `Signature expired: ${amzDate} is now earlier than ${amzStamp(new Date(now.getTime() - skew))} (${amzStamp(now)} - ${skew / 60_000} min.)`,
    );
  }
  if (signedAt > now.getTime() + skew) {
    return fail(
      403,
      'SignatureDoesNotMatch',
      `Signature not yet current: ${amzDate} is still later than ${amzStamp(new Date(now.getTime() + skew))} (${amzStamp(now)} + ${skew / 60_000} min.)`,
    );
  }

  const known = opts.lookup(accessKeyId);
  const token = headers.get('x-amz-security-token')?.[0];
  if (!known) return fail(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
  // A token must be presented exactly when the key is temporary, and must be the one issued with it.
  if (known.sessionToken !== token) return fail(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
  if (known.expiration && known.expiration.getTime() <= now.getTime())
    return fail(403, 'ExpiredToken', 'The security token included in the request is expired');

  const bodyHash = sha256Hex(req.body);
  const declared = headers.get('x-amz-content-sha256')?.[0];
  if (declared !== undefined && declared !== bodyHash) {
    return fail(400, 'XAmzContentSHA256Mismatch', `The provided 'x-amz-content-sha256' header does not match what was computed.`);
  }

  const creq = canonicalRequest(req, signedHeaders, bodyHash);
  if (creq === undefined) return fail(403, 'SignatureDoesNotMatch', SIGNATURE_MISMATCH);
  const stringToSign = [ALGORITHM, amzDate, `${scopeDate}/${region}/${service}/aws4_request`, sha256Hex(creq)].join('\n');
  const expected = hmac(deriveSigningKey(known.secretAccessKey, scopeDate, region, service), stringToSign);
  const given = Buffer.from(auth.signature, 'hex');
  if (!/^[0-9a-f]{64}$/.test(auth.signature) || !timingSafeEqual(given, expected))
    return fail(403, 'SignatureDoesNotMatch', SIGNATURE_MISMATCH);

  return token === undefined ? { ok: true, accessKeyId } : { ok: true, accessKeyId, sessionToken: token };
}
