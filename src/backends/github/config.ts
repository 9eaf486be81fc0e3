import { createPrivateKey } from 'node:crypto';
import type { ConfigReader } from '../../_utils/config-reader.js';
import { isSecureOrLoopbackUrl } from '../../_utils/url.js';
import { parseRepositoryCeiling } from './repositories.js';

/** How creddy reaches the GitHub installation: look it up by id or by the account that installed the App. */
export type InstallationRef = { readonly id: number } | { readonly owner: string };

/** Settings shared by both github modes. */
interface GitHubCommonSettings {
  /** REST API root without a trailing slash: `https://api.github.com`, GHES `https://host/api/v3`, or a test fake. */
  readonly baseUrl: string;
  /** Per-attempt HTTP timeout in ms; retries happen inside the broker's mint deadline. */
  readonly requestTimeoutMs: number;
}

/** `type: github` with a GitHub App: installation tokens narrowed to the grant, revocable. */
export interface GitHubAppSettings extends GitHubCommonSettings {
  readonly mode: 'app';
  readonly appId: string;
  /** PEM (PKCS#1 or PKCS#8) of the App's RSA key; checked at startup, used by @octokit/auth-app. */
  readonly privateKey: string;
  readonly installation: InstallationRef;
  /** Repository ceiling (`org/repo`, `org/*`); undefined means every repository of the installation. */
  readonly repositories: readonly string[] | undefined;
}

/** `type: github` with a static token (PAT): cannot be narrowed, expired or revoked by creddy. */
export interface GitHubTokenSettings extends GitHubCommonSettings {
  readonly mode: 'token';
  readonly token: string;
}

export type GitHubSettings = GitHubAppSettings | GitHubTokenSettings;

const DEFAULT_BASE_URL = 'https://api.github.com';
const DEFAULT_REQUEST_TIMEOUT_S = 10;
const OWNER_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;

/**
 * Reads the github-specific keys. Bad config refuses to start with the key path named: an
 * unparsable or non-RSA key, a missing app id, both or neither of `installation_id`/`owner`,
 * `token` mixed with App keys. Key material never appears in messages.
 */
export function parseGitHubSettings(reader: ConfigReader): GitHubSettings {
  const baseUrl = reader.string('base_url', DEFAULT_BASE_URL).replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(baseUrl)) reader.report('base_url', 'must be an http(s) URL');
  // The App JWT, installation tokens and a static token all travel to base_url: never in cleartext
  // past this machine.
  else if (!isSecureOrLoopbackUrl(baseUrl)) reader.report('base_url', 'must be an https URL (plain http only to a loopback address)');
  const timeout = reader.duration('request_timeout', DEFAULT_REQUEST_TIMEOUT_S);
  if (timeout < 1 || timeout > 60) reader.report('request_timeout', 'must be between 1s and 60s');
  const common = { baseUrl, requestTimeoutMs: timeout * 1000 };

  const token = reader.optionalString('token');
  if (token !== undefined) {
    for (const key of ['app_id', 'private_key', 'installation_id', 'owner', 'repositories']) {
      if (reader.has(key)) reader.report(key, 'cannot be combined with token (a static token cannot be narrowed)');
    }
    if (/\s/.test(token)) reader.report('token', 'must not contain whitespace');
    return { mode: 'token', token, ...common };
  }

  const appId = reader.optionalString('app_id') ?? reader.fail('app_id', 'is required (or set token for a static token)');
  const privateKey = reader.optionalString('private_key') ?? reader.fail('private_key', 'is required (use ${file:/path/app.pem})');
  // An unresolved ${file:} reference is already reported; its placeholder is no key to check.
  if (!reader.broken('private_key')) checkPrivateKey(privateKey, (problem) => reader.fail('private_key', problem));
  const installationId = reader.optionalInteger('installation_id', { min: 1 });
  const owner = reader.optionalString('owner');
  if (installationId !== undefined && owner !== undefined) reader.report('owner', 'set either installation_id or owner, not both');
  if (owner !== undefined && !OWNER_RE.test(owner)) reader.report('owner', 'must be a GitHub user or organization login');
  const installation: InstallationRef =
    installationId !== undefined
      ? { id: installationId }
      : owner !== undefined
        ? { owner }
        : reader.fail('installation_id', 'is required (or set owner)');
  const repositories = reader.has('repositories')
    ? parseRepositoryCeiling(reader.stringList('repositories'), (i, problem) => reader.fail(`repositories[${i}]`, problem))
    : undefined;
  return { mode: 'app', appId, privateKey, installation, repositories, ...common };
}

/** GitHub App keys are RSA; anything else would only fail later, on the first request. */
function checkPrivateKey(pem: string, fail: (problem: string) => never): void {
  let type: string | undefined;
  try {
    type = createPrivateKey(pem).asymmetricKeyType;
  } catch {
    fail('is not a PEM private key');
  }
  if (type !== 'rsa') fail(`must be an RSA key (GitHub App keys are RSA), got ${type ?? 'unknown'}`);
}
