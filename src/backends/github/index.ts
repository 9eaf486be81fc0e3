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
  const app = createGitHubApp(settings, deps.clock);
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
      const issued = await app.createToken(installation.id, body, request.signal);
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
      };
    },
    revoke: (handle) => revokeInstallationToken(settings.baseUrl, handle, settings.requestTimeoutMs),
  };
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
  };
}
