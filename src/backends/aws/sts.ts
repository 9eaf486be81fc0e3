import type { AssumeRoleCommandOutput, STSClient } from '@aws-sdk/client-sts';
import { CreddyError } from '../../errors.js';
import { statusClass, type UpstreamStatus } from '../../metrics/port.js';
import type { AwsSettings } from './config.js';
import { FEWER_SCOPES } from './policy.js';

/** The AssumeRole input creddy sends; every field is decided by the broker, none by the caller. */
export interface AssumeRoleInput {
  readonly roleSessionName: string;
  readonly durationSeconds: number;
  readonly policy: string;
  readonly sourceIdentity: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

/** Session credentials as STS returned them. */
export interface StsSession {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

type StsModule = typeof import('@aws-sdk/client-sts');

/**
 * AssumeRole through the AWS SDK. The SDK is imported and the client built on first use, once;
 * base credentials come from the SDK's standard chain (env vars, shared config, SSO, IMDS). The
 * SDK retries throttling, 5xx and timeouts with backoff; the broker's deadline aborts the rest.
 */
export function createAssumer(
  settings: AwsSettings,
  observe?: (status: UpstreamStatus) => void,
): (input: AssumeRoleInput) => Promise<StsSession> {
  let loaded: Promise<{ sdk: StsModule; client: STSClient }> | undefined;
  const load = (): Promise<{ sdk: StsModule; client: STSClient }> => {
    loaded ??= import('@aws-sdk/client-sts').then((sdk) => {
      const client = new sdk.STSClient({
        region: settings.region,
        ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
        maxAttempts: settings.maxAttempts,
        requestHandler: {
          requestTimeout: settings.requestTimeoutMs,
          connectionTimeout: settings.requestTimeoutMs,
          throwOnRequestTimeout: true,
        },
      });
      if (observe) observeAttempts(client, observe);
      return { sdk, client };
    });
    loaded.catch(() => (loaded = undefined));
    return loaded;
  };

  return async (input) => {
    const { sdk, client } = await load();
    let out: AssumeRoleCommandOutput;
    try {
      out = await client.send(
        new sdk.AssumeRoleCommand({
          RoleArn: settings.roleArn,
          RoleSessionName: input.roleSessionName,
          DurationSeconds: input.durationSeconds,
          Policy: input.policy,
          SourceIdentity: input.sourceIdentity,
          Tags: Object.entries(input.tags).map(([Key, Value]) => ({ Key, Value })),
          ...(settings.externalId ? { ExternalId: settings.externalId } : {}),
        }),
        { abortSignal: input.signal },
      );
    } catch (err) {
      throw upstreamError(err, input.signal);
    }
    const c = out.Credentials;
    if (
      !c?.AccessKeyId ||
      !c.SecretAccessKey ||
      !c.SessionToken ||
      !(c.Expiration instanceof Date) ||
      Number.isNaN(c.Expiration.getTime())
    ) {
      throw upstream('AWS STS sent an AssumeRole response without complete credentials', 200);
    }
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  };
}

/**
 * Tells `observe` how each HTTP attempt ended. The SDK retries inside its own middleware; this
 * one sits innermost (after the retries and the signature, before the response is parsed), so it
 * sees every attempt's raw status, or the network error of an attempt that got none.
 */
function observeAttempts(client: STSClient, observe: (status: UpstreamStatus) => void): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        const out = await next(args);
        const status = (out.response as { statusCode?: unknown } | undefined)?.statusCode;
        observe(typeof status === 'number' ? statusClass(status) : 'error');
        return out;
      } catch (err) {
        const name = (err as { name?: unknown }).name;
        observe(name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'unreachable');
        throw err;
      }
    },
    { step: 'deserialize', priority: 'low', name: 'creddyUpstreamMetric' },
  );
}

/**
 * The identity of the base credentials (`sts:GetCallerIdentity`): proves they resolve and STS
 * accepts them, without assuming the role. One attempt, the configured timeout.
 */
export async function callerIdentity(settings: AwsSettings, signal: AbortSignal): Promise<{ arn: string; account: string }> {
  const sdk = await import('@aws-sdk/client-sts');
  const client = new sdk.STSClient({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    maxAttempts: 1,
    requestHandler: {
      requestTimeout: settings.requestTimeoutMs,
      connectionTimeout: settings.requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  });
  try {
    const out = await client.send(new sdk.GetCallerIdentityCommand({}), { abortSignal: signal });
    return { arn: out.Arn ?? '(unknown)', account: out.Account ?? '(unknown)' };
  } catch (err) {
    throw upstreamError(err, signal);
  } finally {
    client.destroy();
  }
}

/**
 * A clear 502 from an SDK error: STS's status and error code and how many attempts the SDK made.
 * STS's message text is left out: it may quote ARNs and policy fragments the caller need not see.
 * A policy too large once packed is the request's doing: a 400 ERR_SCOPES_TOO_LARGE.
 */
function upstreamError(err: unknown, signal: AbortSignal): CreddyError {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
  const status = e.$metadata?.httpStatusCode ?? null;
  const attempts = e.$metadata?.attempts;
  const tries = attempts ? ` after ${attempts} attempt${attempts === 1 ? '' : 's'}` : '';
  if (signal.aborted || e.name === 'AbortError') return upstream(`AWS STS did not answer within the deadline${tries}`, status, err);
  if (e.name === 'CredentialsProviderError') {
    return upstream(
      'creddy has no AWS base credentials (the SDK chain found none: env, shared config, SSO, container/instance role)',
      null,
      err,
    );
  }
  // The request's doing, not STS failing: its scopes made a policy that, with the session tags,
  // packs past STS's limit. A 4xx saying what to do; STS's message (which may quote the policy) left out.
  if (e.name === 'PackedPolicyTooLargeException' || e.name === 'PackedPolicyTooLarge') {
    return new CreddyError(
      'ERR_SCOPES_TOO_LARGE',
      `AWS STS refused the session policy as too large once packed with the session tags (PackedPolicyTooLarge): ${FEWER_SCOPES}`,
      { cause: err, details: { upstream: 'aws-sts', upstream_status: status } },
    );
  }
  if (e.name === 'TimeoutError') return upstream(`AWS STS did not answer in time${tries}`, status, err);
  if (status === null) return upstream(`AWS STS could not be reached (${safeName(e.name)})${tries}`, null, err);
  if (status >= 200 && status < 300) return upstream(`AWS STS sent a malformed response (${status})${tries}`, status, err);
  return upstream(`AWS STS answered ${status} ${safeName(e.name)}${tries}`, status, err);
}

const safeName = (name: string | undefined): string => (name && /^[A-Za-z0-9_.-]{1,64}$/.test(name) ? name : 'Error');

function upstream(message: string, status: number | null, cause?: unknown): CreddyError {
  return new CreddyError('ERR_BACKEND_UPSTREAM', message, {
    expose: true,
    cause,
    details: { upstream: 'aws-sts', upstream_status: status },
  });
}
