/**
 * IAM action scopes and the session policy built from them. A scope is an IAM action pattern
 * (`s3:GetObject`, `s3:Get*`, `dynamodb:Query`, `*`); the policy allows exactly the granted
 * patterns, so the session can do no more than granted even if the role could.
 */

import { CreddyError } from '../../errors.js';

/**
 * Most characters of session policy AssumeRole takes (STS API: `Policy`, length 1-2048). STS also
 * packs policy and session tags into a binary form with a limit of its own, which it does not
 * publish: a policy under this limit can still be refused as `PackedPolicyTooLarge`.
 */
export const SESSION_POLICY_MAX_CHARS = 2048;

const ACTION_RE = /^(?:\*|[a-z0-9][a-z0-9-]{0,39}:(?:\*|[A-Za-z][A-Za-z0-9]{0,127}\*?))$/;

/** What is wrong with an IAM action scope, or undefined. */
export function actionScopeProblem(scope: string): string | undefined {
  return ACTION_RE.test(scope)
    ? undefined
    : `AWS scopes are IAM actions SERVICE:Action with an optional trailing * (e.g. s3:GetObject, s3:Get*), got "${scope}"`;
}

/** The inline session policy: the granted actions on the configured resources, nothing else. */
export function sessionPolicy(actions: readonly string[], resources: readonly string[]): string {
  const one = <T>(list: readonly T[]): T | readonly T[] => (list.length === 1 ? list[0]! : list);
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'CreddyGrant', Effect: 'Allow', Action: one(actions), Resource: one(resources) }],
  });
}

/** What a caller refused for too many scopes should do. */
export const FEWER_SCOPES = 'ask for fewer scopes (only the actions this task needs), or one credential per part of the task';

/**
 * The session policy for a request's granted actions, refused with a 400 when its text is past
 * what STS takes: a request for too many scopes is told so before STS is asked, and told what to
 * do. A single scope that does not fit is the configured `resources` list's doing, and the message
 * says so (the caller can only take it to the operator).
 */
export function boundedSessionPolicy(actions: readonly string[], resources: readonly string[]): string {
  const policy = sessionPolicy(actions, resources);
  if (policy.length > SESSION_POLICY_MAX_CHARS) {
    const what =
      actions.length === 1
        ? `one scope makes a session policy of ${policy.length} characters on this backend's ${resources.length} resources; AWS STS takes at most ${SESSION_POLICY_MAX_CHARS}: the backend's resources list is too long for this scope (an operator's fix)`
        : `the ${actions.length} granted scopes make a session policy of ${policy.length} characters; AWS STS takes at most ${SESSION_POLICY_MAX_CHARS}: ${FEWER_SCOPES}`;
    throw new CreddyError('ERR_SCOPES_TOO_LARGE', what, {
      details: { scopes: actions.length, policy_chars: policy.length, max_policy_chars: SESSION_POLICY_MAX_CHARS },
    });
  }
  return policy;
}

/**
 * Characters of the smallest session policy on these resources: one one-character action (`*`).
 * Over {@link SESSION_POLICY_MAX_CHARS}, no request could ever be issued, so config load refuses
 * such `resources`. A list that leaves room for short actions but not for the longest is allowed
 * (a real `s3:GetObject` on 36 bucket ARNs fits where a 128-character action would not): a
 * request whose one scope does not fit is refused then, naming the resources list.
 */
export const smallestPolicyChars = (resources: readonly string[]): number => sessionPolicy(['*'], resources).length;
