import { CreddyError } from '../errors.js';
import { type AgentSigner, createAgentSigner, type Ed25519PrivateKey, generateAgentKey, privateKeySeed } from './agent-key.js';

/**
 * A bearer: the `ckr_…` token `creddy agent create` printed, or a function called for each
 * request that returns one — or an OIDC ID token that a federation rule accepts as a bearer
 * (GitHub Actions' token service, a Kubernetes projected token re-read from disk).
 */
export interface BearerAuth {
  readonly type: 'bearer';
  readonly token: string | (() => string | Promise<string>);
}

/**
 * A key-pair agent: it holds an Ed25519 private key and the broker only its public key. Every
 * request carries a fresh 60-second client assertion (RFC 7523) instead of a reusable secret.
 */
export interface KeyPairAuth {
  readonly type: 'key-pair';
  /** The agent's name (`iss` and `sub` of its assertions). */
  readonly agent: string;
  readonly privateKey: Ed25519PrivateKey;
}

/**
 * A federated workload (GitHub Actions, GitLab CI, Kubernetes…): credentials are obtained by
 * exchanging an OIDC ID token at the broker's token endpoint (RFC 8693). The function is called
 * for every exchange, so it can return a fresh token each time.
 */
export interface OidcAuth {
  readonly type: 'oidc';
  readonly idToken: () => string | Promise<string>;
}

/** How the client authenticates to the broker; a plain string (or a function returning one) is a bearer token. */
export type CreddyAuth = string | (() => string | Promise<string>) | BearerAuth | KeyPairAuth | OidcAuth;

/**
 * The client's view of its credentials, checked once in the factory.
 *
 * @internal
 */
export interface ResolvedAuth {
  readonly type: 'none' | 'bearer' | 'key-pair' | 'oidc';
  /** The `Authorization` header value for a broker API call. */
  authorization(): Promise<string>;
  /** The ID token to exchange (oidc only). */
  idToken(): Promise<string>;
  /** The key DPoP proofs are signed with, or undefined when the client does not use DPoP. */
  dpopSigner(): Promise<AgentSigner | undefined>;
}

/**
 * Checks `auth` and prepares it: key parsing happens here (synchronously, so a bad key fails the
 * factory), the signer and the issuer lookup only on first use. With `dpop` (the default for
 * key-pair agents) proofs are signed with the agent's own key; bearer and oidc callers that ask
 * for DPoP get a key generated for this client, which never leaves memory. `auth` undefined is a
 * client for the public calls only: the others reject before any request, naming the option.
 * A token source (a bearer function, `idToken`) that throws rejects with `ERR_UNAUTHENTICATED`
 * (its error as `cause`), unless what it threw is a CreddyError already.
 *
 * @internal
 */
export function resolveAuth(
  auth: CreddyAuth | undefined,
  dpop: boolean | undefined,
  assertion: (signer: AgentSigner, agent: string) => Promise<string>,
): ResolvedAuth {
  const spec: Exclude<CreddyAuth, string | (() => string | Promise<string>)> | undefined =
    typeof auth === 'string' || typeof auth === 'function' ? { type: 'bearer', token: auth } : auth;
  const usage = (why: string) => new CreddyError('ERR_USAGE', why, { details: { option: 'options.auth' } });
  let signer: Promise<AgentSigner> | undefined;

  if (spec?.type === 'key-pair') {
    if (typeof spec.agent !== 'string' || spec.agent.length === 0) throw usage('options.auth.agent must name the key-pair agent');
    privateKeySeed(spec.privateKey);
    const agentSigner = () => (signer ??= createAgentSigner(spec.privateKey));
    return {
      type: 'key-pair',
      authorization: async () => `Bearer ${await assertion(await agentSigner(), spec.agent)}`,
      idToken: () => Promise.reject(usage('this client authenticates with a key pair, not an ID token')),
      dpopSigner: async () => (dpop === false ? undefined : agentSigner()),
    };
  }
  const ephemeral = async () => (dpop ? (signer ??= generateAgentKey().then((key) => createAgentSigner(key.privateJwk))) : undefined);
  if (spec?.type === 'oidc') {
    if (typeof spec.idToken !== 'function') throw usage('options.auth.idToken must be a function returning an OIDC ID token');
    return {
      type: 'oidc',
      authorization: () =>
        Promise.reject(usage('list and revoke need an agent (bearer or key pair); federated credentials expire on their own')),
      idToken: async () => {
        const token = await fromSource('options.auth.idToken()', () => spec.idToken());
        if (typeof token !== 'string' || token.length === 0) throw usage('options.auth.idToken() returned no token');
        return token;
      },
      dpopSigner: ephemeral,
    };
  }
  if (spec !== undefined && (spec.type !== 'bearer' || (typeof spec.token !== 'string' && typeof spec.token !== 'function')))
    throw usage('options.auth must be a bearer token, a key pair or an OIDC token source');
  if (spec !== undefined && spec.token === '') throw usage('options.auth is an empty token (is the variable it is read from set?)');
  const token = spec?.token;
  return {
    type: token ? 'bearer' : 'none',
    authorization: async () => {
      if (token === undefined) {
        throw usage('this client has no options.auth: only discovery(), issuer() and revocationStatus() work without one');
      }
      const value = typeof token === 'function' ? await fromSource('options.auth', token) : token;
      if (typeof value !== 'string' || value.length === 0) throw usage('options.auth returned no token');
      return `Bearer ${value}`;
    },
    idToken: () => Promise.reject(usage('this client has no OIDC token source')),
    dpopSigner: ephemeral,
  };
}

/**
 * Calls a caller's token source. What it throws becomes `ERR_UNAUTHENTICATED` (the client has no
 * token to present), its error kept as `cause`; its message is repeated cut short, as it is the
 * caller's own words (a file it could not read, a platform's refusal). A CreddyError passes as it is.
 */
async function fromSource<T>(what: string, source: () => T | Promise<T>): Promise<T> {
  try {
    return await source();
  } catch (err) {
    if (err instanceof CreddyError) throw err;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
    const said = String((err as Error | undefined)?.message ?? err).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
    throw new CreddyError('ERR_UNAUTHENTICATED', `${what} failed: ${said.length > 200 ? `${said.slice(0, 200)}…` : said}`, {
      cause: err,
      expose: true,
    });
  }
}
