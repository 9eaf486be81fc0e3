import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type KekSet, loadKeks } from '../../src/keys/kek.js';
import { silentLogger, tempDir, testEnv } from '../helpers/harness.js';

/**
 * A store's directory mid KEK rotation, for the rewrap tests: everything was sealed under KEK A
 * (`envA`); the operator now runs with KEK B and A as previous (`envB`), or B alone (`envOnlyB`).
 */
export function kekRotation() {
  const tmp = tempDir();
  const envA = testEnv();
  const kekA = envA['CREDDY_KEK']!;
  const kekB = randomBytes(32).toString('hex');
  const keksOf = (hex: string): KekSet => loadKeks({ env: { CREDDY_KEK: hex }, dataDir: tmp.dir, logger: silentLogger });
  return {
    tmp,
    configPath: join(tmp.dir, 'creddy.yaml'),
    dataDir: join(tmp.dir, 'data'),
    envA,
    kekA,
    kekB,
    envB: { ...envA, CREDDY_KEK: kekB, CREDDY_KEK_PREVIOUS: kekA },
    envOnlyB: { ...envA, CREDDY_KEK: kekB },
    keksOf,
    idA: keksOf(kekA).current.id,
    idB: keksOf(kekB).current.id,
  };
}
