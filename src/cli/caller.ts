import { formatDuration } from '../_utils/duration.js';
import type { CreddyClient, CredentialRequest } from '../client/client.js';
import { CreddyError, isCreddyError } from '../errors.js';
import type { IssueResponse } from '../wire.js';
import { type CallerTimeout, callerTimeout, sayingTimeouts, timeoutArg } from './caller-timeout.js';
import type { CacheEntry, CacheKeyParts } from './credential-cache.js';
import { noteUnnamedSecrets } from './credential-env.js';
import { defineCommand } from './define-command.js';
import { jsonArg, requireEnv } from './flags.js';
import { formatIssued, GET_FORMATS, type GetFormat } from './formats.js';
import { type CliContext, type CliIo, type CliOutput, contextOf } from './io.js';
import { nodeFetch } from './node-fetch.js';
import { printJson, printTable } from './output.js';
import { handOver, requireBackendType } from './preflight.js';

/**
 * A client for caller commands, from CREDDY_URL and CREDDY_TOKEN, a key pair
 * (CREDDY_AGENT_KEY_FILE + CREDDY_AGENT) or an OIDC ID token; precedence in cli/caller-auth.ts.
 * Its credentials are bearer credentials, never DPoP-bound: the CLI hands them to other programs
 * (`exec`'s child, git, `--format env`), which hold no key to make proofs with. The client's
 * modules load here, not with the command: `get --cache` answers from the cache without them.
 * Each answer is waited for `timeout`: `--timeout`, else CREDDY_TIMEOUT, else 30 s (caller-timeout.ts).
 * The broker's issuer (assertions' `aud`, the audience of a GitHub Actions ID token) is
 * CREDDY_ISSUER, or else CREDDY_URL as the broker's discovery document confirms it: never an
 * issuer the server at CREDDY_URL merely names (client/issuer.ts).
 */
export const callerClient = async (io: Pick<CliIo, 'env' | 'cwd' | 'stderr'>, timeout: CallerTimeout): Promise<CreddyClient> => {
  const url = requireEnv(io, 'CREDDY_URL');
  const configured = io.env['CREDDY_ISSUER']?.trim();
  const issuer = configured ? { issuer: configured } : {};
  const [{ createCreddyClient }, { callerAuth }, { brokerBaseUrl }] = await Promise.all([
    import('../client/client.js'),
    import('./caller-auth.js'),
    import('../client/broker-url.js'),
  ]);
  // Checked here to name the variable; the client would name its option (`options.url`).
  brokerBaseUrl(url, 'CREDDY_URL');
  const transport = { fetch: sayingTimeouts(nodeFetch, timeout), timeoutMs: timeout.seconds * 1000 };
  const anonymous = createCreddyClient({ url, ...issuer, ...transport });
  return createCreddyClient({ url, ...issuer, auth: await callerAuth(io, anonymous.issuer, timeout), dpop: false, ...transport });
};

/**
 * `client.issue`, with a refusal for want of a DPoP proof said for the CLI: the broker's "send a
 * DPoP proof" is advice the CLI cannot follow, since it hands out bearer credentials only (see
 * callerClient). It names what can: the SDK with `dpop`, or the setting that asks for DPoP
 * (`details.required_by`; the token endpoint's OAuth errors, which federated callers get, carry
 * no details, and then both settings are named).
 */
export async function issueBearer(client: CreddyClient, request: CredentialRequest): Promise<IssueResponse> {
  try {
    return await client.issue(request);
  } catch (err) {
    // The CLI sends no DPoP proof, so no proof of its can be invalid: this is `proof_required`.
    if (!isCreddyError(err, 'ERR_DPOP_INVALID')) throw err;
    const by = err.details?.['required_by'];
    const who =
      by === 'backend' ? `backend "${request.backend}"` : by === 'agent' ? 'this agent' : `this agent or backend "${request.backend}"`;
    const fix =
      by === 'backend'
        ? "or remove require_dpop from the backend's config"
        : by === 'agent'
          ? 'or create the agent without --require-dpop'
          : "or create the agent without --require-dpop and remove require_dpop from the backend's config";
    throw new CreddyError(
      'ERR_DPOP_INVALID',
      `${who} requires DPoP-bound credentials, and the CLI hands out bearer credentials only (the programs it passes them to cannot make DPoP proofs): use the SDK (creddy/client) with its dpop option, ${fix}`,
      { cause: err, ...(err.details ? { details: err.details } : {}) },
    );
  }
}

/** Parses repeated or comma-separated `--meta k=v` into a map. */
export function parseMeta(values: string | string[] | undefined): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const item of (Array.isArray(values) ? values : [values]).flatMap((v) => v.split(','))) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CreddyError('ERR_USAGE', `--meta "${item}" must be KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** Flags shared by `get` and `exec`: what to ask for. */
export const requestArgs = {
  backend: { type: 'positional', description: 'Backend name', required: true },
  scopes: { type: 'string', description: 'Comma-separated scopes (default: the backend default_scopes)', valueHint: 'a,b' },
  ttl: { type: 'string', description: 'Lifetime, e.g. 10m or 600 (clamped to max_ttl)', valueHint: 'DURATION' },
  meta: { type: 'string', description: 'Metadata KEY=VALUE (comma-separated or repeated)', valueHint: 'K=V' },
  repos: { type: 'string', description: 'GitHub: narrow to these repositories (comma-separated OWNER/REPO)', valueHint: 'org/a,org/b' },
} as const;

/** Builds the request from `requestArgs` flags. */
export function requestFromArgs(args: {
  backend: string;
  scopes?: string | undefined;
  ttl?: string | undefined;
  meta?: string | string[] | undefined;
  repos?: string | undefined;
}) {
  const scopes = args.scopes
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const repositories = args.repos
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // An empty list given on purpose (`--scopes "$UNSET"`) is not "the defaults": say so.
  if (scopes?.length === 0) throw new CreddyError('ERR_USAGE', '--scopes is empty (leave it out for the backend default_scopes)');
  if (repositories?.length === 0)
    throw new CreddyError('ERR_USAGE', "--repos is empty (leave it out for the backend's repositories ceiling)");
  const metadata = parseMeta(args.meta);
  return {
    backend: args.backend,
    ...(scopes && scopes.length > 0 ? { scopes } : {}),
    ...(args.ttl !== undefined ? { ttl: /^\d+$/.test(args.ttl) ? Number(args.ttl) : args.ttl } : {}),
    ...(metadata ? { metadata } : {}),
    ...(repositories && repositories.length > 0 ? { params: { repositories } } : {}),
  };
}

/** `--format`, with `--json` as its short form for `--format json`. */
function getFormat(args: { format?: string | undefined; json?: boolean | undefined }): GetFormat {
  const format = args.format ?? (args.json ? 'json' : 'token');
  if (!(GET_FORMATS as readonly string[]).includes(format))
    throw new CreddyError('ERR_USAGE', `--format must be one of ${GET_FORMATS.join(', ')}`);
  if (args.json && format !== 'json')
    throw new CreddyError('ERR_USAGE', `--json is --format json; it cannot be combined with --format ${format}`);
  return format as GetFormat;
}

/** A TTL shorter (or longer) than asked is said on stderr; `--format json` carries it in `ttl`. */
export function noteTtl(stderr: CliOutput, issued: IssueResponse): void {
  const { requested, granted, clamped_by: by } = issued.ttl;
  if (by === null || by === undefined) return;
  const asked = requested === null ? 'the default TTL' : formatDuration(requested);
  stderr.write(`creddy: note: asked for ${asked}, granted ${formatDuration(granted)} (${by})\n`);
}

/** `--cache` wins; else `CREDDY_CACHE` (1, true, yes, on). */
export function cacheEnabled(flag: boolean | undefined, env: NodeJS.ProcessEnv): boolean {
  if (flag !== undefined) return flag;
  return /^(1|true|yes|on)$/i.test(env['CREDDY_CACHE'] ?? '');
}

/** The run's clock for cache expiry: a test's, else the system's. */
const nowOf = (ctx: CliContext): (() => number) => {
  const clock = ctx.hooks.clock;
  return clock ? () => clock.now() : Date.now;
};

/** The cache is loaded only when used (it brings node:crypto and the file handling). */
async function cacheEntry(ctx: CliContext, parts: Omit<CacheKeyParts, 'caller'>): Promise<CacheEntry | undefined> {
  const { cacheEntryFor } = await import('./credential-cache.js');
  return cacheEntryFor({ env: ctx.env, cwd: ctx.cwd, stderr: ctx.stderr, now: nowOf(ctx) }, parts);
}

export const getCommand = defineCommand({
  meta: { name: 'get', description: 'Get a credential for BACKEND (needs CREDDY_URL, CREDDY_TOKEN)' },
  args: {
    ...requestArgs,
    format: { type: 'string', description: `Output: ${GET_FORMATS.join('|')} (default: token)`, valueHint: 'FORMAT' },
    cache: {
      type: 'boolean',
      description:
        'Reuse a credential with over a minute left from ~/.cache/creddy (0600 files) instead of asking, else cache the new one; or CREDDY_CACHE=1 (--no-cache wins over it)',
      negativeDescription: 'Neither read nor write the cache, even with CREDDY_CACHE=1',
    },
    ...timeoutArg,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const format = getFormat(args);
    const request = requestFromArgs(args);
    const timeout = callerTimeout(args.timeout, ctx.env);
    const url = requireEnv(ctx, 'CREDDY_URL');
    // A helper run before every command (AWS credential_process) can opt into the disk cache.
    const cache = cacheEnabled(args.cache, ctx.env) ? await cacheEntry(ctx, { url, format, request }) : undefined;
    const cached = cache?.read();
    if (cached) {
      if (format === 'env') noteUnnamedSecrets(ctx.stderr, cached.credential);
      ctx.stdout.write(`${formatIssued(cached, format)}\n`);
      return;
    }
    const client = await callerClient(ctx, timeout);
    // credential_process needs an AWS session: ask what the backend is before anything is issued.
    if (format === 'credential-process') await requireBackendType(client, args.backend, 'aws', '--format credential-process');
    const issued = await issueBearer(client, request);
    if (format !== 'json') noteTtl(ctx.stderr, issued);
    if (format === 'env') noteUnnamedSecrets(ctx.stderr, issued.credential);
    const output = await handOver(issued, client, (i) => formatIssued(i, format));
    cache?.write(issued);
    ctx.stdout.write(`${output}\n`);
  },
});

export const listCommand = defineCommand({
  meta: { name: 'list', description: "List this agent's active credentials (no secrets)" },
  args: { ...timeoutArg, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const { credentials } = await (await callerClient(ctx, callerTimeout(args.timeout, ctx.env))).list();
    // The array alone, where the API and client.list() answer {credentials: […]}: scripts rely on
    // this form (docs/api.md says so), so it stays.
    if (args.json) return printJson(ctx.stdout, credentials);
    printTable(ctx.stdout, credentials, ['id', 'backend', 'scopes', 'expires_at'], '(no active credentials)');
  },
});

export const revokeCommand = defineCommand({
  meta: { name: 'revoke', description: "Revoke one of this agent's credentials by id (jti)" },
  args: { id: { type: 'positional', description: 'Credential id', required: true }, ...timeoutArg, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const result = await (await callerClient(ctx, callerTimeout(args.timeout, ctx.env))).revoke(args.id);
    // A revoked credential must not be handed out from this user's cache (`get --cache`) either.
    const { cacheDir, openCredentialCache } = await import('./credential-cache.js');
    openCredentialCache({ dir: cacheDir(ctx.env), now: nowOf(ctx), stderr: ctx.stderr }).forget(args.id);
    if (args.json) return printJson(ctx.stdout, result);
    ctx.stdout.write(`revoked ${args.id} (downstream: ${result.downstream ?? 'none'})\n`);
  },
});
