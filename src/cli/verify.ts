import { defineCommand } from 'citty';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { type CreddyClient, createCreddyClient } from '../client/client.js';
import { CreddyError, isCreddyError } from '../errors.js';
import { creddyJwks, verifyCreddyToken } from '../verify/token.js';
import { jsonArg, requireEnv } from './context.js';
import { contextOf, readStdin } from './io.js';
import { printJson } from './output.js';

export const verifyCommand = defineCommand({
  meta: { name: 'verify', description: 'Verify a creddy token against the JWKS and deny-list at CREDDY_URL' },
  args: {
    token: { type: 'positional', description: 'The JWT (or - to read stdin)', required: true },
    audience: { type: 'string', description: 'Require this aud', valueHint: 'AUD' },
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const url = requireEnv(ctx, 'CREDDY_URL');
    const token = args.token === '-' ? (await readStdin(ctx)).trim() : args.token;
    const client = createCreddyClient({ url });
    // The issuer comes from the server's discovery document, so `iss` is checked against what
    // the server says it is, not against the URL the operator happened to type.
    const discovery = await client.discovery();
    if (typeof discovery.issuer !== 'string') throw new CreddyError('ERR_NOT_READY', 'server did not return an issuer');
    const claims = await verifyCreddyToken(token, {
      issuer: discovery.issuer,
      keys: creddyJwks(client.url),
      ...(args.audience ? { audience: args.audience } : {}),
      isRevoked: async (jti) => {
        try {
          return (await client.revocationStatus(jti)).revoked;
        } catch (err) {
          // Signed by a published key yet unknown to the broker: never issued here, or the
          // store was lost. Either way it must not pass.
          if (isCreddyError(err, 'ERR_NOT_FOUND')) throw new CreddyError('ERR_TOKEN_INVALID', `token id ${jti} is unknown to this broker`);
          throw err;
        }
      },
    }).catch((err: unknown) => explainUnknownKid(err, token, client));
    if (args.json) return printJson(ctx.stdout, { valid: true, claims });
    ctx.stdout.write(`valid token ${claims.jti}\n${JSON.stringify(claims, null, 2)}\n`);
  },
});

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
