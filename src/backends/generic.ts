import type { Backend, BackendType } from './types.js';

/** Settings of a `generic` backend: the signed JWT itself is the credential. */
export interface GenericSettings {
  readonly audience: string | undefined;
}

/** `type: generic` — services verify the creddy JWT offline through the JWKS; nothing downstream. */
export const generic: BackendType<GenericSettings> = {
  parse: (reader) => ({ audience: reader.optionalString('audience') }),
  create: (settings, common): Backend => ({
    common,
    audience: settings.audience ?? common.name,
    ttlLimits: {},
    requestParams: [],
    checkScope: () => undefined,
    mint: async () => undefined,
    revoke: async () => {},
  }),
};
