/**
 * `creddy/hono`: a hono middleware that admits only requests carrying a valid creddy token, as a
 * bearer token or DPoP-bound (RFC 9449), and puts its verified claims on the context.
 *
 * hono is a peer dependency: this entry imports only its types and works with the app's hono.
 *
 * @packageDocumentation
 */

export type { CreddyClaims } from '../verify/access-token.js';
export { type CreddyAuthEnv, type CreddyAuthOptions, creddyAuth } from './middleware.js';
