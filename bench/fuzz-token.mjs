// Fuzzes the token verifier that creddy ships (dist/verify/token.js, also behind `creddy verify`):
// mutations of one valid token and random structured tokens go through verifyCreddyToken. Two
// properties must hold for every input: it throws only CreddyError (no crash, no TypeError from
// a hostile header), and nothing but the original token verifies (no malleability).
//
//   node bench/fuzz-token.mjs [--seconds 30] [--seed N]     (npm run build first)
//
// Exit 1 with the offending input on the first violation; otherwise prints how many inputs ran.
import { generateKeyPairSync, sign } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createLocalJWKSet } from 'jose';
import { isCreddyError } from '../dist/errors.js';
import { verifyCreddyToken } from '../dist/verify/token.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, seed: { type: 'string' } } });
const seconds = Number(values.seconds);
let seed = Number(values.seed ?? Date.now() % 2 ** 31);
const startSeed = seed;
/** mulberry32: a small seeded PRNG, so a failure can be replayed with --seed. */
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (list) => list[Math.floor(random() * list.length)];
const int = (n) => Math.floor(random() * n);

/** Signatures this run made (re-signed inputs), as opposed to edits of one. */
const signatures = new Set();
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const x = publicKey.export({ format: 'jwk' }).x;
const keys = createLocalJWKSet({ keys: [{ kty: 'OKP', crv: 'Ed25519', x, kid: 'k1', alg: 'EdDSA' }] });
const issuer = 'http://127.0.0.1:8400';
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const claims = {
  iss: issuer,
  sub: 'bot',
  aud: 'demo',
  client_id: 'bot',
  iat: now,
  nbf: now,
  exp: now + 3600,
  jti: 'fuzz-jti-0001',
  scope: 'read',
  backend: 'demo',
};
const signWith = (header, body) => {
  const input = `${b64(header)}.${b64(body)}`;
  const signature = sign(null, Buffer.from(input), privateKey).toString('base64url');
  signatures?.add(signature);
  return `${input}.${signature}`;
};
const valid = signWith({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' }, claims);

const CLAIMS = ['iss', 'sub', 'aud', 'client_id', 'exp', 'nbf', 'iat', 'jti', 'scope', 'backend', 'metadata'];
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u0000é';
const headers = [
  { alg: 'none', typ: 'at+jwt', kid: 'k1' },
  { alg: 'HS256', typ: 'at+jwt', kid: 'k1' },
  { alg: 'EdDSA', typ: 'JWT', kid: 'k1' },
  { alg: 'EdDSA', typ: 'at+jwt', kid: 'unknown' },
  { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1', crit: ['x'] },
  { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1', b64: false, crit: ['b64'] },
  { alg: 'EdDSA', typ: 'at+jwt', kid: { $gt: '' } },
  { alg: ['EdDSA'], typ: 'at+jwt', kid: 'k1' },
  { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1', jwk: { kty: 'OKP', crv: 'Ed25519', x } },
];
const mutations = [
  (t) => t.slice(0, int(t.length)), // truncate
  (t) => {
    const i = int(t.length);
    return t.slice(0, i) + pick(ALPHABET) + t.slice(i + 1);
  }, // replace a char
  (t) => {
    const i = int(t.length);
    return t.slice(0, i) + pick(ALPHABET) + t.slice(i);
  }, // insert a char
  (t) => {
    const i = int(t.length);
    return t.slice(0, i) + t.slice(i + 1);
  }, // delete a char
  (t) => {
    const [h, p, s] = t.split('.');
    return [p, h, s].join('.');
  }, // swap segments
  (t) => `${t}.${t.split('.')[2]}`, // extra segment
  (t) => {
    const [h, p] = t.split('.');
    return `${h}.${p}.${Buffer.from(Array.from({ length: 64 }, () => int(256))).toString('base64url')}`;
  },
  () => signWith(pick(headers), claims), // a structurally odd header, really signed
  // really signed, with one claim of the wrong type or value
  () =>
    signWith(
      { alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' },
      { ...claims, [pick(CLAIMS)]: pick([null, 0, -1, 1e20, 'x', [], {}, now + 1e6, true]) },
    ),
  (t) => t.replace(/[A-Za-z]/, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())), // case flip
];

const sameSignature = (t) => signatures.has(t.split('.')[2]);
const wellTyped = (c) =>
  ['iss', 'sub', 'jti', 'scope', 'backend', 'client_id'].every((k) => typeof c[k] === 'string') &&
  ['exp', 'iat'].every((k) => Number.isSafeInteger(c[k])) &&
  (c.metadata === undefined ||
    (typeof c.metadata === 'object' &&
      c.metadata !== null &&
      !Array.isArray(c.metadata) &&
      Object.values(c.metadata).every((v) => typeof v === 'string')));

let inputs = 0;
let accepted = 0;
const deadline = Date.now() + seconds * 1000;
const fail = (why, token, err) => {
  process.stderr.write(`FAIL (${why}) seed=${startSeed} after ${inputs} inputs\ntoken: ${JSON.stringify(token)}\n${err?.stack ?? ''}\n`);
  process.exit(1);
};
while (Date.now() < deadline) {
  for (let i = 0; i < 500; i++) {
    let token = valid;
    const rounds = 1 + int(3);
    for (let r = 0; r < rounds; r++) token = pick(mutations)(token);
    inputs++;
    try {
      const verified = await verifyCreddyToken(token, { issuer, keys, audience: 'demo' });
      accepted++;
      // A token altered without the key never verifies; one re-signed with the key may, but the
      // verifier must never hand back claims of the wrong type.
      if (!sameSignature(token) && token !== valid) fail('accepted a modified token', token);
      if (!wellTyped(verified)) fail('returned ill-typed claims', token);
    } catch (err) {
      if (!isCreddyError(err)) fail('threw something other than a CreddyError', token, err);
    }
  }
}
process.stdout.write(
  `fuzz-token: ${inputs} inputs in ${seconds}s (seed ${startSeed}), ${accepted} accepted (the original, or re-signed with the key and well-typed), 0 modified tokens accepted, 0 crashes\n`,
);
