import { decodeJwt, decodeProtectedHeader } from 'jose';
import { brokerBaseUrl } from '../client/broker-url.js';
import { type CreddyClient, createCreddyClient } from '../client/client.js';
import { CreddyError, isCreddyError } from '../errors.js';
import { decodeJsonSegment } from '../verify/base64url.js';
import { createVerifier } from '../verify/verifier.js';
import { callerTimeout, sayingTimeouts, timeoutArg } from './caller-timeout.js';
import { defineCommand } from './define-command.js';
import { jsonArg, requireEnv } from './flags.js';
import { contextOf, readStdin } from './io.js';
import { nodeFetch } from './node-fetch.js';
import { printJson } from './output.js';

export const verifyCommand = defineCommand({
  meta: { name: 'verify', description: 'Verify a creddy token against the JWKS and deny-list at CREDDY_URL' },
  args: {
    token: { type: 'positional', description: 'The JWT (or - to read stdin)', required: true },
    audience: { type: 'string', description: 'Require this aud', valueHint: 'AUD' },
    backend: { type: 'string', description: 'Require this backend claim (the backend the token was issued for)', valueHint: 'NAME' },
    ...timeoutArg,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const url = requireEnv(ctx, 'CREDDY_URL');
    if (args.backend === '') throw new CreddyError('ERR_USAGE', '--backend needs a backend name');
    const timeout = callerTimeout(args.timeout, ctx.env);
    const token = args.token === '-' ? (await readStdin(ctx)).trim() : args.token;
    // Every request to the broker (discovery, JWKS, revocation status) waits as a caller command's
    // does, and says so when it runs out (caller-timeout.ts), over the caller commands' transport.
    const ms = timeout.seconds * 1000;
    const doFetch = sayingTimeouts(nodeFetch, timeout);
    const client = createCreddyClient({ url: brokerBaseUrl(url, 'CREDDY_URL'), fetch: doFetch, timeoutMs: ms });
    // The issuer comes from the server's discovery document, so `iss` is checked against what
    // the server says it is, not against the URL the operator happened to type.
    const discovery = await client.discovery();
    if (typeof discovery.issuer !== 'string') throw new CreddyError('ERR_NOT_READY', 'server did not return an issuer');
    const isActive = async (jti: string): Promise<boolean> => {
      try {
        return !(await client.revocationStatus(jti)).revoked;
      } catch (err) {
        // Signed by a published key yet unknown to the broker: never issued here, or the
        // store was lost. Either way it must not pass.
        if (isCreddyError(err, 'ERR_NOT_FOUND')) throw new CreddyError('ERR_TOKEN_INVALID', `token id ${jti} is unknown to this broker`);
        throw err;
      }
    };
    const verifier = createVerifier({
      issuer: discovery.issuer,
      url: client.url,
      // The verifier's own timeoutMs stops at 60 s (a service's bound) and --timeout goes to 1 h:
      // its requests wait on the caller's timeout instead of the signal it gives them.
      fetch: (input, init) => doFetch(input, { ...init, signal: AbortSignal.timeout(ms) }),
      timeoutMs: Math.min(ms, 60_000),
      // Without --audience any audience passes, as it always has: the operator inspects a token, no service admits it.
      audience: args.audience ?? unverifiedAudience(token),
      // The backend claim is what a service should pin (docs/backends.md): checked only when asked, as --audience is.
      backend: args.backend,
      introspect: (claims) => isActive(claims.jti),
    });
    let claims: Record<string, unknown>;
    let jkt: string | undefined;
    try {
      claims = await verifier.verify(token).catch((err: unknown) => explainUnknownKid(err, token, client));
    } catch (err) {
      // A DPoP-bound token: everything else verified, but a resource server admits it only with a
      // proof from its key, which this command does not hold. Report it as such, after the revocation check.
      if (!isCreddyError(err, 'ERR_DPOP_INVALID') || err.details?.['reason'] !== 'proof_required') throw err;
      claims = decodeJsonSegment(token.split('.')[1] ?? '') ?? {};
      jkt = String(err.details['jkt']);
      if (!(await isActive(String(claims['jti']))))
        throw new CreddyError('ERR_TOKEN_REVOKED', `token ${String(claims['jti'])} has been revoked`);
    }
    if (args.json) return printJson(ctx.stdout, { valid: true, ...(jkt === undefined ? {} : { dpop_bound: true, jkt }), claims });
    const binding = jkt === undefined ? '' : ` (DPoP-bound to key ${jkt}: valid only with a DPoP proof signed by that key)`;
    ctx.stdout.write(`valid token ${String(claims['jti'])}${binding}\n${JSON.stringify(claims, null, 2)}\n`);
  },
});

/** The token's own `aud` (unverified; only so that no --audience means "any"), or a value no token carries. */
function unverifiedAudience(token: string): string | string[] {
  const aud = decodeJsonSegment(token.split('.')[1] ?? '')?.['aud'];
  if (typeof aud === 'string' && aud.length > 0) return aud;
  if (Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string' && a.length > 0)) return aud as string[];
  return '(no audience)';
}

/**
 * A token whose kid is not in the JWKS fails signature lookup before any claim is read. The usual
 * reason is that its key was revoked (the key leaves the JWKS at once): the broker's revocation
 * status says so for the token's jti, and then the answer is ERR_TOKEN_REVOKED, as the docs
 * promise. The jti is read unverified, so the broker's answer counts only if it names the same
 * kid; the token fails either way, this only picks the truer code.
 */
async function explainUnknownKid(err: unknown, token: string, client: CreddyClient): Promise<never> {
  if (!isCreddyError(err, 'ERR_TOKEN_INVALID') || err.details?.['reason'] !== 'unknown_kid') throw err;
  let kid: unknown;
  let jti: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
    jti = decodeJwt(token).jti;
  } catch {
    throw err;
  }
  if (typeof kid !== 'string' || typeof jti !== 'string') throw err;
  const status = await client.revocationStatus(jti).catch(() => undefined);
  if (status?.revoked === true && status.kid === kid) {
    throw new CreddyError('ERR_TOKEN_REVOKED', `token ${jti} is revoked (its signing key ${kid} is no longer in the JWKS)`, {
      details: { jti, kid },
    });
  }
  throw err;
}
