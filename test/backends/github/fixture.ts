import { appKeyPair, type FakeGitHub, startFakeGitHub } from '../../fakes/github.js';
import { startBroker, type TestBroker } from '../../helpers/harness.js';

export const APP_ID = 4242;
export const INSTALLATION = 7;
/** The App's full rights on the installation; tokens must always be narrower. */
export const INSTALLATION_PERMISSIONS = {
  contents: 'write',
  issues: 'write',
  pull_requests: 'write',
  metadata: 'read',
  administration: 'admin',
};

export interface GitHubFixture {
  readonly gh: FakeGitHub;
  readonly broker: TestBroker;
  stop(): Promise<void>;
}

/**
 * The fake GitHub (installation 7 of App 4242 on account `acme`, three repos) and a broker whose
 * `gh` backend points at it. `extra` adds YAML lines to the backend (e.g. a repositories ceiling);
 * `requestTimeout` is the backend's per-attempt timeout (default 1s).
 */
export async function startGitHubFixture(
  options: { extra?: string[]; installationKey?: string; requestTimeout?: string } = {},
): Promise<GitHubFixture> {
  const app = appKeyPair();
  const gh = await startFakeGitHub({
    appId: APP_ID,
    appPublicKeyPem: app.publicKey,
    installations: [
      {
        id: INSTALLATION,
        account: 'acme',
        repositories: ['acme/widgets', 'acme/gadgets', 'acme/secrets'],
        permissions: INSTALLATION_PERMISSIONS,
      },
      { id: 9, account: 'other', repositories: ['other/widgets'], permissions: INSTALLATION_PERMISSIONS },
    ],
  });
  const broker = await startBroker({
    files: { 'app.pem': app.privateKey },
    backends: (dir) =>
      [
        '  gh:',
        '    type: github',
        `    app_id: ${APP_ID}`,
        `    private_key: \${file:${dir}/app.pem}`,
        `    ${options.installationKey ?? `installation_id: ${INSTALLATION}`}`,
        `    base_url: ${gh.url}`,
        `    request_timeout: ${options.requestTimeout ?? '1s'}`,
        '    max_ttl: 1h',
        '    allowed_scopes: ["contents:*", "issues:read", "pull_requests:write", "metadata:read", "administration:*"]',
        '    default_scopes: ["contents:read"]',
        ...(options.extra ?? []).map((line) => `    ${line}`),
      ].join('\n'),
  });
  return {
    gh,
    broker,
    async stop() {
      await broker.stop();
      await gh.close();
    },
  };
}
