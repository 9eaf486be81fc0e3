import type { Clock } from '../../_utils/clock.js';
import { isCreddyError } from '../../errors.js';
import type { UpstreamStatus } from '../../metrics/port.js';
import type { GitHubAppSettings } from './config.js';
import { callGitHub, callGitHubTracked, type Tracked } from './http.js';

/** What creddy needs to know about the App's installation; looked up once and cached. */
export interface Installation {
  readonly id: number;
  readonly account: string;
  /** The installation's full rights, the upper bound of any token. */
  readonly permissions: Readonly<Record<string, string>>;
}

/** An installation token as GitHub returned it. */
export interface InstallationToken {
  readonly token: string;
  readonly expiresAt: string;
  readonly permissions: Readonly<Record<string, string>>;
  /** Full names when GitHub narrowed the token to selected repositories. */
  readonly repositories: readonly string[] | undefined;
}

/** GitHub App operations creddy uses. */
export interface GitHubApp {
  installation(signal: AbortSignal): Promise<Installation>;
  /**
   * Makes an installation token, with the attempts it took (for the audit row). Never retried
   * after an attempt whose answer was lost: see {@link callGitHubTracked}.
   */
  createToken(
    installationId: number,
    body: { permissions: Record<string, string>; repositories?: string[] },
    signal: AbortSignal,
  ): Promise<Tracked<InstallationToken>>;
}

/** Installation details change rarely (an owner edits the App's rights); re-read every 10 minutes. */
const INSTALLATION_CACHE_MS = 10 * 60_000;

type AppAuth = (options: { type: 'app' }) => Promise<{ token: string; expiresAt: string }>;

/**
 * Creates the App client. @octokit/auth-app is imported on first use only (no SDK work at
 * startup) and signs the App JWTs; the two REST calls go through `callGitHub` for retries and
 * deadlines. auth-app's own installation-token path is not used on purpose: it merges concurrent
 * requests with equal options into one token and its cache key does not tell `write` from
 * `admin`, so two callers could share — or escalate into — one token.
 */
export function createGitHubApp(settings: GitHubAppSettings, clock: Clock, observe?: (status: UpstreamStatus) => void): GitHubApp {
  let appAuth: Promise<AppAuth> | undefined;
  let appJwt: { value: string; renewAt: number } | undefined;
  const jwt = async (): Promise<string> => {
    // The JWT's iat/exp come from the real clock inside auth-app, so its reuse window does too.
    if (appJwt && Date.now() < appJwt.renewAt) return appJwt.value;
    appAuth ??= import('@octokit/auth-app').then(
      ({ createAppAuth }) => createAppAuth({ appId: settings.appId, privateKey: settings.privateKey }) as unknown as AppAuth,
    );
    appAuth.catch(() => (appAuth = undefined));
    const { token, expiresAt } = await (await appAuth)({ type: 'app' });
    // GitHub accepts an App JWT for 10 minutes; signing one per mint (RSA) is wasted work. Reuse it
    // and renew 2 minutes before it expires, so no request ever carries a nearly dead JWT.
    appJwt = { value: `bearer ${token}`, renewAt: Date.parse(expiresAt) - 120_000 };
    return appJwt.value;
  };

  let cached: { value: Promise<Installation>; at: number } | undefined;
  const lookup = async (signal: AbortSignal): Promise<Installation> => {
    const ref = settings.installation;
    const paths = 'id' in ref ? [`/app/installations/${ref.id}`] : [`/orgs/${ref.owner}/installation`, `/users/${ref.owner}/installation`];
    let lastError: unknown;
    for (const path of paths) {
      try {
        return await callGitHub(settings.baseUrl, {
          method: 'GET',
          path,
          authorization: await jwt(),
          signal,
          timeoutMs: settings.requestTimeoutMs,
          parse: parseInstallation,
          observe,
        });
      } catch (err) {
        lastError = err;
        // An org lookup 404s for a user account; try the user route before giving up.
        if (!isCreddyError(err) || err.details?.['upstream_status'] !== 404) throw err;
      }
    }
    throw lastError;
  };

  return {
    installation(signal) {
      const now = clock.now();
      if (!cached || now - cached.at > INSTALLATION_CACHE_MS) {
        const value = lookup(signal);
        const entry = { value, at: now };
        cached = entry;
        // A failed lookup must not be cached: the next request tries again.
        value.catch(() => {
          if (cached === entry) cached = undefined;
        });
      }
      return cached.value;
    },
    async createToken(installationId, body, signal) {
      return callGitHubTracked(settings.baseUrl, {
        method: 'POST',
        path: `/app/installations/${installationId}/access_tokens`,
        authorization: await jwt(),
        body,
        signal,
        timeoutMs: settings.requestTimeoutMs,
        parse: parseToken,
        observe,
      });
    },
  };
}

/** Revokes an installation token; an already dead one (401) counts as revoked. */
export async function revokeInstallationToken(
  baseUrl: string,
  token: string,
  timeoutMs: number,
  observe?: (status: UpstreamStatus) => void,
): Promise<void> {
  try {
    await callGitHub(baseUrl, {
      method: 'DELETE',
      path: '/installation/token',
      authorization: `token ${token}`,
      maxAttempts: 3,
      signal: AbortSignal.timeout(Math.max(timeoutMs * 3, 15_000)),
      timeoutMs,
      parse: () => true,
      observe,
    });
  } catch (err) {
    if (isCreddyError(err) && err.details?.['upstream_status'] === 401) return;
    throw err;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const stringMap = (v: unknown): Record<string, string> | undefined =>
  isRecord(v) && Object.values(v).every((x) => typeof x === 'string') ? (v as Record<string, string>) : undefined;

function parseInstallation(_status: number, json: unknown): Installation | undefined {
  if (!isRecord(json) || typeof json['id'] !== 'number' || !isRecord(json['account'])) return undefined;
  const login = json['account']['login'];
  const permissions = stringMap(json['permissions']);
  if (typeof login !== 'string' || !permissions) return undefined;
  return { id: json['id'], account: login, permissions };
}

function parseToken(_status: number, json: unknown): InstallationToken | undefined {
  if (!isRecord(json)) return undefined;
  const { token, expires_at: expiresAt } = json;
  const permissions = stringMap(json['permissions']) ?? {};
  if (typeof token !== 'string' || token.length === 0 || typeof expiresAt !== 'string' || Number.isNaN(Date.parse(expiresAt)))
    return undefined;
  const repos = json['repositories'];
  const repositories = Array.isArray(repos)
    ? repos.map((r) => (isRecord(r) && typeof r['full_name'] === 'string' ? r['full_name'] : undefined))
    : undefined;
  if (repositories?.some((r) => r === undefined)) return undefined;
  return { token, expiresAt, permissions, repositories: repositories as string[] | undefined };
}
