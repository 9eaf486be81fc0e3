/**
 * The state guard reads its row types one after another. Rows committed while it does — a secret
 * created, then rotated, between its read of `secret.created` and its read of `secret.rotated` —
 * must still be applied in seq order: applied the other way round, the creation would make the
 * first version current again, and every later read of the path would be refused as tampered.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadAuditKeys } from '../../src/audit/key.js';
import { createStateGuard } from '../../src/audit/state-guard.js';
import { putSecret, rotateSecret } from '../../src/secrets/write.js';
import type { AuditFilter, Store } from '../../src/store/port.js';
import { openServices, silentLogger, type TestServices } from '../helpers/harness.js';

let t: TestServices;
beforeAll(async () => {
  t = await openServices({ backends: '  vault:\n    type: secret\n    allowed_scopes: ["app/*"]\n    grace: 1h' });
});
afterAll(async () => t?.close());

it('rows committed between the reads of two row types are applied in seq order', async () => {
  const real = t.services.store;
  let between: (() => Promise<void>) | undefined;
  // The real store, with the writes landing right before the guard asks for `secret.rotated` rows.
  const store: Store = {
    ...real,
    audit: {
      ...real.audit,
      async query(filter: AuditFilter) {
        if (filter.type === 'secret.rotated' && between) {
          const writes = between;
          between = undefined;
          await writes();
        }
        return real.audit.query(filter);
      },
    },
  };
  const guard = createStateGuard({
    store,
    keys: loadAuditKeys({ env: t.env, dataDir: join(t.dir, 'data') }),
    logger: silentLogger,
  });
  await guard.refresh();

  between = async () => {
    await putSecret(t.services, { path: 'app/k', value: 'first', generated: false, actor: 'cli' });
    await rotateSecret(t.services, { path: 'app/k', value: 'second', generated: false, actor: 'cli' });
  };
  await guard.refresh();
  expect(between).toBeUndefined();
  await guard.refresh();

  const selector = { paths: ['app/k'], prefixes: [] };
  const now = Math.floor(t.services.clock.now() / 1000);
  const records = await guard.readSecrets(selector, () => real.secrets.readable(selector, now));
  expect(records.map((r) => r.version)).toEqual([2, 1]);
});
