/**
 * The keyring reloads one at a time. Refreshes come from the 1-s poll and from PostgreSQL's key
 * notifications at once; a reload that read the store before a rotation must not finish after one
 * that read it afterwards and put the old keys back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyring, type Keyring, type KeyringDeps } from '../../src/keys/keyring.js';
import type { KeyRecord } from '../../src/model/key.js';
import { runCli } from '../helpers/cli.js';
import { openServices, silentLogger, type TestServices } from '../helpers/harness.js';

interface Gate {
  /** Resolves once the held reload has read the rows. */
  readonly read: Promise<void>;
  release(): void;
}

describe('keyring refresh', () => {
  let broker: TestServices;
  let keyring: Keyring;
  let reads = 0;
  /** When set, the next reload reads the rows and then waits for release() before using them. */
  let hold: { onRead: () => void; released: Promise<void> } | undefined;

  const holdNextReload = (): Gate => {
    let onRead!: () => void;
    let release!: () => void;
    const read = new Promise<void>((resolve) => (onRead = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    hold = { onRead, released };
    return { read, release };
  };
  const rotate = async () => {
    const result = await runCli(['keys', 'rotate', '--force', '--config', broker.configPath], broker.env);
    expect(result.code, result.stderr).toBe(0);
  };
  /** A keyring on the broker's store whose reads go through `vet`, as the server's go through the state guard. */
  const keyringVetting = (vet: NonNullable<KeyringDeps['vet']>): Keyring => {
    const { store, keks, clock, config, auditSeal } = broker.services;
    return createKeyring({ store, keks, clock, logger: silentLogger, config: config.keys, actor: 'server', auditSeal, vet });
  };
  const storedKid = async (state: KeyRecord['state']) => (await broker.services.store.keys.list()).find((k) => k.state === state)?.kid;

  beforeAll(async () => {
    broker = await openServices();
    // The seam the server fills with the audit state guard: here it counts reads and can hold one.
    keyring = keyringVetting(async (load) => {
      reads++;
      const rows = await load();
      const held = hold;
      hold = undefined;
      if (held) {
        held.onRead();
        await held.released;
      }
      return { loaded: rows, usable: rows };
    });
    await keyring.init();
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('a reload that read before a rotation cannot undo a later one', async () => {
    const gate = holdNextReload();
    const stale = keyring.refresh(); // reads the keys as they are, then waits
    await gate.read;
    await rotate();
    const fresh = keyring.refresh(); // asked after the rotation committed
    // Let the later refresh finish first if it can (reloads side by side did: it read the new keys
    // while the stale one was still holding the old ones), then let the stale one finish.
    await Promise.race([fresh, new Promise((resolve) => setTimeout(resolve, 200))]);
    gate.release();
    await Promise.all([stale, fresh]);
    expect(keyring.signer().kid).toBe(await storedKid('current'));
    expect(keyring.jwks().kids).toContain(await storedKid('next'));
  });

  it('calls during a reload share one more reload, which sees what changed meanwhile', async () => {
    const gate = holdNextReload();
    const before = reads;
    const first = keyring.refresh();
    await gate.read;
    await rotate();
    const joined = [keyring.refresh(), keyring.refresh(), keyring.refresh()];
    expect(joined[1]).toBe(joined[0]);
    expect(joined[2]).toBe(joined[0]);
    gate.release();
    await Promise.all([first, ...joined]);
    expect(reads - before).toBe(2);
    expect(keyring.signer().kid).toBe(await storedKid('current'));
  });

  it('a reload that fails does not fail the one queued behind it', async () => {
    let calls = 0;
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const flaky = keyringVetting(async (load) => {
      calls++;
      if (calls === 1) {
        await firstHeld;
        throw new Error('store unavailable');
      }
      const rows = await load();
      return { loaded: rows, usable: rows };
    });
    const failing = flaky.refresh();
    const queued = flaky.refresh();
    releaseFirst();
    await expect(failing).rejects.toThrow('store unavailable');
    await queued;
    expect(calls).toBe(2);
    expect(flaky.signer().kid).toBe(await storedKid('current'));
  });
});
