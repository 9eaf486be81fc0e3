import { readFile } from 'node:fs/promises';
import { systemCodeOf } from '../client/http.js';
import { CreddyError } from '../errors.js';
import { type CallerTimeout, DEFAULT_CALLER_TIMEOUT_S, ranOut, timedOutAfter } from './caller-timeout.js';
import { nodeFetch } from './node-fetch.js';

/** Longest ID token accepted from a file, the environment or GitHub (the broker's own limit). */
const MAX_ID_TOKEN_LENGTH = 8192;
const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * The bearer a caller command sends when it holds no agent credential: cli/caller-auth.ts checks
 * 1. `CREDDY_TOKEN` (an agent token) and then a key pair (`CREDDY_AGENT_KEY_FILE` +
 * `CREDDY_AGENT`) before loading this module; here, in this order:
 * 2. `CREDDY_OIDC_TOKEN` (an ID token's text);
 * 3. `CREDDY_OIDC_TOKEN_FILE` (read at each use: Kubernetes rotates projected tokens in place);
 * 4. GitHub Actions (`ACTIONS_ID_TOKEN_REQUEST_URL` + `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, present
 *    when the job has `permissions: id-token: write`): an ID token requested for
 *    `CREDDY_OIDC_AUDIENCE`, by default the broker's issuer — `CREDDY_ISSUER`, or CREDDY_URL once
 *    its discovery document names it (`discoverIssuer`). Never an issuer the server merely names:
 *    it could name AWS STS or another broker and collect an ID token valid there. The request
 *    waits as long as the command waits for the broker (`timeout`: --timeout, CREDDY_TIMEOUT).
 * Throws ERR_USAGE naming the variables when none is there.
 */
export function callerToken(
  env: NodeJS.ProcessEnv,
  discoverIssuer: () => Promise<string>,
  timeout: CallerTimeout = { seconds: DEFAULT_CALLER_TIMEOUT_S, source: 'the default' },
  // The CLI's own transport, as for the broker: the global fetch would load undici (node-fetch.ts).
  fetchImpl: typeof fetch = nodeFetch,
): string | (() => Promise<string>) {
  if (env['CREDDY_OIDC_TOKEN']) return checked(env['CREDDY_OIDC_TOKEN'], 'CREDDY_OIDC_TOKEN');
  const file = env['CREDDY_OIDC_TOKEN_FILE'];
  if (file) return () => readTokenFile(file);
  const requestUrl = env['ACTIONS_ID_TOKEN_REQUEST_URL'];
  const requestToken = env['ACTIONS_ID_TOKEN_REQUEST_TOKEN'];
  if (requestUrl && requestToken) {
    // One ID token per process: `creddy exec` issues, then revokes, with the same identity.
    let pending: Promise<string> | undefined;
    return () => {
      pending ??= (async () => {
        const audience = env['CREDDY_OIDC_AUDIENCE'] || (await discoverIssuer());
        return requestGitHubToken(requestUrl, requestToken, audience, timeout, fetchImpl);
      })();
      return pending;
    };
  }
  throw new CreddyError(
    'ERR_USAGE',
    'CREDDY_TOKEN is not set (export CREDDY_TOKEN=ckr_…, or a key pair: CREDDY_AGENT_KEY_FILE with CREDDY_AGENT, or give an OIDC ID token: CREDDY_OIDC_TOKEN, CREDDY_OIDC_TOKEN_FILE, or GitHub Actions with `permissions: id-token: write`)',
  );
}

async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CreddyError('ERR_USAGE', `CREDDY_OIDC_TOKEN_FILE: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return checked(text, 'CREDDY_OIDC_TOKEN_FILE');
}

/**
 * Asks the GitHub Actions runner for an ID token (the protocol of @actions/core's getIDToken):
 * GET the request URL with `audience` added, `Authorization: bearer <request token>`, answer
 * `{value}`. The request token itself is never printed, nor the URL's path and query: messages
 * name the service by its origin.
 *
 * Its wait is the caller's timeout, not a fixed one: the same bound the user set for the command's
 * every other request, which they can lengthen on a slow runner network or shorten to fail fast.
 * A timeout says that it is the CI provider's endpoint that did not answer (not creddy), after how
 * long, and whether the answer's body stopped coming after its status.
 */
async function requestGitHubToken(
  requestUrl: string,
  requestToken: string,
  audience: string,
  timeout: CallerTimeout,
  fetchImpl: typeof fetch,
): Promise<string> {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    throw new CreddyError('ERR_USAGE', 'ACTIONS_ID_TOKEN_REQUEST_URL is not a URL');
  }
  url.searchParams.set('audience', audience);
  const service = `GitHub Actions' ID token service at ${url.origin} (ACTIONS_ID_TOKEN_REQUEST_URL: the CI provider's endpoint, not creddy)`;
  const signal = AbortSignal.timeout(timeout.seconds * 1000);
  const failed = (what: string, err: unknown) =>
    new CreddyError('ERR_UNAUTHENTICATED', `${what}: ${ranOut(signal) ? timedOutAfter(timeout) : causeOf(err)}`);
  let response: Response;
  try {
    response = await fetchImpl(url, { headers: { authorization: `bearer ${requestToken}`, accept: 'application/json' }, signal });
  } catch (err) {
    throw failed(ranOut(signal) ? `no answer from ${service}` : `cannot reach ${service}`, err);
  }
  if (!response.ok) {
    response.body?.cancel().catch(() => {});
    throw new CreddyError(
      'ERR_UNAUTHENTICATED',
      `GitHub Actions refused an ID token (HTTP ${response.status}); does the job have \`permissions: id-token: write\`?`,
    );
  }
  let text: string;
  try {
    text = await response.text();
  } catch (err) {
    throw failed(`${service} answered ${response.status}, then its body ${ranOut(signal) ? 'stopped coming' : 'broke off'}`, err);
  }
  let body: { value?: unknown };
  try {
    body = JSON.parse(text) as { value?: unknown };
  } catch {
    body = {};
  }
  if (typeof body?.value !== 'string') throw new CreddyError('ERR_UNAUTHENTICATED', 'GitHub Actions answered without an ID token');
  return checked(body.value, 'the GitHub Actions ID token');
}

/**
 * A transport failure's own words and system code ("fetch failed (ECONNREFUSED)"), never a URL:
 * undici's messages can quote the request's, and its query is the runner's.
 */
function causeOf(err: unknown): string {
  const code = systemCodeOf(err);
  const message = String((err as Error | undefined)?.message ?? err).replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '(the URL)');
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/** An ID token's text, trimmed, JWT-shaped and of sane length; the token is never echoed. */
function checked(text: string, source: string): string {
  const token = text.trim();
  if (token.length > MAX_ID_TOKEN_LENGTH || !JWT_RE.test(token)) {
    throw new CreddyError(
      'ERR_USAGE',
      `${source} does not hold a JWT (expected three base64url parts, at most ${MAX_ID_TOKEN_LENGTH} characters)`,
    );
  }
  return token;
}
