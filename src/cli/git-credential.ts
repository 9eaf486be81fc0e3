import { CreddyError } from '../errors.js';
import { callerClient, issueBearer, requestArgs } from './caller.js';
import { callerTimeout, timeoutArg } from './caller-timeout.js';
import { defineCommand } from './define-command.js';
import { contextOf, readStdin } from './io.js';
import { handOver, requireBackendType } from './preflight.js';

/** Hosts served when neither `--hosts` nor CREDDY_GIT_HOSTS says otherwise. */
const DEFAULT_HOSTS = ['github.com'];

/** Parses git's credential-helper input: `key=value` lines up to a blank line or EOF. */
export function parseCredentialInput(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const trimmed = line.replace(/\r$/, '');
    if (trimmed === '') break;
    const eq = trimmed.indexOf('=');
    if (eq > 0) out.set(trimmed.slice(0, eq), trimmed.slice(eq + 1));
  }
  return out;
}

/**
 * `org/repo` from the `path` git sends when credential.useHttpPath is set: the URL's path without
 * its leading slash. git sends the repository's (`org/repo.git`, `org/repo`); Git LFS the path of
 * its API under it (`org/repo.git/info/lfs`, and for a request it signs itself
 * `…/info/lfs/objects/batch`, `…/info/lfs/locks/verify`, …), so everything from `/info/lfs` on
 * goes. Undefined when what is left names no repository.
 */
export function repositoryFromPath(path: string): string | undefined {
  const repository = path.replace(/\/info\/lfs(?:\/.*)?$/, '');
  const match = /^\/?([A-Za-z0-9][A-Za-z0-9-]{0,38})\/([A-Za-z0-9._-]{1,100}?)(?:\.git)?\/?$/.exec(repository);
  return match ? `${match[1]}/${match[2]}` : undefined;
}

/**
 * The repository to narrow the token to: none when git sends no path (credential.useHttpPath
 * unset: one token for the backend's repositories), else the one its path names. A path that
 * names none is refused rather than read as "no path", which would hand git the whole ceiling
 * where it asked for one repository. git shows the message and moves on to its next helper.
 */
function repositoryToAsk(path: string | undefined): string | undefined {
  if (path === undefined || path === '') return undefined;
  const repository = repositoryFromPath(path);
  if (repository === undefined) {
    throw new CreddyError(
      'ERR_USAGE',
      `git sent path ${JSON.stringify(path.slice(0, 200))}, which names no owner/repo: nothing issued (a token for all the backend's repositories is only for git without a path: credential.useHttpPath unset)`,
    );
  }
  return repository;
}

export const gitCredentialCommand = defineCommand({
  meta: {
    name: 'git-credential',
    description: "git credential helper: git config credential.helper 'creddy --backend NAME' (bin git-credential-creddy)",
  },
  args: {
    operation: { type: 'positional', description: 'get | store | erase (git passes it)', required: true },
    backend: { type: 'string', description: 'github backend to ask (default: $CREDDY_GIT_BACKEND)', valueHint: 'NAME' },
    scopes: requestArgs.scopes,
    ttl: requestArgs.ttl,
    hosts: { type: 'string', description: 'Hosts to answer for (default: $CREDDY_GIT_HOSTS or github.com)', valueHint: 'h1,h2' },
    ...timeoutArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const input = parseCredentialInput(await readStdin(ctx));
    // store/erase: creddy tokens are short-lived and issued per use; there is nothing to keep or forget.
    if (args.operation !== 'get') {
      if (args.operation === 'store' || args.operation === 'erase') return;
      throw new CreddyError('ERR_USAGE', `unknown operation "${args.operation}" (git passes get, store or erase)`);
    }
    const hosts = (args.hosts ?? ctx.env['CREDDY_GIT_HOSTS'] ?? DEFAULT_HOSTS.join(',')).split(',').map((h) => h.trim().toLowerCase());
    const host = input.get('host')?.toLowerCase();
    const protocol = input.get('protocol');
    // Not ours: print nothing, so git moves on to its next helper or prompts.
    if (!host || !hosts.includes(host) || (protocol !== undefined && protocol !== 'https')) return;
    const backend = args.backend ?? ctx.env['CREDDY_GIT_BACKEND'];
    if (!backend) throw new CreddyError('ERR_USAGE', 'set --backend NAME or CREDDY_GIT_BACKEND');
    const repository = repositoryToAsk(input.get('path'));
    const scopes = args.scopes
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const client = await callerClient(ctx, callerTimeout(args.timeout, ctx.env));
    // Only a github backend gives git a password: ask before anything is issued.
    await requireBackendType(client, backend, 'github', 'the git credential helper');
    const issued = await issueBearer(client, {
      backend,
      ...(scopes && scopes.length > 0 ? { scopes } : {}),
      ...(args.ttl !== undefined ? { ttl: /^\d+$/.test(args.ttl) ? Number(args.ttl) : args.ttl } : {}),
      ...(repository ? { params: { repositories: [repository] } } : {}),
    });
    const token = await handOver(issued, client, ({ credential }) => {
      const value = credential?.['token'];
      if (typeof value !== 'string' || !credential?.type.startsWith('github')) {
        throw new CreddyError('ERR_USAGE', `backend "${backend}" is not a github backend`);
      }
      return value;
    });
    const expiry = Date.parse(issued.expires_at) / 1000;
    const lines = [`protocol=${protocol ?? 'https'}`, `host=${input.get('host')}`, 'username=x-access-token', `password=${token}`];
    // git ≥ 2.41 stops reusing the password after this; older versions ignore the attribute.
    if (Number.isFinite(expiry)) lines.push(`password_expiry_utc=${Math.floor(expiry)}`);
    ctx.stdout.write(`${lines.join('\n')}\n`);
  },
});
