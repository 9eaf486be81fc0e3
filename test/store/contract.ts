/**
 * The store contract: every method of the Store port, and the guarantees the broker relies on,
 * run against each engine (sqlite.test.ts, postgres.test.ts) so that they behave as one. The
 * suites share one store per engine and run in order, each test writing its own rows.
 */
import { afterAll, beforeAll } from 'vitest';
import { agentKeyContract } from './contract/agent-keys.js';
import { agentContract } from './contract/agents.js';
import { auditContract } from './contract/audit.js';
import { agentAndCredentialContract } from './contract/credentials.js';
import { guardContract } from './contract/guards.js';
import { keyContract } from './contract/keys.js';
import { replayContract } from './contract/replay.js';
import { secretContract } from './contract/secrets.js';
import type { StoreUnderTest } from './fixture.js';

export function storeContract(open: () => Promise<StoreUnderTest>): void {
  let sut: StoreUnderTest | undefined;
  beforeAll(async () => {
    sut = await open();
  });
  afterAll(async () => sut?.dispose());
  const current = (): StoreUnderTest => {
    if (!sut) throw new Error('store under test not opened');
    return sut;
  };
  // The audit suite first: it starts from an empty log.
  auditContract(current);
  keyContract(current);
  agentAndCredentialContract(current);
  agentKeyContract(current);
  guardContract(current);
  replayContract(current);
  agentContract(current);
  secretContract(current);
}
