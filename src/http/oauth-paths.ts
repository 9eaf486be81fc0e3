/** Path of the token endpoint (RFC 6749, RFC 8693), announced in metadata as `token_endpoint`. */
export const TOKEN_PATH = '/oauth/token';
/** Path of the RFC 7662 introspection endpoint (`introspection_endpoint`). */
export const INTROSPECTION_PATH = '/oauth/introspect';
/** Path of the RFC 7009 revocation endpoint (`revocation_endpoint`). */
export const REVOCATION_PATH = '/oauth/revoke';

/**
 * What a key-pair agent's client assertion may name as `aud` (RFC 7523 §3): the broker's issuer,
 * or its token endpoint — the same on every route, so one assertion shape serves them all.
 */
export const assertionAudiences = (issuer: string): readonly string[] => [issuer, `${issuer}${TOKEN_PATH}`];
