import { readFileSync } from 'node:fs';
import { defineCommand } from 'citty';
import { exportBundle } from '../audit/export.js';
import { loadAuditKeys } from '../audit/key.js';
import { type AuditPublicKey, loadAuditSigner, parsePublicKey, publicKeyFormats } from '../audit/signing-key.js';
import { verifyBundle } from '../audit/verify-bundle.js';
import type { ChainReport } from '../audit/verify-chain.js';
import { verifyStore } from '../audit/verify-store.js';
import { parseExpectation, readWitness } from '../audit/witness.js';
import { CreddyError } from '../errors.js';
import { openStore } from '../store/open-store.js';
import { cliConfig, cliPath, jsonArg, operatorArgs, requireExistingStore, withServices } from './context.js';
import { type CliContext, contextOf } from './io.js';
import { checkOutFile, forceArg, writeOutFile } from './out-file.js';
import { isoTime, printJson } from './output.js';
import { timeRangeArgs, timeRangeFromArgs } from './time-range.js';

function readPinned(ctx: CliContext, path: string | undefined): AuditPublicKey | undefined {
  if (path === undefined) return undefined;
  try {
    return parsePublicKey(readFileSync(cliPath(ctx, path), 'utf8'));
  } catch {
    throw new CreddyError('ERR_USAGE', `--pubkey: ${path} is not an Ed25519 public key (PEM or JWK)`);
  }
}

const NO_KEY =
  'cannot verify HMACs: no audit key (set CREDDY_AUDIT_KEY or CREDDY_AUDIT_KEY_FILE, and CREDDY_AUDIT_KEY_PREVIOUS with the earlier keys after key changes)';

function chainJson(r: ChainReport): Record<string, unknown> {
  return {
    events_verified: r.rows,
    first_seq: r.firstSeq,
    last_seq: r.lastSeq,
    last_hash: r.lastHash,
    checkpoints: r.checkpoints,
    latest_checkpoint: r.latestCheckpoint
      ? { seq: r.latestCheckpoint.seq, time: isoTime(r.latestCheckpoint.time), key_id: r.latestCheckpoint.keyId }
      : null,
    hmac: r.hmac,
    problem: r.problem && {
      seq: r.problem.seq,
      kind: r.problem.kind,
      detail: r.problem.detail,
      ...(r.problem.unconfiguredKeys
        ? {
            unconfigured_keys: r.problem.unconfiguredKeys.map((u) => ({
              key_id: u.keyId,
              first_seq: u.firstSeq,
              last_seq: u.lastSeq,
              rows: u.rows,
            })),
          }
        : {}),
    },
  };
}

function chainLine(r: ChainReport): string {
  const range = r.firstSeq === null ? 'no events' : `${r.rows} events (seq ${r.firstSeq}-${r.lastSeq}, head ${r.lastSeq}:${r.lastHash})`;
  const cp = r.latestCheckpoint
    ? `${r.checkpoints} signed checkpoints (latest seq ${r.latestCheckpoint.seq} at ${isoTime(r.latestCheckpoint.time)})`
    : 'no checkpoints';
  return `${range}, ${cp}`;
}

const verify = defineCommand({
  meta: { name: 'verify', description: 'Verify the audit chain and checkpoints, or an export bundle offline (--bundle)' },
  args: {
    bundle: { type: 'string', description: 'Verify this export bundle instead of the database (offline)', valueHint: 'FILE' },
    pubkey: { type: 'string', description: 'Trust only this audit signing public key (PEM or JWK file)', valueHint: 'FILE' },
    witness: {
      type: 'string',
      description: 'The log must still contain the latest checkpoint of this witness (audit.witness file or URL)',
      valueHint: 'FILE|URL',
    },
    expect: { type: 'string', description: 'The log must still contain this head, as printed by an earlier verify', valueHint: 'SEQ:HASH' },
    ...operatorArgs,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    const pinned = readPinned(ctx, args.pubkey);
    if (args.bundle) {
      let tar: Buffer;
      try {
        tar = readFileSync(cliPath(ctx, args.bundle));
      } catch {
        throw new CreddyError('ERR_USAGE', `--bundle: cannot read ${args.bundle}`);
      }
      const keys = loadAuditKeys({ env: ctx.env });
      const report = await verifyBundle(tar, { ...(pinned ? { pinned } : {}), keys });
      const hmacNote =
        report.chain?.hmac === 'verified'
          ? 'HMACs verified with the audit key'
          : 'HMACs NOT checked (no audit key): integrity rests on the signed manifest, signed checkpoints and prev_hash linkage';
      const keyNote =
        report.key === 'pinned'
          ? 'manifest signed by the pinned key'
          : 'manifest signed by the key inside the bundle — pin it with --pubkey to prove who signed';
      if (args.json)
        printJson(ctx.stdout, {
          ok: report.ok,
          key: report.key,
          manifest: report.manifest,
          chain: report.chain && chainJson(report.chain),
          error: report.error,
        });
      else if (report.ok) ctx.stdout.write(`bundle verified: ${chainLine(report.chain!)}; ${keyNote}; ${hmacNote}\n`);
      if (!report.ok) throw new CreddyError('ERR_AUDIT_INVALID', `bundle FAILED verification: ${report.error}`);
      return;
    }
    const expect = args.expect === undefined ? undefined : parseExpectation(args.expect);
    const witnessSource =
      args.witness === undefined ? undefined : /^https?:\/\//.test(args.witness) ? args.witness : cliPath(ctx, args.witness);
    const witnessed = witnessSource === undefined ? undefined : await readWitness(witnessSource);
    if (witnessSource !== undefined && !witnessed) throw new CreddyError('ERR_USAGE', `--witness: ${args.witness} holds no checkpoint yet`);
    const config = cliConfig(ctx, args.config);
    // An auditor's check must not pass on an empty log that a wrong --config just created.
    requireExistingStore(config);
    const store = await openStore(config.store);
    try {
      const keys = loadAuditKeys({ env: ctx.env, dataDir: config.dataDir });
      const report = await verifyStore(store, keys, pinned, {
        ...(witnessed && witnessSource ? { witness: { checkpoint: witnessed, source: witnessSource } } : {}),
        ...(expect ? { expect } : {}),
      });
      if (args.json) printJson(ctx.stdout, { ok: report.problem === null && report.hmac === 'verified', ...chainJson(report) });
      if (report.problem?.unconfiguredKeys) {
        // Rows the configured keys cannot check: the operator's configuration to fix, not an edit
        // found (verify-chain reports any edit it finds before this).
        const unchecked = report.problem.unconfiguredKeys.reduce((n, u) => n + u.rows, 0);
        throw new CreddyError(
          'ERR_CONFIG_INVALID',
          `audit log NOT verified: ${report.problem.detail}. Its other ${report.rows - unchecked} rows match their HMACs, and every row links up`,
        );
      }
      if (report.problem) {
        const { seq, kind, detail } = report.problem;
        throw new CreddyError(
          'ERR_AUDIT_INVALID',
          `audit log FAILED verification at seq ${seq}: ${kind}: ${detail} (${report.rows} events verified before it)`,
        );
      }
      if (report.hmac !== 'verified')
        throw new CreddyError('ERR_AUDIT_INVALID', `${NO_KEY}; NOT verified. Without it: ${chainLine(report)} link up`);
      const anchored = [witnessed && `contains witnessed seq ${witnessed.seq}`, expect && `contains seq ${expect.seq} as expected`].filter(
        Boolean,
      );
      if (!args.json)
        ctx.stdout.write(`audit log verified: ${chainLine(report)}; HMACs verified${anchored.map((a) => `; ${a}`).join('')}\n`);
    } finally {
      await store.close();
    }
  },
});

const exportCmd = defineCommand({
  meta: { name: 'export', description: 'Write a signed, offline-verifiable bundle of audit events (tar, mode 0600)' },
  args: {
    out: { type: 'string', description: 'Bundle file to create, or - for standard output', required: true, valueHint: 'FILE' },
    ...forceArg,
    ...timeRangeArgs,
    ...operatorArgs,
    ...jsonArg,
  },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const now = services.clock.now();
      const range = timeRangeFromArgs(args, now);
      const keys = loadAuditKeys({ env: ctx.env, dataDir: services.config.dataDir });
      const signer = await loadAuditSigner({ store: services.store, keks: services.keks, now: () => services.clock.now() });
      // `--out -`: the tar goes to stdout, so what is said about it goes to stderr.
      const toStdout = args.out === '-';
      const path = cliPath(ctx, args.out);
      const force = args.force === true;
      if (!toStdout) checkOutFile(path, args.out, force);
      const manifest = await exportBundle(
        { store: services.store, keys, signer, issuer: services.config.issuer, now: () => services.clock.now() },
        { out: toStdout ? (tar) => void ctx.stdout.write(tar) : (tar) => writeOutFile(path, args.out, tar, force), ...range },
      );
      const report = toStdout ? ctx.stderr : ctx.stdout;
      if (args.json) return printJson(report, { out: args.out, manifest });
      const { count, first_seq: first, last_seq: last } = manifest.events;
      report.write(
        `wrote ${toStdout ? 'the bundle to standard output' : args.out}: ${count} events${count ? ` (seq ${first}-${last})` : ''}, ${manifest.checkpoints} checkpoints, signed by audit key ${manifest.signing_key.kid}\n`,
      );
    });
  },
});

const pubkey = defineCommand({
  meta: { name: 'pubkey', description: 'Print the audit signing public key (PEM; --json for a JWK)' },
  args: { ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const signer = await loadAuditSigner({ store: services.store, keks: services.keks, now: () => services.clock.now() });
      const { pem, jwk } = publicKeyFormats(signer.publicX);
      if (args.json) return printJson(ctx.stdout, jwk);
      ctx.stdout.write(pem);
    });
  },
});

export const auditVerifyCommands = { verify, export: exportCmd, pubkey };
