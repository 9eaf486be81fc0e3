import { readFileSync, statSync } from 'node:fs';
import { systemClock } from '../_utils/clock.js';
import { type BundleBytes, bundleBytes, openBundleFile } from '../audit/bundle-tar.js';
import { type BundleSink, exportBundle } from '../audit/export.js';
import { loadAuditKeys } from '../audit/key.js';
import { type AuditPublicKey, loadAuditSigner } from '../audit/signing-key.js';
import { type BundleReport, verifyBundle } from '../audit/verify-bundle.js';
import { CreddyError } from '../errors.js';
import { chainJson, chainLine } from './audit-report.js';
import { cliPath, jsonArg, operatorArgs, withServices } from './context.js';
import { defineCommand } from './define-command.js';
import { type CliContext, type CliOutput, contextOf } from './io.js';
import { checkOutFile, forceArg, openOutFile } from './out-file.js';
import { printJson } from './output.js';
import { countOf, progressOf } from './progress.js';
import { timeRangeArgs, timeRangeFromArgs } from './time-range.js';

/** A file is read piece by piece as verification goes; anything else (a pipe) whole, as it can be read only once. */
function openBundle(ctx: CliContext, path: string): BundleBytes & { close(): void } {
  const full = cliPath(ctx, path);
  try {
    if (statSync(full).isFile()) return openBundleFile(full);
    return { ...bundleBytes(readFileSync(full)), close: () => {} };
  } catch {
    throw new CreddyError('ERR_USAGE', `--bundle: cannot read ${path}`);
  }
}

const PIN_HINT =
  "Pin the audit signing public key with --public-key FILE (the output of 'creddy audit pubkey', received through a channel you trust), or set CREDDY_AUDIT_KEY so every event's HMAC is checked; --unpinned accepts the self-consistency check alone";

function hmacNote(report: BundleReport): string {
  if (report.chain?.hmac !== 'verified')
    return report.authenticated
      ? 'HMACs NOT checked (no audit key): integrity rests on the signed manifest, signed checkpoints and prev_hash linkage'
      : 'HMACs NOT checked (no audit key)';
  return report.chain.rows > 0 ? 'HMACs verified with the audit key' : 'no events, so no HMAC to check';
}

/**
 * `audit verify --bundle`: exits 0 only for a bundle whose origin is established — its manifest
 * verifies under `pinned`, or the audit key checked its events' HMACs — or, with `unpinned`, one
 * that is merely self-consistent, which the output says proves nothing about who made it.
 */
export async function verifyBundleCommand(
  ctx: CliContext,
  args: { bundle: string; json?: boolean; unpinned?: boolean },
  pinned: AuditPublicKey | undefined,
): Promise<void> {
  if (args.unpinned && pinned)
    throw new CreddyError('ERR_USAGE', '--unpinned and --public-key exclude each other: the pinned key is the real check');
  const keys = loadAuditKeys({ env: ctx.env });
  const bundle = openBundle(ctx, args.bundle);
  const progress = progressOf(ctx);
  let report: BundleReport;
  try {
    report = await verifyBundle(bundle, {
      ...(pinned ? { pinned } : {}),
      keys,
      onProgress: (n, total) => progress.update(() => `verifying ${countOf(n, total, 'events')}`),
    });
  } finally {
    progress.done();
    bundle.close();
  }
  const accepted = report.ok || (args.unpinned === true && report.consistent);
  if (args.json)
    printJson(ctx.stdout, {
      ok: accepted,
      key: report.key,
      self_consistent: report.consistent,
      authenticated: report.authenticated,
      manifest: report.manifest,
      chain: report.chain && chainJson(report.chain),
      error: accepted ? null : report.error,
    });
  if (!report.consistent) throw new CreddyError('ERR_AUDIT_INVALID', `bundle FAILED verification: ${report.error}`);
  const chain = report.chain!;
  if (!accepted)
    throw new CreddyError('ERR_AUDIT_INVALID', `bundle NOT verified, ${report.error}; it holds ${chainLine(chain)}. ${PIN_HINT}`);
  if (args.json) return;
  if (report.authenticated) {
    const keyNote =
      report.key === 'pinned'
        ? 'manifest signed by the pinned key'
        : 'manifest signed by the key inside the bundle — pin it with --public-key to prove who signed it and that no events were cut from either end';
    ctx.stdout.write(`bundle verified: ${chainLine(chain)}; ${keyNote}; ${hmacNote(report)}\n`);
    return;
  }
  ctx.stdout.write(
    `bundle self-consistent, origin NOT verified (--unpinned): ${chainLine(chain)}; manifest signed by the key inside the bundle (${report.manifest?.signing_key.kid}), which anyone can make, so this proves nothing about who wrote it or whether it was altered; ${hmacNote(report)}. Pin the key with --public-key to verify it\n`,
  );
}

/** Hands the bundle to stdout a chunk at a time, waiting while a slow reader's pipe is full. */
function outputSink(out: CliOutput): BundleSink {
  return (chunk) => {
    const stream = out as Partial<NodeJS.WritableStream>;
    if (out.write(chunk) !== false || typeof stream.once !== 'function') return;
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: unknown): void => {
        stream.removeListener?.('drain', settle);
        stream.removeListener?.('error', settle);
        if (err) reject(err);
        else resolve();
      };
      stream.once?.('drain', settle);
      stream.once?.('error', settle);
    });
  };
}

export const exportCommand = defineCommand({
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
    // Flags first: a typo or an existing --out is reported as such, not as a missing database.
    const range = timeRangeFromArgs(args, systemClock.now());
    // `--out -`: the tar goes to stdout, so what is said about it goes to stderr.
    const toStdout = args.out === '-';
    const path = cliPath(ctx, args.out);
    const force = args.force === true;
    if (!toStdout) checkOutFile(path, args.out, force);
    await withServices(ctx, args, async (services) => {
      const keys = loadAuditKeys({ env: ctx.env, dataDir: services.config.dataDir });
      const signer = await loadAuditSigner({
        store: services.store,
        keks: services.keks,
        now: () => services.clock.now(),
        logger: services.logger,
      });
      const progress = progressOf(ctx);
      let manifest: Awaited<ReturnType<typeof exportBundle>>;
      try {
        manifest = await exportBundle(
          { store: services.store, keys, signer, issuer: services.config.issuer, now: () => services.clock.now() },
          {
            out: toStdout ? { write: outputSink(ctx.stdout) } : openOutFile(path, args.out, force),
            onProgress: (phase, n, total) => progress.update(() => `${phase} ${countOf(n, total, 'events')}`),
            ...range,
          },
        );
      } finally {
        progress.done();
      }
      const report = toStdout ? ctx.stderr : ctx.stdout;
      if (args.json) return printJson(report, { out: args.out, manifest });
      const { count, first_seq: first, last_seq: last } = manifest.events;
      report.write(
        `wrote ${toStdout ? 'the bundle to standard output' : args.out}: ${count} events${count ? ` (seq ${first}-${last})` : ''}, ${manifest.checkpoints} checkpoints, signed by audit key ${manifest.signing_key.kid}\n`,
      );
    });
  },
});
