/**
 * IAM action scopes and the session policy built from them. A scope is an IAM action pattern
 * (`s3:GetObject`, `s3:Get*`, `dynamodb:Query`, `*`); the policy allows exactly the granted
 * patterns, so the session can do no more than granted even if the role could.
 */

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
