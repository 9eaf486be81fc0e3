import { isoSeconds, nowSeconds } from '../_utils/clock.js';
import { rewrapAuditSigningKeys, type SkippedAuditKey } from '../audit/signing-key.js';
import { CreddyError, isCreddyError } from '../errors.js';
import { revokeKey } from '../keys/revoke-key.js';
import { rewrapKeys, type SkippedKey } from '../keys/rewrap.js';
import { rewrapRevocationHandles, type SkippedHandle } from '../keys/rewrap-handles.js';
import { type RotateResult, rotateKeys } from '../keys/rotate.js';
import { planFor } from '../keys/timing.js';
import { activeKeys } from '../keys/transition.js';
import { rewrapSecrets, type SkippedSecretValue } from '../secrets/rewrap.js';
import { jsonArg, operatorArgs, withServices } from './context.js';
import { countdown } from './countdown.js';
import { defineCommand } from './define-command.js';
import { type CliContext, type CliOutput, contextOf } from './io.js';
import { printable, printJson, printTable } from './output.js';

const iso = (seconds: number | null): string | null => (seconds === null ? null : isoSeconds(seconds));
// printable: a skipped row's jti, agent, backend or path is whatever its writer put there.
const say = (stderr: CliOutput, line: string): void => void stderr.write(`creddy: ${printable(line)}\n`);

const list = defineCommand({
  meta: { name: 'list', description: 'List signing keys: kid, state, lifecycle times, planned transitions, tokens signed' },
  args: { ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const records = await services.store.keys.list();
      const usage = await services.store.keys.usage(records.map((r) => r.kid));
      const published = new Set(services.keyring.jwks().kids);
      const rows = records.map((r) => {
        const lastExp = usage.get(r.kid)?.lastExp ?? 0;
        const plan = planFor(r, records, lastExp, services.config.keys);
        return {
          kid: r.kid,
          state: r.state,
          published: published.has(r.kid),
          created_at: iso(r.createdAt),
          published_at: iso(r.publishedAt),
          activated_at: iso(r.activatedAt),
          retired_at: iso(r.retiredAt),
          revoked_at: iso(r.revokedAt),
          planned_activation: iso(plan.plannedActivation),
          planned_retirement: iso(plan.plannedRetirement),
          planned_removal: iso(plan.plannedRemoval),
          tokens_signed: usage.get(r.kid)?.count ?? 0,
          last_exp: lastExp ? iso(lastExp) : null,
        };
      });
      if (args.json) return printJson(ctx.stdout, rows);
      const planned = (row: (typeof rows)[number]): string =>
        row.planned_activation
          ? `signs from ${row.planned_activation}`
          : row.planned_retirement
            ? `retires at ${row.planned_retirement}`
            : row.planned_removal && row.state === 'retired'
              ? `${row.published ? 'leaves' : 'left'} JWKS ${row.planned_removal}`
              : row.state === 'revoked'
                ? `removed ${row.revoked_at}`
                : '-';
      printTable(
        ctx.stdout,
        rows.map((row) => ({ ...row, planned: planned(row) })),
        ['kid', 'state', 'published', 'created_at', 'activated_at', 'retired_at', 'planned', 'tokens_signed'],
      );
    });
  },
});

const rotate = defineCommand({
  meta: {
    name: 'rotate',
    description:
      'Promote the next key to current and publish a new next; fails at once (ERR_NOT_YET, with the time) until next has been published for publish_ahead',
  },
  args: {
    ...operatorArgs,
    ...jsonArg,
    wait: { type: 'boolean', description: 'Wait until rotation is possible (a countdown on a terminal, a line a minute otherwise)' },
    force: { type: 'boolean', description: 'Promote next at once even if verifiers may not have cached it yet (emergency)' },
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(
      ctx,
      args,
      async (services) => {
        // The current key as this command found it, read once: a rotation by another process
        // while --wait waits satisfies the request (rotated: false). Left to each attempt, the
        // next one would take the new current for the one to replace and rotate a second time.
        const current = activeKeys(await services.store.keys.list()).current?.kid;
        const options = {
          actor: 'cli',
          force: args.force === true,
          ...(current === undefined ? {} : { expectCurrent: current }),
          ...optionalCrash(ctx),
        } as const;
        let result: RotateResult;
        for (;;) {
          try {
            result = await rotateKeys(services, options);
            break;
          } catch (err) {
            if (!args.wait || !isCreddyError(err, 'ERR_NOT_YET')) throw err;
            const readyAt = Date.parse(String(err.details?.['ready_at']));
            const kid = String(err.details?.['next_kid']);
            await countdown(
              ctx.stderr,
              readyAt,
              () => services.clock.now(),
              (left) =>
                `creddy: rotation possible in ${left} (next key ${kid} signs from ${isoSeconds(readyAt / 1000)}); --force skips the wait`,
            );
          }
        }
        if (args.json) return printJson(ctx.stdout, result);
        const how = result.rotated ? `rotated: retired ${result.retired}` : 'another process rotated the keys just now';
        ctx.stdout.write(`${how}\ncurrent ${result.current}\nnext    ${result.next}\n`);
      },
      { mayCreate: true },
    );
  },
});

const revoke = defineCommand({
  meta: { name: 'revoke', description: 'Revoke a signing key: it leaves the JWKS at once and its tokens stop verifying' },
  args: {
    kid: { type: 'positional', description: 'The key id (see creddy keys list)', required: true },
    ...operatorArgs,
    ...jsonArg,
    force: { type: 'boolean', description: 'Allow revoking the current key (next is promoted at once)' },
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const result = await revokeKey(services, args.kid, { actor: 'cli', force: args.force === true });
      if (args.json) {
        const { alreadyRevoked, ...rest } = result;
        return printJson(ctx.stdout, { ...rest, already_revoked: alreadyRevoked });
      }
      const what = result.alreadyRevoked ? `key ${result.kid} was already revoked` : `revoked ${result.was} key ${result.kid}`;
      ctx.stdout.write(`${what}\ncurrent ${result.current}\nnext    ${result.next}\n`);
    });
  },
});

const rewrap = defineCommand({
  meta: {
    name: 'rewrap',
    description:
      'Re-encrypt everything sealed under the KEK (signing keys, audit checkpoint key, revocation handles, secret values) under CREDDY_KEK (old rows open with CREDDY_KEK_PREVIOUS); resumable',
  },
  args: { ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const result = await rewrapKeys(services, {
        actor: 'cli',
        onProgress: (done, total, kid) => say(ctx.stderr, `rewrapped ${done}/${total} (${kid})`),
        onSkip: (skip) => say(ctx.stderr, `skipped ${skip.kid} (${skip.state}): ${skip.problem}`),
        ...optionalCrash(ctx),
      });
      // The audit checkpoint signing key is sealed under the same KEK: the old KEK may only be
      // dropped once it is re-sealed too.
      const auditKeys = await rewrapAuditSigningKeys(services);
      for (const skip of auditKeys.skipped) say(ctx.stderr, `skipped audit signing key ${skip.kid}: ${skip.problem}`);
      // …and so are the downstream revocation handles (GitHub tokens, PostgreSQL roles).
      const handles = await rewrapRevocationHandles(services);
      for (const skip of handles.skipped)
        say(
          ctx.stderr,
          `skipped revocation handle of credential ${skip.jti} (agent ${skip.agent}, backend ${skip.backend}): ${skip.problem}`,
        );
      // …and so are stored secret values.
      const secrets = await rewrapSecrets(services, 'cli');
      for (const skip of secrets.skipped) say(ctx.stderr, `skipped secret value ${skip.path} version ${skip.version}: ${skip.problem}`);
      if (args.json)
        printJson(ctx.stdout, {
          rewrapped: result.rewrapped,
          already_current: result.alreadyCurrent,
          skipped: result.skipped.map((k) => ({ kid: k.kid, state: k.state, kek_id: k.kekId, problem: k.problem })),
          total: result.total,
          kek_id: result.kekId,
          audit_signing_keys_rewrapped: auditKeys.rewrapped,
          audit_signing_keys_skipped: auditKeys.skipped.map((k) => ({ kid: k.kid, kek_id: k.kekId, problem: k.problem })),
          revocation_handles_rewrapped: handles.rewrapped,
          revocation_handles_skipped: handles.skipped.map((h) => ({
            jti: h.jti,
            agent: h.agent,
            backend: h.backend,
            downstream_expires_at: h.downstreamExpiresAt,
            problem: h.problem,
          })),
          secret_values_rewrapped: secrets.rewrapped,
          secret_values_already_current: secrets.alreadyCurrent,
          secret_values_skipped: secrets.skipped.map((v) => ({
            path: v.path,
            version: v.version,
            current: v.current,
            kek_id: v.kekId,
            problem: v.problem,
          })),
        });
      else {
        const note = (n: number): string => (n > 0 ? ` (${n} skipped: no configured KEK opens them)` : '');
        const skippedNote = note(result.skipped.length);
        const auditNote = note(auditKeys.skipped.length);
        const handlesNote = note(handles.skipped.length);
        const secretsNote = note(secrets.skipped.length);
        const anySkipped = skippedNote || auditNote || handlesNote || secretsNote;
        ctx.stdout.write(
          `rewrapped ${result.rewrapped} of ${result.total} signing keys${skippedNote}, ${auditKeys.rewrapped} audit signing key(s)${auditNote}, ${handles.rewrapped} revocation handle(s)${handlesNote} and ${secrets.rewrapped} secret value(s)${secretsNote}; all ${anySkipped ? 'others ' : ''}are now sealed by KEK ${result.kekId}\n` +
            // Rows sealed by the new KEK only: a broker still configured with the old one alone
            // runs until its next start, which then fails (docs/keys.md "KEK rotation").
            `next: every running broker must have this KEK (CREDDY_KEK) before it next starts — one started with the old KEK alone fails with ERR_KEK_INVALID; restart any that lack it, then drop CREDDY_KEK_PREVIOUS everywhere and restart them\n`,
        );
      }
      failOnSkipped(ctx, nowSeconds(services.clock), {
        keys: result.skipped,
        auditKeys: auditKeys.skipped,
        handles: handles.skipped,
        secrets: secrets.skipped,
      });
    });
  },
});

/**
 * Exits non-zero (after the report) when rewrap left a row that can still be fixed or removed:
 * scripts must notice a row no configured KEK opens before CREDDY_KEK_PREVIOUS is dropped. If the
 * rows are the operator's own, the previous KEK is not the one that sealed them (the fix: set it,
 * re-run). If not, each kind has its way out, named in the error:
 * - a signing key that is not revoked: `keys revoke` (a revoked row is never published nor signs,
 *   so a revoked one is only named);
 * - a revocation handle: creddy cannot revoke that downstream credential early; the handle is
 *   dropped once its credential's downstream part expires (the reaper), so the status clears;
 * - a secret value: `secret delete` erases the path's values at once (a previous version is
 *   erased when its grace ends anyway); agents served that path are refused until then.
 *
 * An audit signing-key row that does not open is named too, but on its own is a warning, exit 0:
 * such rows cannot be revoked nor deleted (old checkpoints name them), so an exit 1 would stay
 * for good and teach scripts to ignore rewrap's status. It costs nothing to leave: a row no KEK
 * opens never signs and anchors nothing (`audit verify` lists it as NOT trusted), and no
 * configured KEK opens it, so dropping CREDDY_KEK_PREVIOUS changes nothing for it.
 */
function failOnSkipped(
  ctx: CliContext,
  now: number,
  skipped: {
    keys: readonly SkippedKey[];
    auditKeys: readonly SkippedAuditKey[];
    handles: readonly SkippedHandle[];
    secrets: readonly SkippedSecretValue[];
  },
): void {
  const live = skipped.keys.filter((k) => k.state !== 'revoked');
  const { auditKeys, handles, secrets } = skipped;
  const audit =
    auditKeys.length === 0
      ? ''
      : `${auditKeys.length} audit signing key row(s) not rewrapped, opened by neither CREDDY_KEK nor CREDDY_KEK_PREVIOUS: ${auditKeys.map((k) => k.kid).join(', ')}. ` +
        'A row written without the KEK never signs and anchors nothing (`audit verify` lists it as NOT trusted); audit signing keys are never deleted (old checkpoints name them), so rewrap names such a row each time; no KEK opens it, so dropping CREDDY_KEK_PREVIOUS loses nothing. ';
  const yours = 'If the rows are yours, set CREDDY_KEK_PREVIOUS to the KEK that sealed them and re-run rewrap';
  const failures: string[] = [];
  if (live.length > 0)
    failures.push(
      `${live.length} signing key row(s) not rewrapped, opened by neither CREDDY_KEK nor CREDDY_KEK_PREVIOUS: ${live.map((k) => `${k.kid} (${k.state})`).join(', ')}; every other row was rewrapped. ` +
        'A row written without the KEK (docs/keys.md "Rows the KEK does not open") is never published nor used to sign: revoke it with `creddy keys revoke KID` (`--force` for the current key), then re-run rewrap. ',
    );
  // A handle whose credential has expired, downstream part included, guards nothing any more; the
  // reaper may never clear it (it cannot open it either), so it is named but does not fail.
  const liveHandles = handles.filter((h) => h.spentAt > now);
  const spent = handles.filter((h) => h.spentAt <= now);
  const named = (list: readonly SkippedHandle[]) => list.map((h) => printable(`${h.jti} (backend ${h.backend})`)).join(', ');
  if (liveHandles.length > 0)
    failures.push(
      `${liveHandles.length} revocation handle(s) not rewrapped, opened by neither CREDDY_KEK nor CREDDY_KEK_PREVIOUS: credential(s) ${named(liveHandles)}; every other handle was rewrapped. ` +
        "creddy cannot revoke these credentials' downstream part early (revoke it at its source if it must end now); each stops counting once the credential and its downstream part have expired, and rewrap then succeeds. ",
    );
  const warnings =
    spent.length === 0
      ? ''
      : `${spent.length} revocation handle(s) of expired credentials not rewrapped, opened by no configured KEK: ${named(spent)}; there is nothing left to revoke, so they do not fail rewrap. `;
  if (secrets.length > 0)
    failures.push(
      `${secrets.length} secret value(s) not rewrapped, opened by neither CREDDY_KEK nor CREDDY_KEK_PREVIOUS: ${secrets.map((v) => printable(`${v.path} version ${v.version}`)).join(', ')}; every other value was rewrapped. ` +
        'No agent can be served such a value; a value written without the KEK is removed with `creddy secret delete PATH` (all its versions are erased; `secret put` stores it anew), then re-run rewrap. ',
    );
  if (failures.length === 0) {
    if (audit || warnings) ctx.stderr.write(`creddy: warning: ${warnings}${audit}${yours}\n`);
    return;
  }
  throw new CreddyError('ERR_KEK_INVALID', `${failures.join('')}${warnings}${audit}${yours}`);
}

/** The crash hook a test passed in, spread in only when set (exactOptionalPropertyTypes). */
function optionalCrash(ctx: CliContext): { crash?: (step: string) => void } {
  return ctx.hooks.crash ? { crash: ctx.hooks.crash } : {};
}

export const keysCommand = defineCommand({
  meta: { name: 'keys', description: 'Inspect, rotate, revoke and rewrap signing keys' },
  subCommands: { list, rotate, revoke, rewrap },
});
