import { readFileSync } from 'node:fs';
import { loadAuditKeys } from '../audit/key.js';
import { type AuditPublicKey, loadAuditSigner, parsePublicKey, publicKeyFormats } from '../audit/signing-key.js';
import { type CheckpointTrust, verifyStore } from '../audit/verify-store.js';
import { parseExpectation, readWitness } from '../audit/witness.js';
import { CreddyError } from '../errors.js';
import { configuredKeks } from '../keys/kek.js';
import { openStore } from '../store/open-store.js';
import { exportCommand, verifyBundleCommand } from './audit-bundle.js';
import { chainJson, chainLine, trustJson, trustLine } from './audit-report.js';
import { cliConfig, cliPath, jsonArg, operatorArgs, requireExistingStore, withServices } from './context.js';
import { defineCommand } from './define-command.js';
import { type CliContext, contextOf } from './io.js';
import { printJson } from './output.js';

function readPinned(ctx: CliContext, path: string | undefined): AuditPublicKey | undefined {
  if (path === undefined) return undefined;
  try {
    return parsePublicKey(readFileSync(cliPath(ctx, path), 'utf8'));
  } catch {
    throw new CreddyError('ERR_USAGE', `--public-key: ${path} is not an Ed25519 public key (PEM or JWK)`);
  }
}

const NO_KEY =
  'cannot verify HMACs: no audit key (set CREDDY_AUDIT_KEY or CREDDY_AUDIT_KEY_FILE, and CREDDY_AUDIT_KEY_PREVIOUS with the earlier keys after key changes)';

const verify = defineCommand({
  meta: { name: 'verify', description: 'Verify the audit chain and checkpoints, or an export bundle offline (--bundle)' },
  args: {
    bundle: { type: 'string', description: 'Verify this export bundle instead of the database (offline)', valueHint: 'FILE' },
    // --public-key, as agent create and agent key add spell it; --pubkey was its first name and stays for scripts.
    'public-key': {
      type: 'string',
      alias: 'pubkey',
      description: "Trust only this audit signing public key (PEM or JWK file: 'creddy audit pubkey')",
      valueHint: 'FILE',
    },
    unpinned: {
      type: 'boolean',
      description:
        'With --bundle, no --public-key and no audit key: accept a bundle that is only self-consistent (proves nothing about who made it)',
    },
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
    const pinned = readPinned(ctx, args['public-key']);
    if (args.bundle)
      return verifyBundleCommand(ctx, { bundle: args.bundle, json: args.json === true, unpinned: args.unpinned === true }, pinned);
    if (args.unpinned) throw new CreddyError('ERR_USAGE', '--unpinned applies only to --bundle');
    const expect = args.expect === undefined ? undefined : parseExpectation(args.expect);
    const witnessSource =
      args.witness === undefined ? undefined : /^https?:\/\//.test(args.witness) ? args.witness : cliPath(ctx, args.witness);
    const witnessed = witnessSource === undefined ? undefined : await readWitness(witnessSource);
    if (witnessSource !== undefined && !witnessed) throw new CreddyError('ERR_USAGE', `--witness: ${args.witness} holds no checkpoint yet`);
    const config = cliConfig(ctx, args.config);
    // An auditor's check must not pass on an empty log that a wrong --config just created.
    requireExistingStore(config);
    // The checkpoints' trust anchor: the pinned key, else the keys the KEK opens (a key row anyone
    // with write access to the database could add vouches for nothing), else — no KEK here — the
    // stored keys, said to be unvouched.
    const keks = pinned ? undefined : configuredKeks({ env: ctx.env, dataDir: config.dataDir });
    const trust: CheckpointTrust = pinned ? { kind: 'pinned', key: pinned } : keks ? { kind: 'kek', keks } : { kind: 'stored' };
    const store = await openStore(config.store);
    try {
      const keys = loadAuditKeys({ env: ctx.env, dataDir: config.dataDir });
      const report = await verifyStore(store, keys, trust, {
        ...(witnessed && witnessSource ? { witness: { checkpoint: witnessed, source: witnessSource } } : {}),
        ...(expect ? { expect } : {}),
      });
      if (args.json)
        printJson(ctx.stdout, {
          ok: report.problem === null && report.hmac === 'verified',
          ...chainJson(report),
          checkpoints_trusted: trustJson(report.trust),
        });
      const anchoredOn = `checkpoints checked against ${trustLine(report.trust)}`;
      if (report.problem?.unconfiguredKeys) {
        // Rows the configured keys cannot check (verify-chain reports any edit it can find before
        // this): a key left out, or rows written or edited without the keys — their links cover
        // only their stored hash, not their content, so nothing here can tell which.
        const unchecked = report.problem.unconfiguredKeys.reduce((n, u) => n + u.rows, 0);
        throw new CreddyError(
          'ERR_CONFIG_INVALID',
          `audit log NOT verified: ${report.problem.detail}; their content cannot be checked without that key (a key left out, or rows written or edited without your keys). The other ${report.rows - unchecked} rows match their HMACs`,
        );
      }
      if (report.problem) {
        const { seq, kind, detail } = report.problem;
        throw new CreddyError(
          'ERR_AUDIT_INVALID',
          `audit log FAILED verification at seq ${seq}: ${kind}: ${detail} (${report.rows} events verified before it; ${anchoredOn})`,
        );
      }
      if (report.hmac !== 'verified')
        throw new CreddyError('ERR_AUDIT_INVALID', `${NO_KEY}; NOT verified. Without it: ${chainLine(report)} link up`);
      const anchored = [witnessed && `contains witnessed seq ${witnessed.seq}`, expect && `contains seq ${expect.seq} as expected`].filter(
        Boolean,
      );
      if (!args.json)
        ctx.stdout.write(
          `audit log verified: ${chainLine(report)}; HMACs verified${anchored.map((a) => `; ${a}`).join('')}; ${anchoredOn}\n`,
        );
    } finally {
      await store.close();
    }
  },
});

const pubkey = defineCommand({
  meta: { name: 'pubkey', description: 'Print the audit signing public key (PEM; --json for a JWK)' },
  args: { ...operatorArgs, ...jsonArg },
  async run({ args, data }) {
    const ctx = contextOf(data);
    await withServices(ctx, args, async (services) => {
      const signer = await loadAuditSigner({
        store: services.store,
        keks: services.keks,
        now: () => services.clock.now(),
        logger: services.logger,
      });
      const { pem, jwk } = publicKeyFormats(signer.publicX);
      if (args.json) return printJson(ctx.stdout, jwk);
      ctx.stdout.write(pem);
    });
  },
});

export const auditVerifyCommands = { verify, export: exportCommand, pubkey };
