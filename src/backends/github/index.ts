import { probeFailure, serverTime } from '../probe.js';
import type { Backend, BackendCommon, BackendDeps, BackendType, Minted, MintRequest } from '../types.js';
import { createGitHubApp, revokeInstallationToken } from './app.js';
import { type GitHubAppSettings, type GitHubSettings, type GitHubTokenSettings, parseGitHubSettings } from './config.js';
import { permissionScopeProblem, toPermissions } from './permissions.js';
import { bareNames, selectRepositories } from './repositories.js';

/**
 * `type: github` — a GitHub App installation token narrowed to exactly the granted permissions
 * and repositories, revoked by creddy when the creddy credential expires or is revoked. A static
 * `token:` mode exists for setups without an App; it cannot be narrowed, expired or revoked.
 */
export const github: BackendType<GitHubSettings> = {
  parse: (reader) => {
    // `default_scopes` must be github scopes too; `allowed_scopes` may hold wider patterns such as `*`.
    reader.stringList('default_scopes', []).forEach((scope, i) => {
      const problem = permissionScopeProblem(scope);
      if (problem) reader.report(`default_scopes[${i}]`, problem);
    });
    return parseGitHubSettings(reader);
  },
  create: (settings, common, deps) =>
    settings.mode === 'app' ? createAppBackend(settings, common, deps) : createTokenBackend(settings, common, deps),
};

function createAppBackend(settings: GitHubAppSettings, common: BackendCommon, deps: BackendDeps): Backend {
  const app = createGitHubApp(settings, deps.clock, deps.upstream);
  return {
    common,
    audience: common.name,
    ttlLimits: {},
    requestParams: ['repositories'],
    checkScope: permissionScopeProblem,
    async mint(request: MintRequest): Promise<Minted> {
      const installation = await app.installation(request.signal);
      const permissions = toPermissions(request.scopes, installation.permissions);
      const selection = selectRepositories(request.params['repositories'], settings.repositories, installation.account);
      const body = selection.all ? { permissions } : { permissions, repositories: bareNames(selection.fullNames) };
      const { value: issued, attempts, failures } = await app.createToken(installation.id, body, request.signal);
      return {
        credential: {
          type: 'github_installation_token',
          token: issued.token,
          expires_at: issued.expiresAt,
          permissions: issued.permissions,
          repositories: issued.repositories ?? (selection.all ? [`${installation.account}/*`] : selection.fullNames),
          revocation: 'immediate',
        },
        secret: issued.token,
        revocationHandle: issued.token,
        // A token made after failed attempts (500, 503, rate limits, connections never made): the
        // row names each failure, GitHub's status and scrubbed message, so the retries are on record.
        ...(failures.length > 0 ? { auditDetails: { upstream_attempts: attempts, upstream_failures: failures } } : {}),
      };
    },
    revoke: (handle) => revokeInstallationToken(settings.baseUrl, handle, settings.requestTimeoutMs, deps.upstream),
    // The App JWT is accepted and the installation found: exactly what every mint needs first.
    async probe(signal) {
      const clock = await serverTime(`${settings.baseUrl}/`, signal);
      try {
        const installation = await app.installation(signal);
        return {
          status: 'ok',
          message: `App ${settings.appId}: JWT accepted, installation ${installation.id} (${installation.account}) reachable at ${settings.baseUrl}`,
          ...(clock === undefined ? {} : { serverTime: clock }),
        };
      } catch (err) {
        return probeFailure(err, (status) => appFix(status, settings), clock);
      }
    },
  };
}

function appFix(status: number | null, settings: GitHubAppSettings): string {
  const which = 'id' in settings.installation ? `installation_id ${settings.installation.id}` : `owner ${settings.installation.owner}`;
  if (status === 401) return "GitHub refused the App JWT: check app_id and private_key (the App's own key), and this machine's clock";
  if (status === 404) return `no installation for ${which}: check it, and that the App is installed on that account`;
  if (status === 403) return 'GitHub refused the App: check that it is not suspended and that its permissions were accepted';
  return `check base_url (${settings.baseUrl}) and that this machine can reach it`;
}

function createTokenBackend(settings: GitHubTokenSettings, common: BackendCommon, deps: BackendDeps): Backend {
  deps.logger.warn(
    `backend "${common.name}" uses a static GitHub token: creddy cannot narrow it to the granted scopes or expire it; use a GitHub App`,
    { backend: common.name },
  );
  return {
    common,
    audience: common.name,
    ttlLimits: {},
    requestParams: [],
    checkScope: permissionScopeProblem,
    async mint(): Promise<Minted> {
      return {
        credential: { type: 'github_token', token: settings.token, expires_at: null, revocation: 'none' },
        secret: settings.token,
      };
    },
    revoke: async () => {},
    async probe(signal) {
      const clock = await serverTime(`${settings.baseUrl}/`, signal);
      const time = clock === undefined ? {} : { serverTime: clock };
      try {
        const response = await fetch(`${settings.baseUrl}/rate_limit`, { headers: { authorization: `token ${settings.token}` }, signal });
        await response.arrayBuffer();
        if (response.ok)
          return {
            status: 'warn',
            message: 'the static token is accepted',
            fix: 'use a GitHub App: a static token cannot be narrowed, expired or revoked',
            ...time,
          };
        return {
          status: 'fail',
          message: `GitHub answered ${response.status} to the static token`,
          fix: 'replace the token (token:), or better, use a GitHub App',
          ...time,
        };
      } catch (err) {
        return {
          status: 'fail',
          message: `GitHub could not be reached at ${settings.baseUrl}: ${(err as Error).message}`,
          fix: 'check base_url and the network',
          ...time,
        };
      }
    },
  };
}
