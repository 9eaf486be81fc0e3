/**
 * creddy's library surface for callers and resource servers: the HTTP client (`creddy/client`),
 * token verification (`creddy/verify`), the error type with its code table, and the HTTP API's
 * wire types. The broker itself runs as the `creddy` CLI and is not part of this entry.
 *
 * @packageDocumentation
 */

export * from './client/index.js';
export { ERROR_CODES } from './errors.js';
export * from './verify/index.js';
