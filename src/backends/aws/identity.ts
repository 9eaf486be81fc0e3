/**
 * Names that tie an STS session to creddy's audit row in CloudTrail: the RoleSessionName carries
 * agent and jti, SourceIdentity the agent, session tags both. STS allows only [\w+=,.@-] here.
 */

const UNSAFE = /[^\w+=,.@-]/g;
const clean = (value: string): string => value.replace(UNSAFE, '-');

/** `<agent>-<jti>`, trimmed from the agent's side so the jti (the join key) survives; 2-64 chars. */
export function roleSessionName(agent: string, jti: string): string {
  const id = clean(jti).slice(0, 40);
  const name = clean(agent).slice(0, 64 - id.length - 1);
  return name.length > 0 ? `${name}-${id}` : `creddy-${id}`.slice(0, 64);
}

/** SourceIdentity: the agent, 2-64 safe characters (a `:` is replaced, so never the reserved `aws:` prefix). */
export function sourceIdentity(agent: string): string {
  const value = clean(agent).slice(0, 64);
  return value.length >= 2 ? value : `${value}--`.slice(0, 2);
}

/** Session tag values allow letters, digits, spaces and _ . : / = + - @ (max 256). */
export function tagValue(value: string): string {
  return value.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '-').slice(0, 256);
}
