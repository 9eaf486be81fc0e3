import { jsonArg, operatorArgs } from './context.js';
import { defineCommand } from './define-command.js';
import { type Check, checkConfig, checkSecrets, checkStore } from './doctor-local.js';
import { checkBackends, checkJwks } from './doctor-remote.js';
import type { ChildExit } from './exec.js';
import { type CliContext, contextOf } from './io.js';
import { printJson } from './output.js';

/** One line per check: status, what was checked, what was found, and for a warn or fail the fix. */
function report(ctx: CliContext, checks: readonly Check[], json: boolean): ChildExit | undefined {
  const ok = checks.every((c) => c.status !== 'fail');
  if (json) printJson(ctx.stdout, { ok, checks });
  else {
    const width = Math.max(...checks.map((c) => c.check.length));
    for (const c of checks)
      ctx.stdout.write(`${c.status.padEnd(4)}  ${c.check.padEnd(width)}  ${c.message}${c.fix ? ` — fix: ${c.fix}` : ''}\n`);
  }
  return ok ? undefined : { exitCode: 1 };
}

export const doctorCommand = defineCommand({
  meta: {
    name: 'doctor',
    description:
      'Check a deployment: config, KEK and audit key, store and schema, each backend, clock skew, the JWKS at the issuer (changes nothing)',
  },
  args: { ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const { config, checks } = checkConfig(ctx, args.config);
    if (config) {
      const secrets = checkSecrets(ctx.env, config);
      const store = await checkStore(ctx.env, config, secrets.keks);
      checks.push(...secrets.checks, ...store.checks, ...(await checkBackends(config)), await checkJwks(config, store.currentKid));
    }
    return report(ctx, checks, args.json === true);
  },
});

const check = defineCommand({
  meta: { name: 'check', description: 'Check the config file alone: every problem at once, each under its key path' },
  args: { ...operatorArgs, ...jsonArg },
  run({ args, data }) {
    const ctx = contextOf(data);
    return report(ctx, checkConfig(ctx, args.config).checks, args.json === true);
  },
});

export const configCommand = defineCommand({
  meta: { name: 'config', description: 'Check the configuration' },
  subCommands: { check },
});
