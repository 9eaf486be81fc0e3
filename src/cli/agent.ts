import { defineCommand } from 'citty';
import { isoSeconds, nowSeconds } from '../_utils/clock.js';
import { parseDuration } from '../_utils/duration.js';
import { createAgent, createKeyPairAgent } from '../agents/create.js';
import { parseGrants } from '../agents/grants.js';
import { revokeAgent } from '../agents/revoke.js';
import { CreddyError } from '../errors.js';
import { agentStatus } from '../model/agent.js';
import { agentKeyCommand, keyArgs, printKeyPairAgent, withAgentKey } from './agent-key.js';
import { jsonArg, operatorArgs, withServices } from './context.js';
import { contextOf } from './io.js';
import { printJson, printTable } from './output.js';

const create = defineCommand({
  meta: { name: 'create', description: 'Create an agent and print its token once (or register its public key)' },
  args: {
    name: { type: 'positional', description: 'Agent name', required: true },
    can: { type: 'string', description: 'Grants: BACKEND:SCOPE[,BACKEND:SCOPE…]', required: true, valueHint: 'GRANTS' },
    expires: { type: 'string', description: 'Agent lifetime, e.g. 30d (default: never)', valueHint: 'DURATION' },
    ...keyArgs,
    'require-dpop': { type: 'boolean', description: 'Issue this agent only DPoP-bound credentials (RFC 9449)' },
    ...operatorArgs,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const ttl = args.expires === undefined ? null : parseDuration(args.expires);
    if (ttl === undefined || ttl === 0) throw new CreddyError('ERR_USAGE', `--expires: invalid duration "${args.expires}"`);
    await withServices(ctx, args, async (services) => {
      const grants = parseGrants(args.can, services);
      const input = { name: args.name, grants, ttlSeconds: ttl, actor: 'cli', requireDpop: args['require-dpop'] === true };
      const { result, written } = await withAgentKey(ctx, args, async (key) =>
        key === undefined ? createAgent(services, input) : createKeyPairAgent(services, { ...input, publicKeys: [key] }),
      );
      const { agent } = result;
      const token = 'token' in result ? result.token : undefined;
      const grantList = agent.grants.map((g) => `${g.backend}:${g.scope}`);
      const expiresAt = agent.expiresAt === null ? null : isoSeconds(agent.expiresAt);
      const dpop = agent.requireDpop ? '; DPoP-bound credentials only' : '';
      if (token === undefined && 'keys' in result) return printKeyPairAgent(ctx, args.json === true, agent, result.keys, written);
      if (args.json) {
        return printJson(ctx.stdout, {
          name: agent.name,
          token,
          grants: grantList,
          expires_at: expiresAt,
          ...(agent.requireDpop ? { require_dpop: true } : {}),
        });
      }
      ctx.stderr.write(`created agent "${agent.name}" (grants: ${grantList.join(', ')}; expires: ${expiresAt ?? 'never'}${dpop})\n`);
      ctx.stderr.write('the token below is shown once; store it now:\n');
      ctx.stdout.write(`${token}\n`);
    });
  },
});

const list = defineCommand({
  meta: { name: 'list', description: 'List agents (never their tokens)' },
  args: { ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const now = nowSeconds(services.clock);
      const rows = (await services.store.agents.list()).map((a) => ({
        name: a.name,
        status: agentStatus(a, now),
        grants: a.grants.map((g) => `${g.backend}:${g.scope}`),
        created_at: isoSeconds(a.createdAt),
        expires_at: a.expiresAt === null ? null : isoSeconds(a.expiresAt),
        revoked_at: a.revokedAt === null ? null : isoSeconds(a.revokedAt),
      }));
      if (args.json) return printJson(ctx.stdout, rows);
      printTable(ctx.stdout, rows, ['name', 'status', 'grants', 'created_at', 'expires_at'], '(no agents)');
    });
  },
});

const revoke = defineCommand({
  meta: { name: 'revoke', description: 'Revoke an agent and every credential it holds; a running server refuses its token at once' },
  args: { name: { type: 'positional', description: 'Agent name', required: true }, ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const { credentialsRevoked } = await revokeAgent(services, args.name, 'cli');
      if (args.json) return printJson(ctx.stdout, { name: args.name, revoked: true, credentials_revoked: credentialsRevoked });
      ctx.stdout.write(`revoked agent "${args.name}" and ${credentialsRevoked} active credential(s)\n`);
    });
  },
});

export const agentCommand = defineCommand({
  meta: { name: 'agent', description: 'Manage agents (callers) and their grants' },
  subCommands: { create, list, revoke, key: agentKeyCommand },
});
