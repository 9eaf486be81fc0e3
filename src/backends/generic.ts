import type { Backend, BackendType } from './types.js';

/** Settings of a `generic` backend: the signed JWT itself is the credential. */
export interface GenericSettings {
  readonly audience: string | undefined;
}

const audienceOf = (settings: GenericSettings, name: string): string => settings.audience ?? name;

/** `type: generic` — services verify the creddy JWT offline through the JWKS; nothing downstream. */
export const generic: BackendType<GenericSettings> = {
  parse: (reader) => ({ audience: reader.optionalString('audience') }),
  audience: audienceOf,
  create: (settings, common): Backend => ({
    common,
    audience: audienceOf(settings, common.name),
    ttlLimits: {},
    requestParams: [],
    checkScope: () => undefined,
    mint: async () => undefined,
    revoke: async () => {},
  }),
};
