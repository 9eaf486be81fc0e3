import { isoUtc } from '../../_utils/clock.js';
import type { TtlBound } from '../../policy/ttl.js';
import { probeFailure, serverTime } from '../probe.js';
import type { Backend, BackendType, Minted, MintRequest } from '../types.js';
import { type AwsSettings, parseAwsSettings } from './config.js';
import { roleSessionName, sourceIdentity, tagValue } from './identity.js';
import { actionScopeProblem, boundedSessionPolicy } from './policy.js';
import { callerIdentity, createAssumer } from './sts.js';

/** STS sessions last at least 15 minutes: a shorter creddy TTL is raised and the response says why. */
export const STS_MIN_SESSION: TtlBound = { seconds: 900, reason: 'sts_minimum_session' };
/** A role session may not outlive 12 h (the role's MaxSessionDuration can be less; STS then refuses). */
export const STS_MAX_SESSION: TtlBound = { seconds: 43_200, reason: 'sts_maximum_session' };
/** Sessions assumed with role-session credentials (role chaining) are capped at 1 h by STS. */
export const ROLE_CHAINING_MAX: TtlBound = { seconds: 3600, reason: 'role_chaining' };

/**
 * `type: aws` — an STS AssumeRole session whose inline session policy allows exactly the granted
 * IAM actions on the configured resources. STS cannot revoke one session, so the credential says
 * `revocation: "expiry-only"`.
 */
export const aws: BackendType<AwsSettings> = {
  parse: (reader) => {
    reader.stringList('default_scopes', []).forEach((scope, i) => {
      const problem = actionScopeProblem(scope);
      if (problem) reader.report(`default_scopes[${i}]`, problem);
    });
    return parseAwsSettings(reader);
  },
  create: (settings, common, deps): Backend => {
    const assume = createAssumer(settings, deps.upstream);
    return {
      common,
      audience: common.name,
      ttlLimits: { min: STS_MIN_SESSION, max: settings.roleChaining ? ROLE_CHAINING_MAX : STS_MAX_SESSION },
      requestParams: [],
      checkScope: actionScopeProblem,
      async mint(request: MintRequest): Promise<Minted> {
        // Built first: a request for more scopes than a session policy holds is refused here, before STS.
        const policy = boundedSessionPolicy(request.scopes, settings.resources);
        const session = await assume({
          roleSessionName: roleSessionName(request.agent, request.jti),
          durationSeconds: Math.max(STS_MIN_SESSION.seconds, request.ttlSeconds),
          policy,
          sourceIdentity: sourceIdentity(request.agent),
          tags: { 'creddy-jti': tagValue(request.jti), 'creddy-agent': tagValue(request.agent) },
          signal: request.signal,
        });
        return {
          credential: {
            type: 'aws_sts_session',
            access_key_id: session.accessKeyId,
            secret_access_key: session.secretAccessKey,
            session_token: session.sessionToken,
            expires_at: isoUtc(session.expiration),
            revocation: 'expiry-only',
          },
          secret: session.secretAccessKey,
        };
      },
      // Nothing to revoke one by one; mint returns no handle, so the broker never calls this.
      revoke: async () => {},
      async probe(signal) {
        const clock = await serverTime(`${settings.endpoint ?? `https://sts.${settings.region}.amazonaws.com`}/`, signal);
        try {
          const { arn } = await callerIdentity(settings, signal);
          return {
            status: 'ok',
            message: `base credentials resolve to ${arn}; STS answers GetCallerIdentity`,
            ...(clock === undefined ? {} : { serverTime: clock }),
          };
        } catch (err) {
          return probeFailure(
            err,
            (status) =>
              status === null && /base credentials/.test((err as Error).message)
                ? 'give creddy AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a container/instance role'
                : status === 403
                  ? "STS refused the base credentials: check that they are current (and this machine's clock)"
                  : `check region/endpoint (${settings.endpoint ?? settings.region}) and that this machine can reach STS`,
            clock,
          );
        }
      },
    };
  },
};
