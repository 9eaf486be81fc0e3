import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CreddyAuth } from '../client/auth.js';
import { CreddyError } from '../errors.js';
import type { CallerTimeout } from './caller-timeout.js';
import type { CliIo } from './io.js';

/**
 * Every variable a caller command authenticates with, here and in oidc-token.ts: `creddy exec`
 * keeps them all from its child. (GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_*` are the
 * platform's: every step of the job has them, so removing them from one child would change
 * nothing but break tools that use them.)
 */
export const CALLER_AUTH_ENV = [
  'CREDDY_TOKEN',
  'CREDDY_AGENT_KEY_FILE',
  'CREDDY_AGENT',
  'CREDDY_OIDC_TOKEN',
  'CREDDY_OIDC_TOKEN_FILE',
] as const;

/** A private key file holds one Ed25519 key: a PEM or JWK of a few hundred bytes. */
const MAX_KEY_FILE = 16 * 1024;

/**
 * How a caller command (`get`, `exec`, `list`, `revoke`, `git-credential`) authenticates, from the
 * environment, first match wins:
 * 1. `CREDDY_TOKEN`: an agent's `ckr_…` token;
 * 2. `CREDDY_AGENT_KEY_FILE` with `CREDDY_AGENT`: a key-pair agent — the file holds its Ed25519
 *    private key (PKCS#8 PEM or private JWK, as `creddy agent create --generate-key` writes it),
 *    read once per command; each request carries a fresh 60-second client assertion;
 * 3. an OIDC ID token: `CREDDY_OIDC_TOKEN`, `CREDDY_OIDC_TOKEN_FILE`, GitHub Actions (oidc-token.ts),
 *    whose ID token request waits `timeout`, as the command's requests to the broker do.
 * Throws ERR_USAGE naming the variables when none is there, when only one half of the key pair
 * is set (either half says a key pair was meant: falling through to the OIDC sources would end in
 * "CREDDY_TOKEN is not set"), or when the key file is unusable. A key file that others may read
 * is used, with a warning on stderr (readPrivateKey).
 * The OIDC sources load only when no agent credential is set (most calls carry CREDDY_TOKEN).
 */
export async function callerAuth(
  io: Pick<CliIo, 'env' | 'cwd' | 'stderr'>,
  discoverIssuer: () => Promise<string>,
  timeout: CallerTimeout,
): Promise<CreddyAuth> {
  const { env } = io;
  // Env files and Kubernetes secrets often end the value with a newline (or CR LF): not part of
  // the token, and a header cannot carry it.
  const token = env['CREDDY_TOKEN']?.trim();
  if (token) return token;
  const keyFile = env['CREDDY_AGENT_KEY_FILE'];
  const agent = env['CREDDY_AGENT'];
  if (keyFile && !agent)
    throw new CreddyError(
      'ERR_USAGE',
      'CREDDY_AGENT_KEY_FILE is set but CREDDY_AGENT is not: a key-pair agent needs both (export CREDDY_AGENT=NAME, the agent the key belongs to)',
    );
  if (agent && !keyFile)
    throw new CreddyError(
      'ERR_USAGE',
      `CREDDY_AGENT is set but CREDDY_AGENT_KEY_FILE is not: a key-pair agent needs both (export CREDDY_AGENT_KEY_FILE=PATH, the file holding agent "${agent}"'s private key; a bearer agent uses CREDDY_TOKEN instead)`,
    );
  if (keyFile && agent) return { type: 'key-pair', agent, privateKey: readPrivateKey(resolve(io.cwd, keyFile), io.stderr) };
  const { callerToken } = await import('./oidc-token.js');
  return callerToken(env, discoverIssuer, timeout);
}

/**
 * The key file's text (a PEM) or parsed JSON (a JWK); the key is checked by the client factory.
 *
 * A file that group or others may read gets a warning, as ssh gives for its keys, but is still
 * used: `agent create --generate-key` writes 0600, so a wider mode is a copy or a checkout that
 * lost it, and refusing it would break the job that relies on it (ssh refuses; the credential
 * cache ignores such entries, but it can always ask the broker again, and the key file is the
 * only way this agent can). The warning names the fix.
 */
function readPrivateKey(path: string, stderr: CliIo['stderr']): string | { kty: 'OKP'; crv: 'Ed25519'; d: string } {
  let text: string;
  try {
    const fd = openSync(path, constants.O_RDONLY);
    try {
      // The mode of the file read, not of whatever the path names a moment later.
      const mode = fstatSync(fd).mode & 0o777;
      if ((mode & 0o077) !== 0 && process.platform !== 'win32')
        stderr.write(
          `creddy: warning: CREDDY_AGENT_KEY_FILE ${path} has mode ${mode.toString(8).padStart(4, '0')}: others on this machine may read the agent's private key (chmod 600 ${path})\n`,
        );
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new CreddyError('ERR_USAGE', `CREDDY_AGENT_KEY_FILE: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.length > MAX_KEY_FILE) throw new CreddyError('ERR_USAGE', 'CREDDY_AGENT_KEY_FILE: too long to be one Ed25519 key');
  if (!text.trim().startsWith('{')) return text;
  try {
    return JSON.parse(text) as { kty: 'OKP'; crv: 'Ed25519'; d: string };
  } catch {
    throw new CreddyError('ERR_USAGE', 'CREDDY_AGENT_KEY_FILE: the file is neither a PEM nor JSON');
  }
}
