import { readFile } from 'node:fs/promises';
import { systemClock } from '../_utils/clock.js';
import { formatDuration } from '../_utils/duration.js';
import { type Explanation, explainToken } from '../agents/federation/explain.js';
import { createFederation } from '../agents/federation/index.js';
import { CreddyError } from '../errors.js';
import { cliConfig, cliLogger, cliPath, jsonArg, operatorArgs } from './context.js';
import { defineCommand } from './define-command.js';
import type { ChildExit } from './exec.js';
import { contextOf, readStdin } from './io.js';
import { printJson } from './output.js';

const explain = defineCommand({
  meta: {
    name: 'explain',
    description:
      'Show how every federation rule judges an OIDC ID token, and what it would be granted (reads the config); exit 1 when the token would be refused',
  },
  args: {
    token: { type: 'string', description: 'File holding the ID token, or - for stdin', required: true, valueHint: 'FILE|-' },
    ...operatorArgs,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const text = args.token === '-' ? await readStdin(ctx) : await readTokenFile(cliPath(ctx, args.token));
    const config = cliConfig(ctx, args.config);
    if (config.federation.rules.length === 0) throw new CreddyError('ERR_USAGE', `${config.source} has no federation rules`);
    const deps = { config, clock: systemClock, logger: cliLogger(ctx.stderr) };
    let explanation: Explanation;
    try {
      explanation = await explainToken(createFederation(deps), deps, text);
    } catch (err) {
      if (err instanceof CreddyError) throw err;
      throw new CreddyError('ERR_USAGE', `--token: ${(err as Error).message}`);
    }
    if (args.json) printJson(ctx.stdout, explanation);
    else ctx.stdout.write(render(explanation));
    // A script asks "would this token be refused?" by the exit code, as `doctor` and `health` answer.
    return refused(explanation) ? ({ exitCode: 1 } satisfies ChildExit) : undefined;
  },
});

async function readTokenFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CreddyError('ERR_USAGE', `--token: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The human form: the token's facts, the signature verdict, then each rule condition by condition. */
function render(e: Explanation): string {
  const lines: string[] = [];
  const t = e.token;
  lines.push(`token     iss ${t.iss ?? '-'}  sub ${t.sub ?? '-'}  aud ${t.aud.join(' ') || '-'}`);
  lines.push(`          alg ${t.alg ?? '-'}  kid ${t.kid ?? '-'}  jti ${t.jti ?? '-'}  expires ${t.expires_at ?? '-'}`);
  lines.push(`signature ${e.signature.status.toUpperCase().replace('_', ' ')}: ${e.signature.detail}`);
  for (const rule of e.rules) {
    const mark =
      rule.name === e.selected ? 'MATCH (selected: the first matching rule)' : rule.matched ? 'match (an earlier rule wins)' : 'no match';
    lines.push('', `rule ${rule.name}: ${mark}`);
    const width = Math.max(...rule.conditions.map((c) => c.claim.length));
    for (const c of rule.conditions) {
      const expected = c.expected.length === 1 ? c.expected[0] : `one of ${c.expected.join(', ')}`;
      const verdict = c.matched ? 'matched    ' : 'NOT matched';
      lines.push(
        `  ${c.claim.padEnd(width)}  ${verdict}  want ${expected}  got ${c.actual === null ? '(absent)' : JSON.stringify(c.actual)}`,
      );
    }
    lines.push(`  subject  ${rule.subject ?? `(cannot be formed: ${rule.subject_problem})`}${rule.single_use ? '  [single_use]' : ''}`);
    const grants = rule.grants.map((g) => `${g.backend}:${g.scope}${g.max_ttl === null ? '' : ` (ttl ≤ ${formatDuration(g.max_ttl)})`}`);
    lines.push(`  grants   ${grants.join(', ')}`);
  }
  lines.push('', verdict(e));
  return `${lines.join('\n')}\n`;
}

/**
 * A refusal: the signature (or iss, aud, a time claim) failed, or no rule matches. A match whose
 * signature could not be checked here (the issuer's keys unreachable) is not one: its claims
 * match a rule, and `would_accept` in --json says it was not verified.
 */
function refused(e: Explanation): boolean {
  return e.signature.status === 'invalid' || e.selected === null;
}

function verdict(e: Explanation): string {
  const selected = e.rules.find((r) => r.name === e.selected);
  if (e.signature.status === 'invalid') return `refused: ${e.signature.detail}`;
  if (!selected) return 'refused: no rule matches';
  if (e.would_accept) return `accepted: as ${selected.subject} (rule ${selected.name})`;
  return `would match rule ${selected.name} as ${selected.subject}, but the signature was not verified here (${e.signature.status})`;
}

export const federationCommand = defineCommand({
  meta: { name: 'federation', description: 'OIDC workload federation (CI jobs without stored secrets)' },
  subCommands: { explain },
});
