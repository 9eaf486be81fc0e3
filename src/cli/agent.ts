import { isoSeconds, nowSeconds } from '../_utils/clock.js';
import { parseDuration } from '../_utils/duration.js';
import { createAgent, createKeyPairAgent } from '../agents/create.js';
import { addGrants, parseGrants, removeGrants } from '../agents/grants.js';
import { revokeAgent } from '../agents/revoke.js';
import { updateAgent } from '../agents/update.js';
import type { Config } from '../config/types.js';
import { CreddyError } from '../errors.js';
import { type AgentRecord, agentStatus, type Grant } from '../model/agent.js';
import type { Services } from '../services.js';
import { agentKeyCommand, keyArgs, printKeyPairAgent, withAgentKey } from './agent-key.js';
import { jsonArg, operatorArgs, withServices } from './context.js';
import { defineCommand } from './define-command.js';
import { type CliContext, contextOf } from './io.js';
import { printJson, printTable } from './output.js';

const nameArg = { name: { type: 'positional', description: 'Agent name', required: true } } as const;
const grantsArg = {
  can: { type: 'string', description: 'Grants: BACKEND:SCOPE[,BACKEND:SCOPE…]', required: true, valueHint: 'GRANTS' },
} as const;

/**
 * `--expires`: a duration from now, or `never`; absent, the config's `agents.default_ttl`
 * (90d unless set). Returns the lifetime in seconds, null for never.
 */
/** `--expires` of rotate-token and renew, with what its absence means for each. */
const expiresArg = (absent: string) =>
  ({
    expires: { type: 'string', description: `New lifetime from now, e.g. 90d, or never (default: ${absent})`, valueHint: 'DURATION' },
  }) as const;

/** `--expires` as an expiry (epoch s from now), null for never. */
const expiresAt = (flag: string | undefined, services: Services): number | null => {
  const ttl = lifetime(flag, services.config);
  return ttl === null ? null : nowSeconds(services.clock) + ttl;
};

/** `--expires` in seconds, null for never, undefined when absent; ERR_USAGE when invalid (checked before the store opens). */
function expiresFlag(flag: string | undefined): number | null | undefined {
  if (flag === undefined) return undefined;
  if (flag === 'never') return null;
  const seconds = parseDuration(flag);
  if (seconds === undefined || seconds === 0)
    throw new CreddyError('ERR_USAGE', `--expires: invalid duration "${flag}" (e.g. 30d, or never)`);
  return seconds;
}

function lifetime(flag: string | undefined, config: Config): number | null {
  const seconds = expiresFlag(flag);
  return seconds === undefined ? config.agents.defaultTtl : seconds;
}

const grantStrings = (agent: AgentRecord): string[] => agent.grants.map((g) => `${g.backend}:${g.scope}`);
const expiry = (agent: AgentRecord): string | null => (agent.expiresAt === null ? null : isoSeconds(agent.expiresAt));

/** Prints a token that exists only now: on stdout alone, so `$(creddy agent …)` captures just it. */
function showToken(ctx: CliContext, token: string, what: string): void {
  ctx.stderr.write(`${what}\nthe token below is shown once; store it now:\n`);
  ctx.stdout.write(`${token}\n`);
}

const create = defineCommand({
  meta: {
    name: 'create',
    description: "Create an agent and print its token once, or register its public key (a revoked agent's name may be used again)",
  },
  args: {
    ...nameArg,
    ...grantsArg,
    expires: { type: 'string', description: 'Lifetime, e.g. 30d, or never (default: agents.default_ttl, 90d)', valueHint: 'DURATION' },
    ...keyArgs,
    'require-dpop': { type: 'boolean', description: 'Issue this agent only DPoP-bound credentials (RFC 9449)' },
    ...operatorArgs,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    let grants: Grant[] = [];
    let ttlSeconds: number | null = null;
    await withServices(
      ctx,
      args,
      async (services) => {
        const input = { name: args.name, grants, ttlSeconds, actor: 'cli', requireDpop: args['require-dpop'] === true };
        const { result, written } = await withAgentKey(ctx, args, async (key) =>
          key === undefined ? createAgent(services, input) : createKeyPairAgent(services, { ...input, publicKeys: [key] }),
        );
        const { agent } = result;
        if (!('token' in result)) return printKeyPairAgent(ctx, args.json === true, agent, result.keys, written);
        const { token } = result;
        if (args.json) {
          return printJson(ctx.stdout, {
            name: agent.name,
            id: agent.id,
            token,
            grants: grantStrings(agent),
            expires_at: expiry(agent),
            ...(agent.requireDpop ? { require_dpop: true } : {}),
          });
        }
        const dpop = agent.requireDpop ? '; DPoP-bound credentials only' : '';
        showToken(
          ctx,
          token,
          `created agent "${agent.name}" (grants: ${grantStrings(agent).join(', ')}; expires: ${expiry(agent) ?? 'never'}${dpop})`,
        );
      },
      {
        mayCreate: true,
        // Before a first command creates the store: a bad flag must leave no new deployment behind.
        check: (config) => {
          grants = parseGrants(args.can, config);
          ttlSeconds = lifetime(args.expires, config);
        },
      },
    );
  },
});

const list = defineCommand({
  meta: { name: 'list', description: 'List agents, revoked ones included (never their tokens)' },
  args: { ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const now = nowSeconds(services.clock);
      const rows = (await services.store.agents.list()).map((a) => ({
        name: a.name,
        id: a.id,
        status: agentStatus(a, now),
        grants: grantStrings(a),
        created_at: isoSeconds(a.createdAt),
        expires_at: expiry(a),
        revoked_at: a.revokedAt === null ? null : isoSeconds(a.revokedAt),
      }));
      if (args.json) return printJson(ctx.stdout, rows);
      printTable(ctx.stdout, rows, ['name', 'status', 'grants', 'created_at', 'expires_at'], '(no agents)');
    });
  },
});

const revoke = defineCommand({
  meta: { name: 'revoke', description: 'Revoke an agent and every credential it holds; a running server refuses its token at once' },
  args: { ...nameArg, ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const { credentialsRevoked } = await revokeAgent(services, args.name, 'cli');
      if (args.json) return printJson(ctx.stdout, { name: args.name, revoked: true, credentials_revoked: credentialsRevoked });
      ctx.stdout.write(`revoked agent "${args.name}" and ${credentialsRevoked} active credential(s)\n`);
    });
  },
});

const rotateToken = defineCommand({
  meta: {
    name: 'rotate-token',
    description: 'Give an agent a new token (shown once); the old one stops working at once. --expires renews its lifetime',
  },
  args: { ...nameArg, ...expiresArg('the expiry stays'), ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    expiresFlag(args.expires);
    await withServices(ctx, args, async (services) => {
      const renewal = args.expires === undefined ? {} : { expiresAt: expiresAt(args.expires, services) };
      const { agent, token } = await updateAgent(services, args.name, { newToken: true, ...renewal }, 'cli');
      if (args.json) return printJson(ctx.stdout, { name: agent.name, id: agent.id, token, expires_at: expiry(agent) });
      showToken(ctx, token!, `new token for agent "${agent.name}"; the old one no longer works (expires: ${expiry(agent) ?? 'never'})`);
    });
  },
});

const renew = defineCommand({
  meta: {
    name: 'renew',
    description: "Renew a key-pair agent's lifetime, expired or not (a bearer agent renews with rotate-token --expires)",
  },
  args: { ...nameArg, ...expiresArg('agents.default_ttl, 90d'), ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    expiresFlag(args.expires);
    await withServices(ctx, args, async (services) => {
      const { agent } = await updateAgent(services, args.name, { expiresAt: expiresAt(args.expires, services) }, 'cli');
      if (args.json) return printJson(ctx.stdout, { name: agent.name, id: agent.id, expires_at: expiry(agent) });
      ctx.stdout.write(`agent "${agent.name}" renewed; expires: ${expiry(agent) ?? 'never'}\n`);
    });
  },
});

const grant = defineCommand({
  meta: { name: 'grant', description: 'Add grants to an agent (its token stays the same)' },
  args: { ...nameArg, ...grantsArg, ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    let asked: Grant[] = [];
    await withServices(
      ctx,
      args,
      async (services) => {
        const existing = await activeAgent(services, args.name);
        const { grants, added } = addGrants(existing.grants, asked);
        const agent = added.length === 0 ? existing : (await updateAgent(services, args.name, { grants }, 'cli')).agent;
        const addedList = added.map((g) => `${g.backend}:${g.scope}`);
        if (args.json) return printJson(ctx.stdout, { name: agent.name, grants: grantStrings(agent), added: addedList });
        ctx.stdout.write(
          addedList.length === 0
            ? `agent "${agent.name}" already holds ${args.can}; nothing changed\n`
            : `agent "${agent.name}" now holds ${grantStrings(agent).join(', ')}\n`,
        );
      },
      { check: (config) => void (asked = parseGrants(args.can, config)) },
    );
  },
});

const revokeGrant = defineCommand({
  meta: {
    name: 'revoke-grant',
    description: 'Remove grants from an agent; credentials it holds that the rest no longer cover are revoked at once',
  },
  args: { ...nameArg, ...grantsArg, ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    // Removal names grants as held, whether or not the backend is still configured.
    const removed = args.can
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
      .map((part) => {
        const colon = part.indexOf(':');
        if (colon <= 0 || colon === part.length - 1) throw new CreddyError('ERR_USAGE', `grant "${part}" must be BACKEND:SCOPE`);
        return { backend: part.slice(0, colon), scope: part.slice(colon + 1) };
      });
    await withServices(ctx, args, async (services) => {
      const existing = await activeAgent(services, args.name);
      const grants = removeGrants(existing.grants, removed);
      const { agent, credentialsRevoked } = await updateAgent(services, args.name, { grants }, 'cli');
      if (args.json)
        return printJson(ctx.stdout, { name: agent.name, grants: grantStrings(agent), credentials_revoked: credentialsRevoked });
      ctx.stdout.write(
        `agent "${agent.name}" now holds ${grantStrings(agent).join(', ')}; ${credentialsRevoked} credential(s) it held were revoked\n`,
      );
    });
  },
});

async function activeAgent(services: Services, name: string): Promise<AgentRecord> {
  const agent = await services.store.agents.byName(name);
  if (!agent || agent.revokedAt !== null) throw new CreddyError('ERR_NOT_FOUND', `no active agent named "${name}"`);
  return agent;
}

export const agentCommand = defineCommand({
  meta: { name: 'agent', description: 'Manage agents (callers): create, rotate their tokens or keys, change grants, revoke' },
  subCommands: {
    create,
    list,
    revoke,
    'rotate-token': rotateToken,
    renew,
    grant,
    'revoke-grant': revokeGrant,
    key: agentKeyCommand,
  },
});
