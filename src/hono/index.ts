/**
 * `creddy/hono`: a hono middleware that admits only requests carrying a valid creddy token, as a
 * bearer token or DPoP-bound (RFC 9449), and puts its verified claims on the context.
 *
 * This entry imports only hono's types and works with the app's hono: creddy depends on hono 4.x
 * for its server, and npm shares that one copy with an app's own hono 4.x.
 *
 * @packageDocumentation
 */

export type { CreddyClaims } from '../verify/access-token.js';
// CreddyAuthOptions is a verifier's options or a verifier: what they name is named from this entry
// too (test/consumer/declarations.test.ts), as from creddy/verify.
export type { DpopRequest } from '../verify/dpop.js';
export type { ReplayCache } from '../verify/replay-cache.js';
export type { Verifier, VerifierOptions, VerifyRequest } from '../verify/verifier.js';
export { type CreddyAuthEnv, type CreddyAuthOptions, creddyAuth } from './middleware.js';
