import type { MiddlewareHandler } from 'hono';
import { authenticate } from '../../agents/authenticate.js';
import { isCreddyError } from '../../errors.js';
import type { Services } from '../../services.js';
import { type AppEnv, requestHeader } from '../context.js';
import { recordAuthFailure } from './auth-failures.js';
import type { AuthThrottle } from './throttle.js';

/**
 * Route middleware: resolves the bearer token to an active agent (`c.get('agent')`) before the
 * handler runs. A failure is audited, and counted by the throttle, which may turn it into a 429.
 * Put on each route rather than on the router, so an unknown method stays a 404 without a token.
 */
export function requireAgent(services: Services, throttle: AuthThrottle): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    try {
      c.set('agent', await authenticate(services, requestHeader(c, 'authorization')));
    } catch (err) {
      throw isCreddyError(err) ? await recordAuthFailure(services, throttle, c, err) : err;
    }
    await next();
  };
}
