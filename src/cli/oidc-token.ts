import { readFile } from 'node:fs/promises';
import { CreddyError } from '../errors.js';

/** Longest ID token accepted from a file, the environment or GitHub (the broker's own limit). */
const MAX_ID_TOKEN_LENGTH = 8192;
const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const REQUEST_TIMEOUT_MS = 10_000;

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
 *    it could name AWS STS or another broker and collect an ID token valid there.
 * Throws ERR_USAGE naming the variables when none is there.
 */
export function callerToken(
  env: NodeJS.ProcessEnv,
  discoverIssuer: () => Promise<string>,
  fetchImpl: typeof fetch = fetch,
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
        return requestGitHubToken(requestUrl, requestToken, audience, fetchImpl);
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
 * `{value}`. The request token itself is never printed.
 */
async function requestGitHubToken(requestUrl: string, requestToken: string, audience: string, fetchImpl: typeof fetch): Promise<string> {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    throw new CreddyError('ERR_USAGE', 'ACTIONS_ID_TOKEN_REQUEST_URL is not a URL');
  }
  url.searchParams.set('audience', audience);
  let response: Response;
  try {
    response = await fetchImpl(url, {
      headers: { authorization: `bearer ${requestToken}`, accept: 'application/json' },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new CreddyError('ERR_UNAUTHENTICATED', `cannot reach the GitHub Actions ID token service: ${(err as Error).message}`);
  }
  if (!response.ok) {
    throw new CreddyError(
      'ERR_UNAUTHENTICATED',
      `GitHub Actions refused an ID token (HTTP ${response.status}); does the job have \`permissions: id-token: write\`?`,
    );
  }
  const body = (await response.json().catch(() => ({}))) as { value?: unknown };
  if (typeof body.value !== 'string') throw new CreddyError('ERR_UNAUTHENTICATED', 'GitHub Actions answered without an ID token');
  return checked(body.value, 'the GitHub Actions ID token');
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
