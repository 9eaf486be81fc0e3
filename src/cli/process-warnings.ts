import type { Logger } from '../_utils/logger.js';

/**
 * Sends the process's warnings (a dependency's deprecation or support notice, such as the AWS
 * SDK's NodeVersionSupportWarning) through `logger` instead of Node's plain multi-line text on
 * stderr, so every line a server writes is JSON. Returns the function that puts Node's own
 * handlers back.
 */
export function routeProcessWarnings(logger: Logger): () => void {
  const previous = process.listeners('warning');
  process.removeAllListeners('warning');
  const listener = (warning: Error & { code?: string }): void =>
    logger.warn(warning.message.replace(/\s+/g, ' ').trim(), { warning: warning.name, ...(warning.code ? { code: warning.code } : {}) });
  process.on('warning', listener);
  return () => {
    process.off('warning', listener);
    for (const handler of previous) process.on('warning', handler);
  };
}
