import { aws } from './aws/index.js';
import { generic } from './generic.js';
import { github } from './github/index.js';
import { postgres } from './postgres/index.js';
import { secret } from './secret/index.js';
import type { BackendType, BackendTypeName } from './types.js';

/**
 * Every backend type, keyed by the `type:` value in config. A typed literal map, never a dynamic
 * import path built from config: what can run is what is listed here.
 */
export const backendTypes = {
  generic,
  github,
  aws,
  secret,
  postgres,
} satisfies Record<BackendTypeName, BackendType<unknown>>;

/** True when `type` names a known backend type. */
export function isBackendType(type: string): type is BackendTypeName {
  return Object.hasOwn(backendTypes, type);
}
