import { CreddyError } from '../errors.js';
import { decodeJsonSegment } from '../verify/base64url.js';
import type {
  BackendInfo,
  CredentialList,
  DiscoveryDocument,
  IssueResponse,
  RevocationStatus,
  RevokeResponse,
  SecretValue,
} from '../wire.js';
import { checkBackendInfo, checkIssued, checkList, checkObject, checkRevocationStatus, checkRevoked } from './answers.js';
import { type CreddyAuth, resolveAuth } from './auth.js';
import { brokerBaseUrl, shownUrl, withoutUserinfo } from './broker-url.js';
import { type CredentialCacheOptions, createCredentialCache } from './cache.js';
import { createBrokerCall, failureOf, MAX_RESPONSE_BYTES } from './http.js';
import { checkedIssuer, isIssuerOption } from './issuer.js';
import type { CredentialRequest } from './request.js';

export type { CredentialRequest };

// Loaded on first use, so a bearer client (the CLI's `get` with CREDDY_TOKEN) compiles neither:
// proofs sign (key-pair agents, DPoP), token exchange serves OIDC callers.
const proofs = () => import('./proofs.js');
const tokenExchange = () => import('./token-exchange.js');

/** @deprecated Use `IssueResponse`: the same wire shape under the name the server uses. */
export type IssuedCredential = IssueResponse;

/** Options of {@link createCreddyClient}. */
export interface CreddyClientOptions {
  /**
   * Base URL of the broker, e.g. `http://127.0.0.1:8400`: http(s), without a query, a fragment
   * or credentials (`user:pass@`; those go in `auth`).
   */
  readonly url: string;
  /**
   * How to authenticate: a `ckr_…` bearer token (a string), a key pair
   * (`{ type: 'key-pair', agent, privateKey }`) or an OIDC token source
   * (`{ type: 'oidc', idToken }`). Leave it out for a client that only makes the public calls
   * (`discovery`, `issuer`, `revocationStatus`); given but empty (`''`, `undefined`: an unset
   * variable) it is refused at creation.
   */
  readonly auth?: CreddyAuth | undefined;
  /**
   * @deprecated Use `auth`. A bearer: an agent's `ckr_…` token, or a function returning one (or an
   * OIDC ID token a federation rule accepts) for each request.
   */
  readonly token?: string | (() => string | Promise<string>) | undefined;
  /**
   * Sign a DPoP proof (RFC 9449) for every issuance and every `fetch`, so credentials can be bound
   * to a key. Default: on for key-pair agents (with the agent's key), off otherwise (`true` uses a
   * key generated for this client). Tokens the broker did not bind are sent as bearer tokens.
   */
  readonly dpop?: boolean | undefined;
  /**
   * The broker's issuer (its `issuer:` setting): the `aud` of client assertions and the base of
   * issuance proofs' `htu`. Default: `url`, confirmed once by the broker's discovery document,
   * which must name it (RFC 8414 §3.3; `ERR_ISSUER_MISMATCH` otherwise). Set it when the client
   * reaches the broker at another address than its issuer (an internal name, a proxy, a port
   * forward); it is then used as given, and the metadata must name it too.
   */
  readonly issuer?: string | undefined;
  /** The `type: secret` backend `secret(path)` asks when the call names none. */
  readonly secretBackend?: string | undefined;
  /** The cache behind `get`: when it renews a credential (default: in its last 20 %, at least 60 s before expiry), how many it keeps (default 1000). */
  readonly cache?: CredentialCacheOptions | undefined;
  /** The `fetch` to use (default: the global one), e.g. one with a proxy agent or a test double. */
  readonly fetch?: typeof fetch | undefined;
  /** Per-request timeout in ms, the whole answer included (default 30 s; more than 0, at most 2^31 − 1). */
  readonly timeoutMs?: number | undefined;
  /**
   * Largest answer read, in bytes (default 8 MiB; a whole number, at least 1024): a larger
   * successful answer rejects with `ERR_RESPONSE_TOO_LARGE`, read no further than the cap. Keep
   * it well above the largest answer expected (a credential is 1–3 KiB, a `type: secret` read up
   * to 100 values of 32 KiB): an issuance whose answer is cut off was still made at the broker.
   */
  readonly maxResponseBytes?: number | undefined;
}

/** `get` options: what to ask for, besides the backend. */
export type GetOptions = Omit<CredentialRequest, 'backend'>;

/** `secret` options. */
export interface SecretOptions {
  /** The `type: secret` backend to ask (default: the client's `secretBackend`). */
  readonly backend?: string | undefined;
  /** Lifetime of the credential that reads it, which is how long the value is cached. */
  readonly ttl?: string | number | undefined;
}

/** A secret as `secret(path)` returns it. */
export interface SecretRead extends SecretValue {
  readonly path: string;
}

/** `fetch` options: a `RequestInit` plus the credential to present. */
export interface CreddyFetchInit extends RequestInit {
  /** The credential to attach (from the same cache as `get`). */
  readonly credential: CredentialRequest;
}

/** The largest timeout `AbortSignal.timeout` keeps (a timer's limit, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * Client for the creddy API, used by agents and the CLI. Every method rejects with a
 * {@link CreddyError}, never anything else: the server's code (`ERR_SCOPE_DENIED`, …);
 * `ERR_NOT_READY` when the broker cannot be reached (the system's code, e.g. `ECONNREFUSED`, in
 * the message), does not answer within `timeoutMs`, or its answer breaks off; and for an answer
 * that is not creddy's (a proxy's or load balancer's), a code by HTTP status — 502, 503, 504 and
 * 408 `ERR_NOT_READY` (retry), 429 `ERR_RATE_LIMITED`, 401 `ERR_UNAUTHENTICATED`, 403
 * `ERR_FORBIDDEN`, 404 `ERR_NOT_FOUND`, other 4xx `ERR_BAD_REQUEST`, other 5xx `ERR_INTERNAL`.
 * Such a message names the status, never the foreign body. A redirect is not followed: a 3xx is
 * `ERR_INTERNAL` naming the status and the `Location` (origin and path: `details.status`,
 * `details.location`). A successful answer larger than `maxResponseBytes` rejects with
 * `ERR_RESPONSE_TOO_LARGE`, one of the wrong shape (an issuance without a `token`…) with
 * `ERR_INTERNAL` naming the field (`details.field`). The broker's own error keeps its `details`
 * (`CreddyError.details`: the scope denied, the field at fault, `retry_after`…), and an error
 * from the broker's answer its request id (`CreddyError.requestId`), under which the broker logs
 * the cause. A token source (`auth` as a function, `idToken`) that throws rejects with
 * `ERR_UNAUTHENTICATED`, its error as `cause`.
 */
export interface CreddyClient {
  /** The broker's base URL, without a trailing slash. */
  readonly url: string;
  /**
   * A credential for `backend`, from the cache while it is fresh: requests with the same backend,
   * scopes (in any order), TTL, metadata and params share one entry and one in-flight request,
   * and a credential is renewed before it expires. Failures are not cached.
   */
  get(backend: string, options?: GetOptions): Promise<IssueResponse>;
  /**
   * The value of one stored secret (`type: secret` backend), in place of a `.env` read: its
   * version and, within a rotation's grace, the previous one. Cached like `get` (one credential
   * with the scope `path`, renewed before it expires), so a rotation reaches a running process
   * within one credential lifetime. Every read the broker serves is audited with path and version.
   * `path` names one secret: a wildcard (`prod/*`) is refused with `ERR_USAGE` before the broker
   * is asked (it would issue a credential for every secret under the prefix).
   *
   * @example
   * ```ts
   * import { createCreddyClient } from 'creddy/client';
   *
   * const creddy = createCreddyClient({ url: 'http://127.0.0.1:8400', auth: process.env.CREDDY_TOKEN ?? '', secretBackend: 'stripe' });
   * // Instead of process.env.STRIPE_API_KEY from a .env file:
   * const { value, version } = await creddy.secret('prod/stripe/api-key');
   * console.log(`Stripe key version ${version}`, value.length);
   * ```
   */
  secret(path: string, options?: SecretOptions): Promise<SecretRead>;
  /**
   * `fetch` with a credential attached: `Authorization: Bearer <jwt>`, or, when the credential is
   * DPoP-bound, `Authorization: DPoP <jwt>` and a fresh `DPoP` proof for this method and URL.
   * For resource servers that verify creddy tokens (generic backends).
   *
   * When the resource server answers 401 with `WWW-Authenticate: … error="invalid_token"` (the
   * credential was revoked, or signed by a key since revoked), the cached credential is dropped
   * and the request is sent once more with a new one, if its body can be sent again (not a
   * stream); the second answer is returned whatever it is. So a resource server that refuses
   * every token costs at most one extra issuance and request per call. A request that gets no
   * answer (connection refused, reset) rejects with `ERR_NOT_READY`, the original error as
   * `cause`; an abort of the caller's own `init.signal` rejects as `fetch` does (an `AbortError`,
   * or the signal's reason); other statuses are returned as they are.
   */
  fetch(input: string | URL, init: CreddyFetchInit): Promise<Response>;
  /** Issues a new credential, uncached (`POST /v1/credentials`, or the token endpoint for OIDC callers). */
  issue(request: CredentialRequest): Promise<IssueResponse>;
  /**
   * The caller's active credentials, without secrets (`GET /v1/credentials`): `{ credentials: […] }`,
   * as the API answers (`creddy list --json` prints the array alone).
   */
  list(): Promise<CredentialList>;
  /**
   * Revokes one of the caller's credentials by id (`DELETE /v1/credentials/:id`). A credential
   * with that id is dropped from this client's cache first (whether the broker's answer is a
   * success or not), so `get` and `fetch` never hand it out again.
   */
  revoke(id: string): Promise<RevokeResponse>;
  /**
   * Drops the cached credential with this id (`IssueResponse.id`) from the cache behind `get`,
   * `secret` and `fetch`, without revoking it: the next call for the same request gets a new
   * one. For a credential revoked elsewhere (`creddy revoke`, another process) or refused by a
   * service. Returns whether one was cached.
   *
   * @example
   * ```ts
   * import { createCreddyClient } from 'creddy/client';
   *
   * const client = createCreddyClient({ url: 'http://127.0.0.1:8400', auth: process.env.CREDDY_TOKEN ?? '' });
   * const credential = await client.get('demo', { scopes: ['read'] });
   * const response = await fetch('https://api.internal/report', { headers: { authorization: `Bearer ${credential.token}` } });
   * if (response.status === 401) {
   *   // Revoked by an operator since it was cached: ask for a new one next time.
   *   client.invalidate(credential.id);
   * }
   * ```
   */
  invalidate(id: string): boolean;
  /**
   * Forgets every cached credential and every issuance in flight (e.g. after the agent's token
   * changed): no credential asked for before is handed out after. Nothing is revoked.
   *
   * @example
   * ```ts
   * import { createCreddyClient } from 'creddy/client';
   *
   * const client = createCreddyClient({ url: 'http://127.0.0.1:8400', auth: process.env.CREDDY_TOKEN ?? '' });
   * await client.get('demo', { scopes: ['read'] });
   * client.clearCache();
   * const fresh = await client.get('demo', { scopes: ['read'] }); // issued again
   * console.log(fresh.id);
   * ```
   */
  clearCache(): void;
  /** Public deny-list check for a jti (`GET /v1/revocations/:jti`); `ERR_NOT_FOUND` for a jti the broker never issued. */
  revocationStatus(jti: string): Promise<RevocationStatus>;
  /** The broker's discovery document (issuer, jwks_uri, …) as it answers, unchecked; no token needed. */
  discovery(): Promise<Partial<DiscoveryDocument>>;
  /**
   * The issuer this client signs its proofs for: the `issuer` option, or else the `issuer` of the
   * broker's discovery document once checked to be the client's `url` (RFC 8414 §3.3). Looked up
   * once; no token needed.
   *
   * @throws A {@link CreddyError} `ERR_ISSUER_MISMATCH` when the broker names another issuer.
   */
  issuer(): Promise<string>;
  /**
   * What the broker tells this caller about backend `name` (`GET /v1/backends/:name`): its type,
   * TTLs and the caller's grants on it; `ERR_BACKEND_UNKNOWN` or `ERR_BACKEND_FORBIDDEN` otherwise.
   * Nothing is issued, and a single-use ID token is not spent.
   */
  backend(name: string): Promise<BackendInfo>;
}

/**
 * Creates a client for one broker. Options are checked here (the URL must be http(s) without a
 * query, fragment or credentials; `timeoutMs` and `maxResponseBytes` positive; `auth`, when
 * given, not empty; a private key must parse); no request is made until a method is called.
 * Such a refusal is `ERR_USAGE` naming the option (`options.url`, `details.option`). Key pairs sign with
 * @noble/ed25519 and hash with WebCrypto, so the client runs in browsers and edge runtimes too.
 * Proofs are signed for the broker's issuer, which is `url` unless `issuer` says otherwise: the
 * broker's metadata must name it (RFC 8414 §3.3), so a server that merely answers at `url` cannot
 * redirect them to another broker.
 *
 * @param options - The broker URL (and issuer, when it differs), how to authenticate, and optionally DPoP, `fetch`, a timeout.
 * @returns A client; share one per broker and identity (it holds the credential cache).
 * @throws A {@link CreddyError} `ERR_USAGE` for a malformed URL, issuer, key or other option.
 *
 * @example
 * ```ts
 * import { createCreddyClient } from 'creddy/client';
 *
 * // A bearer agent (today's default).
 * const client = createCreddyClient({ url: 'http://127.0.0.1:8400', auth: process.env.CREDDY_TOKEN ?? '' });
 * const { token, expires_at } = await client.get('demo', { scopes: ['read'], ttl: '10m' });
 * console.log(token.length, expires_at);
 * ```
 *
 * @example
 * ```ts
 * import { createCreddyClient } from 'creddy/client';
 *
 * // A key-pair agent: no reusable secret on the wire, DPoP-bound credentials.
 * const client = createCreddyClient({
 *   url: 'https://creddy.example.com',
 *   auth: { type: 'key-pair', agent: 'deploy-bot', privateKey: process.env.CREDDY_AGENT_KEY ?? '' },
 * });
 * const response = await client.fetch('https://api.internal/files', { credential: { backend: 'internal-api', scopes: ['files:read'] } });
 * console.log(response.status);
 * ```
 *
 * @example
 * ```ts
 * import { createCreddyClient } from 'creddy/client';
 *
 * // The broker's issuer is https://creddy.example.com; this pod reaches it by its service name.
 * // Without `issuer`, the broker at `url` would have to name `url` as its issuer (ERR_ISSUER_MISMATCH).
 * const client = createCreddyClient({
 *   url: 'http://creddy.creddy.svc:8400',
 *   issuer: 'https://creddy.example.com',
 *   auth: { type: 'key-pair', agent: 'deploy-bot', privateKey: process.env.CREDDY_AGENT_KEY ?? '' },
 * });
 * console.log(await client.issuer());
 * ```
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { createCreddyClient } from 'creddy/client';
 *
 * // A federated workload: the platform's OIDC ID token is exchanged for each credential.
 * const client = createCreddyClient({
 *   url: 'https://creddy.example.com',
 *   auth: { type: 'oidc', idToken: () => readFile('/var/run/secrets/tokens/creddy', 'utf8') },
 * });
 * const { token } = await client.get('internal-api', { scopes: ['read'] });
 * console.log(token.length);
 * ```
 */
export function createCreddyClient(options: CreddyClientOptions): CreddyClient {
  const usage = (option: string, why: string) => new CreddyError('ERR_USAGE', `${option} ${why}`, { details: { option } });
  if (options === null || typeof options !== 'object') throw usage('options', 'must be an object with at least { url }');
  const base = brokerBaseUrl(options.url, 'options.url');
  if (options.issuer !== undefined && !isIssuerOption(options.issuer)) {
    const given: unknown = options.issuer;
    const shown = typeof given === 'string' && !given.includes('@') ? JSON.stringify(withoutUserinfo(given)) : 'another value';
    throw usage(
      'options.issuer',
      `(CREDDY_ISSUER for the CLI) must be the broker's issuer setting, an http(s) URL without a trailing slash, query or credentials; got ${shown}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw usage('options.timeoutMs', `must be a number of milliseconds above 0 and at most ${MAX_TIMEOUT_MS}; got ${String(timeoutMs)}`);
  }
  const maxBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < 1024) {
    throw usage('options.maxResponseBytes', `must be a whole number of bytes, at least 1024; got ${String(maxBytes)}`);
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') throw usage('options.fetch', 'must be a fetch function');
  if (options.dpop !== undefined && typeof options.dpop !== 'boolean') throw usage('options.dpop', 'must be true or false');
  if (options.secretBackend !== undefined && (typeof options.secretBackend !== 'string' || options.secretBackend === '')) {
    throw usage('options.secretBackend', 'must be a backend name');
  }
  // Given but empty is an unset variable (`auth: process.env.CREDDY_TOKEN`), not a public client:
  // said now, naming the option, rather than at the first call.
  const authOption = options.auth ?? options.token;
  if (('auth' in options || 'token' in options) && (authOption === undefined || authOption === '')) {
    throw usage('options.auth', 'is empty (is the variable it is read from set?); leave it out for a client that makes only public calls');
  }
  const doFetch = options.fetch ?? ((input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init));
  const call = createBrokerCall(base, doFetch, timeoutMs, maxBytes);
  // Looked up once; forgotten on failure so the next call retries.
  const once = <T>(load: () => Promise<T>) => {
    let value: Promise<T> | undefined;
    return () => {
      value ??= load().catch((err: unknown) => {
        value = undefined;
        throw err;
      });
      return value;
    };
  };
  const discovery = () =>
    call<Partial<DiscoveryDocument>>(
      'GET',
      '/.well-known/openid-configuration',
      {},
      checkObject as (v: unknown, from: string) => Partial<DiscoveryDocument>,
    );
  // Proofs are signed for this issuer only: the broker at `url` must name it in its metadata —
  // the configured one, or else `url` itself. Taking any issuer the server names would let
  // whatever answers at `url` (a stale or mistyped URL, a shared staging broker, plain http)
  // collect proofs for another broker; a configured issuer is checked too, so a URL that leads
  // to another broker is found out before anything is signed for it.
  const issuer = once(async () => checkedIssuer((await discovery()).issuer, { url: base, issuer: options.issuer }));
  const tokenEndpoint = once(async () => (await tokenExchange()).findTokenEndpoint(call, base, options.issuer));
  const auth = resolveAuth(authOption, options.dpop, async (signer, agent) =>
    (await proofs()).createClientAssertion(signer, { agent, audience: await issuer() }),
  );
  // A proof for an issuance request, so the broker binds what it issues to the client's key. Its
  // htu is the URL the broker knows itself by (issuer + path), whatever address the client uses.
  const issuanceProof = async (htu: () => Promise<string>) => {
    const signer = await auth.dpopSigner();
    return signer && (await proofs()).createDpopProof(signer, { method: 'POST', url: await htu() });
  };

  const issue = async (request: CredentialRequest): Promise<IssueResponse> => {
    if (auth.type === 'oidc') {
      const endpoint = await tokenEndpoint();
      const { exchangeIdToken } = await tokenExchange();
      const exchanged = await exchangeIdToken(
        call,
        endpoint,
        await auth.idToken(),
        request,
        await issuanceProof(async () => endpoint.advertised),
      );
      return checkIssued(exchanged, `the token endpoint of creddy at ${base}`);
    }
    const dpop = await issuanceProof(async () => `${await issuer()}/v1/credentials`);
    return call(
      'POST',
      `${base}/v1/credentials`,
      {
        headers: { authorization: await auth.authorization(), ...(dpop ? { dpop } : {}) },
        json: {
          backend: request.backend,
          ...(request.scopes ? { scopes: request.scopes } : {}),
          ...(request.ttl !== undefined ? { ttl: request.ttl } : {}),
          ...(request.metadata ? { metadata: request.metadata } : {}),
          ...request.params,
        },
      },
      checkIssued,
    );
  };
  const cache = createCredentialCache({ issue }, options.cache);
  const authed = async <T>(method: string, path: string, check: (value: unknown, from: string) => T) =>
    call<T>(method, path, { headers: { authorization: await auth.authorization() } }, check);

  /** Sends a request to a resource server with `token` attached (Bearer, or DPoP with a proof); no answer is ERR_NOT_READY. */
  const present = async (input: string | URL, requestInit: RequestInit, token: string): Promise<Response> => {
    const headers = new Headers(requestInit.headers);
    const jkt = boundKeyOf(token);
    if (jkt === undefined) {
      headers.set('authorization', `Bearer ${token}`);
    } else {
      const signer = await auth.dpopSigner();
      if (signer?.jkt !== jkt) throw new CreddyError('ERR_DPOP_INVALID', 'the credential is bound to a key this client does not hold');
      const url = new URL(String(input), (globalThis as { location?: { href: string } }).location?.href).href;
      headers.set('authorization', `DPoP ${token}`);
      headers.set('dpop', await (await proofs()).createDpopProof(signer, { method: requestInit.method ?? 'GET', url, accessToken: token }));
    }
    try {
      return await doFetch(input, { ...requestInit, headers });
    } catch (err) {
      // The caller's own abort is theirs, as `fetch` gives it (an AbortError, or the signal's
      // reason): not a resource server that did not answer.
      if (requestInit.signal?.aborted) throw err;
      // Origin and path only: the query may carry secrets, and the message never the token.
      const where = shownUrl(String(input), (globalThis as { location?: { href: string } }).location?.href) ?? 'the resource server';
      throw new CreddyError('ERR_NOT_READY', `no answer from ${where}: ${failureOf(err)}`, { cause: err, expose: true });
    }
  };

  const client: CreddyClient = {
    url: base,
    get: (backend, getOptions = {}) => cache.get({ ...getOptions, backend }),
    async secret(path, secretOptions = {}) {
      const backend = secretOptions.backend ?? options.secretBackend;
      if (!backend) throw new CreddyError('ERR_USAGE', 'secret(path) needs a backend: pass { backend } or set secretBackend on the client');
      if (typeof path !== 'string' || path === '' || path.includes('*')) {
        throw new CreddyError(
          'ERR_USAGE',
          'secret(path) reads one secret: give its full path, not a wildcard (a prefix/* grant is read with get())',
        );
      }
      const issued = await cache.get({
        backend,
        scopes: [path],
        ...(secretOptions.ttl !== undefined ? { ttl: secretOptions.ttl } : {}),
      });
      const secrets =
        issued.credential?.type === 'secret_values' ? (issued.credential['secrets'] as Record<string, SecretValue>) : undefined;
      const found = secrets && Object.hasOwn(secrets, path) ? secrets[path] : undefined;
      if (!found) throw new CreddyError('ERR_SECRET_NOT_FOUND', `backend "${backend}" returned no secret at ${path}`);
      return { path, ...found };
    },
    async fetch(input, init) {
      const { credential, ...requestInit } = init;
      const issued = await cache.get(credential);
      const response = await present(input, requestInit, issued.token);
      // Revoked since it was cached (or its key was): dropped, so the next call gets a new one,
      // and this request tried once more with it when its body can be sent again. A 401 means
      // the request was refused before it was acted on.
      if (response.status !== 401 || !refusedAsInvalid(response)) return response;
      if (!cache.invalidate(issued.id) || !replayable(requestInit)) return response;
      response.body?.cancel().catch(() => {});
      return present(input, requestInit, (await cache.get(credential)).token);
    },
    issue,
    list: () => authed('GET', '/v1/credentials', checkList),
    revoke: async (id) => {
      const segment = pathSegment('id', id);
      cache.invalidate(id);
      return authed('DELETE', `/v1/credentials/${segment}`, checkRevoked);
    },
    invalidate: (id) => cache.invalidate(id),
    clearCache: () => cache.clear(),
    revocationStatus: async (jti) => call('GET', `/v1/revocations/${pathSegment('jti', jti)}`, {}, checkRevocationStatus),
    discovery,
    issuer,
    backend: async (name) => authed('GET', `/v1/backends/${pathSegment('backend', name)}`, checkBackendInfo),
  };
  return guarded(client);
}

/**
 * The client with every method's failure made a CreddyError: what the transport and the token
 * sources throw is one already; anything else (a bug, a WebCrypto failure) becomes
 * `ERR_INTERNAL` naming its type only — its message could quote anything — with the error as
 * `cause`. The one exception is `fetch` aborted by its caller's own signal, which rejects as
 * `fetch` itself does.
 */
function guarded(client: CreddyClient): CreddyClient {
  const wrap =
    <A extends unknown[], R>(method: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await method(...args);
      } catch (err) {
        if (err instanceof CreddyError || abortedByCaller(args)) throw err;
        const name = err instanceof Error ? err.name : typeof err;
        throw new CreddyError('ERR_INTERNAL', `creddy/client failed unexpectedly (${name}; see cause)`, { cause: err, expose: true });
      }
    };
  return {
    ...client,
    get: wrap(client.get),
    secret: wrap(client.secret),
    fetch: wrap(client.fetch),
    issue: wrap(client.issue),
    list: wrap(client.list),
    revoke: wrap(client.revoke),
    revocationStatus: wrap(client.revocationStatus),
    discovery: wrap(client.discovery),
    issuer: wrap(client.issuer),
    backend: wrap(client.backend),
  };
}

/** True when the call's options carry a signal its caller has aborted (`fetch(input, { signal })`). */
function abortedByCaller(args: readonly unknown[]): boolean {
  return args.some((arg) => (arg as { signal?: AbortSignal } | null | undefined)?.signal?.aborted === true);
}

/** A 401 whose challenge says the token itself was refused (RFC 6750 §3.1), not a missing proof or scope. */
function refusedAsInvalid(response: Response): boolean {
  return /\berror="?invalid_token"?/i.test(response.headers.get('www-authenticate') ?? '');
}

/**
 * A request `fetch` can send twice: no body, or a body that is a value rather than a stream (a
 * string, bytes, a Blob, form or URL parameters). Not a ReadableStream nor an async iterable
 * (Node's fetch takes both, with `duplex: 'half'`): the first request consumed it, and a second
 * would go out empty.
 */
function replayable(init: RequestInit & { duplex?: unknown }): boolean {
  const { body } = init;
  if (init.duplex !== undefined) return false;
  if (body === undefined || body === null || typeof body === 'string') return true;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof URLSearchParams) return true;
  if (typeof Blob !== 'undefined' && body instanceof Blob) return true;
  return typeof FormData !== 'undefined' && body instanceof FormData;
}

/**
 * One URL path segment from a caller's value. Encoding is not enough: `""`, `.` and `..` stay as
 * they are and would make the URL name another route (`DELETE /v1/credentials/..` is `/v1/`).
 */
function pathSegment(what: string, value: string): string {
  if (value === '' || value === '.' || value === '..') throw new CreddyError('ERR_USAGE', `${what}: "${value}" is not one`);
  return encodeURIComponent(value);
}

/** The `cnf.jkt` of a DPoP-bound token (read, not verified: the client only decides how to present it). */
function boundKeyOf(token: string): string | undefined {
  const jkt = (decodeJsonSegment(token.split('.')[1] ?? '')?.['cnf'] as { jkt?: unknown } | undefined)?.jkt;
  return typeof jkt === 'string' ? jkt : undefined;
}

// The TSDoc above links to CreddyError, and a link in the emitted .d.ts resolves only to a name
// that file imports, which it does only for names its declarations use: this keeps it there.
export type { CreddyError };
