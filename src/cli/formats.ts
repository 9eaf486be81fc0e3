import { CreddyError } from '../errors.js';
import type { IssueResponse } from '../wire.js';
import { postgresEnv, secretEnv, secretsOf } from './credential-env.js';

/** Output formats of `creddy get`. */
export const GET_FORMATS = ['token', 'json', 'env', 'credential-process'] as const;
export type GetFormat = (typeof GET_FORMATS)[number];

/** POSIX shell single-quoting: safe for any value in `eval "$(creddy get … --format env)"`. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);

/**
 * The secret a caller actually uses: the downstream token when there is one (GitHub), a database
 * URL, the value of the one secret asked for; else the JWT. An AWS session is three values, and
 * several secrets are several: use env (or json, credential-process).
 */
export function primarySecret(issued: IssueResponse): string {
  const c = issued.credential;
  if (c?.type === 'secret_values') {
    const secrets = secretsOf(c);
    if (secrets.length !== 1) {
      throw new CreddyError('ERR_USAGE', `the credential holds ${secrets.length} secrets: use --format env or --format json`);
    }
    return secrets[0]![1].value;
  }
  return str(c?.['token']) ?? (c?.type === 'postgres_role' ? str(c['url']) : undefined) ?? issued.token;
}

/**
 * Environment variables that carry the credential, by credential type: the AWS trio for an STS
 * session (every AWS SDK and CLI reads them), `GITHUB_TOKEN` for GitHub (gh, actions tooling),
 * each secret under its backend's `env` name, libpq's `PG*` and `DATABASE_URL` for a database
 * role, and always `CREDDY_TOKEN_JWT` for services that verify creddy tokens themselves.
 */
export function credentialEnv(issued: IssueResponse): Record<string, string> {
  const env: Record<string, string> = { CREDDY_TOKEN_JWT: issued.token, CREDDY_CREDENTIAL_ID: issued.id };
  const c = issued.credential;
  if (c?.type === 'aws_sts_session') {
    const aws = awsTrio(issued);
    env['AWS_ACCESS_KEY_ID'] = aws.AccessKeyId;
    env['AWS_SECRET_ACCESS_KEY'] = aws.SecretAccessKey;
    env['AWS_SESSION_TOKEN'] = aws.SessionToken;
    if (aws.Expiration) env['AWS_CREDENTIAL_EXPIRATION'] = aws.Expiration;
  } else if (c && str(c['token']) && c.type.startsWith('github')) {
    env['GITHUB_TOKEN'] = c['token'] as string;
  } else if (c?.type === 'secret_values') {
    Object.assign(env, secretEnv(c));
  } else if (c?.type === 'postgres_role') {
    Object.assign(env, postgresEnv(c));
  }
  return env;
}

/** The `credential_process` document the AWS CLI and SDKs read from a helper's stdout (Version 1). */
export function credentialProcessJson(issued: IssueResponse): string {
  const { AccessKeyId, SecretAccessKey, SessionToken, Expiration } = awsTrio(issued);
  return JSON.stringify({ Version: 1, AccessKeyId, SecretAccessKey, SessionToken, ...(Expiration ? { Expiration } : {}) });
}

function awsTrio(issued: IssueResponse): {
  AccessKeyId: string;
  SecretAccessKey: string;
  SessionToken: string;
  Expiration: string | undefined;
} {
  const c = issued.credential;
  const AccessKeyId = str(c?.['access_key_id']);
  const SecretAccessKey = str(c?.['secret_access_key']);
  const SessionToken = str(c?.['session_token']);
  if (c?.type !== 'aws_sts_session' || !AccessKeyId || !SecretAccessKey || !SessionToken) {
    throw new CreddyError('ERR_USAGE', `backend "${issued.backend}" did not return an AWS session (credential type ${c?.type ?? 'none'})`);
  }
  return { AccessKeyId, SecretAccessKey, SessionToken, Expiration: str(c['expires_at']) };
}

/** Renders an issued credential in the chosen format. */
export function formatIssued(issued: IssueResponse, format: GetFormat): string {
  switch (format) {
    case 'token':
      return primarySecret(issued);
    case 'json':
      return JSON.stringify(issued, null, 2);
    case 'env':
      return Object.entries(credentialEnv(issued))
        .map(([name, value]) => `export ${name}=${shellQuote(value)}`)
        .join('\n');
    case 'credential-process':
      return credentialProcessJson(issued);
    default:
      throw new CreddyError('ERR_USAGE', `unknown format "${String(format)}"`);
  }
}
