import { readFile, unlink } from 'node:fs/promises';
import { isoSeconds } from '../_utils/clock.js';
import { writePrivateFile } from '../_utils/fs.js';
import { addAgentKey, removeAgentKey } from '../agents/keys.js';
import { type AgentPublicKey, generateAgentKeyPair, type PrivateKeyFormat, parsePublicKey } from '../agents/public-key.js';
import { CreddyError } from '../errors.js';
import type { AgentRecord } from '../model/agent.js';
import type { AgentKeyRecord } from '../model/agent-key.js';
import { cliPath, jsonArg, operatorArgs, withServices } from './context.js';
import { defineCommand } from './define-command.js';
import { type CliContext, contextOf } from './io.js';
import { printJson, printTable } from './output.js';

/** The flags that name a key-pair agent's key: an existing public key, or a key pair made now. */
export const keyArgs = {
  'public-key': {
    type: 'string',
    description: 'Register this Ed25519 public key (SPKI PEM or OKP JWK); the agent holds no bearer token',
    valueHint: 'FILE',
  },
  'generate-key': {
    type: 'string',
    description: 'Generate a key pair: the private key goes to FILE (0600; PKCS#8 PEM, or a JWK when FILE ends in .json/.jwk)',
    valueHint: 'FILE',
  },
} as const;

/** Where `--generate-key` wrote the private key, and in which format. */
export interface WrittenKey {
  readonly path: string;
  readonly format: PrivateKeyFormat;
}

const FORMAT_NAMES: Record<PrivateKeyFormat, string> = { pem: 'PKCS#8 PEM', jwk: 'private JWK' };

/**
 * Runs `register` with the public key the flags name (undefined without either flag). With
 * `--generate-key`, the private key is written first — exclusively, 0600, never over an existing
 * file — and removed again if `register` fails, so no key file outlives a failed registration and
 * no agent is left with a key nobody holds.
 */
export async function withAgentKey<T>(
  ctx: CliContext,
  args: { 'public-key'?: string | undefined; 'generate-key'?: string | undefined },
  register: (key: AgentPublicKey | undefined) => Promise<T>,
): Promise<{ result: T; written: WrittenKey | undefined }> {
  const publicFile = args['public-key'];
  const privateFile = args['generate-key'];
  if (publicFile !== undefined && privateFile !== undefined)
    throw new CreddyError('ERR_USAGE', 'give --public-key or --generate-key, not both');
  if (publicFile !== undefined) {
    let text: string;
    try {
      text = await readFile(cliPath(ctx, publicFile), 'utf8');
    } catch (err) {
      throw new CreddyError('ERR_USAGE', `--public-key: cannot read ${publicFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return { result: await register(parsePublicKey(text)), written: undefined };
  }
  if (privateFile === undefined) return { result: await register(undefined), written: undefined };
  const path = cliPath(ctx, privateFile);
  const format: PrivateKeyFormat = /\.(json|jwk)$/i.test(path) ? 'jwk' : 'pem';
  const pair = generateAgentKeyPair(format);
  try {
    writePrivateFile(path, pair.privateKey);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' ? 'the file exists (a key file is never overwritten)' : `cannot write it (${code ?? 'error'})`;
    throw new CreddyError('ERR_USAGE', `--generate-key ${privateFile}: ${why}`);
  }
  try {
    return { result: await register(pair.publicKey), written: { path, format } };
  } catch (err) {
    await unlink(path).catch(() => {});
    throw err;
  }
}

/** The line that tells the operator where the private key went (stderr: stdout stays for --json). */
export function describeWrittenKey(written: WrittenKey): string {
  return `wrote the private key to ${written.path} (${FORMAT_NAMES[written.format]}, mode 0600): give it to the agent as CREDDY_AGENT_KEY_FILE; the broker keeps only the public key`;
}

/** What `agent create` prints for a key-pair agent: its key's thumbprint (no token: it has none). */
export function printKeyPairAgent(
  ctx: CliContext,
  json: boolean,
  agent: AgentRecord,
  keys: readonly AgentKeyRecord[],
  written: WrittenKey | undefined,
): void {
  const grants = agent.grants.map((g) => `${g.backend}:${g.scope}`);
  const expiresAt = agent.expiresAt === null ? null : isoSeconds(agent.expiresAt);
  const jkts = keys.map((k) => k.jkt);
  if (json) {
    printJson(ctx.stdout, {
      name: agent.name,
      id: agent.id,
      keys: jkts,
      grants,
      expires_at: expiresAt,
      require_dpop: agent.requireDpop === true,
      ...(written ? { private_key_file: written.path, private_key_format: written.format } : {}),
    });
    return;
  }
  const dpop = agent.requireDpop ? '; DPoP-bound credentials only' : '';
  ctx.stderr.write(`created key-pair agent "${agent.name}" (grants: ${grants.join(', ')}; expires: ${expiresAt ?? 'never'}${dpop})\n`);
  if (written) ctx.stderr.write(`${describeWrittenKey(written)}\n`);
  ctx.stdout.write(`${jkts.join('\n')}\n`);
}

const keyRows = (keys: readonly AgentKeyRecord[]) => keys.map((k) => ({ jkt: k.jkt, x: k.x, added_at: isoSeconds(k.addedAt) }));

const add = defineCommand({
  meta: { name: 'add', description: 'Register another public key for an agent (at most two at once, to rotate without downtime)' },
  args: {
    name: { type: 'positional', description: 'Agent name', required: true },
    ...keyArgs,
    ...operatorArgs,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    if (args['public-key'] === undefined && args['generate-key'] === undefined) {
      throw new CreddyError('ERR_USAGE', 'give the new key: --public-key FILE or --generate-key FILE');
    }
    await withServices(ctx, args, async (services) => {
      const { result, written } = await withAgentKey(ctx, args, (key) =>
        addAgentKey(services, { name: args.name, key: key!, actor: 'cli' }),
      );
      if (args.json) {
        return printJson(ctx.stdout, {
          name: args.name,
          added: result.key.jkt,
          keys: keyRows(result.keys),
          ...(written ? { private_key_file: written.path, private_key_format: written.format } : {}),
        });
      }
      if (written) ctx.stderr.write(`${describeWrittenKey(written)}\n`);
      ctx.stdout.write(
        `added key ${result.key.jkt} to agent "${args.name}" (${result.keys.length} keys); remove the old one once the agent uses the new one\n`,
      );
    });
  },
});

const remove = defineCommand({
  meta: {
    name: 'remove',
    description:
      "Remove one of an agent's keys: assertions it signs are refused from the next request on, and the credentials it obtained or is bound to are revoked",
  },
  args: {
    name: { type: 'positional', description: 'Agent name', required: true },
    jkt: { type: 'positional', description: "The key's thumbprint (creddy agent key list NAME)", required: true },
    ...operatorArgs,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const { keys, credentialsRevoked } = await removeAgentKey(services, { name: args.name, jkt: args.jkt, actor: 'cli' });
      if (args.json) {
        return printJson(ctx.stdout, { name: args.name, removed: args.jkt, keys: keyRows(keys), credentials_revoked: credentialsRevoked });
      }
      ctx.stdout.write(
        `removed key ${args.jkt} from agent "${args.name}" (${keys.length} left) and revoked ${credentialsRevoked} active credential(s) it obtained or was bound to\n`,
      );
    });
  },
});

const list = defineCommand({
  meta: { name: 'list', description: "List an agent's public keys (thumbprint, key, when added)" },
  args: { name: { type: 'positional', description: 'Agent name', required: true }, ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      if (!(await services.store.agents.byName(args.name))) throw new CreddyError('ERR_NOT_FOUND', `no agent named "${args.name}"`);
      const rows = keyRows(await services.store.agentKeys.byAgent(args.name));
      if (args.json) return printJson(ctx.stdout, rows);
      printTable(ctx.stdout, rows, ['jkt', 'added_at'], '(no keys: a bearer agent)');
    });
  },
});

export const agentKeyCommand = defineCommand({
  meta: { name: 'key', description: "Manage a key-pair agent's public keys (add the new one, switch the agent, remove the old one)" },
  subCommands: { add, remove, list },
});
