import { randomBytes } from 'node:crypto';
import { createSealer } from '../../src/audit/chain.js';
import type { AgentRecord } from '../../src/model/agent.js';
import { type AuditEvent, auditEvent } from '../../src/model/audit.js';
import type { CredentialRecord } from '../../src/model/credential.js';
import type { KeyRecord, KeyState } from '../../src/model/key.js';
import type { AuditSealer, PruneRecord, Store } from '../../src/store/port.js';

/** One engine under the contract: a store, a second independent one on the same data, raw SQL. */
export interface StoreUnderTest {
  readonly engine: 'sqlite' | 'postgres';
  readonly store: Store;
  /** Another store instance (another connection/pool, as another process or replica would have). */
  second(): Store;
  /** Runs SQL directly, as an operator's sqlite3/psql session would (as the database owner). */
  exec(sql: string): Promise<void>;
  dispose(): Promise<void>;
}

export const seal: AuditSealer = createSealer({ id: 'contract', key: randomBytes(32) });

/** A sealer that refuses the n-th row it is asked to seal (0-based), to break a transaction midway. */
export function failingSealer(failAt: number): AuditSealer {
  let n = 0;
  return (draft) => {
    if (n++ === failAt) throw new Error('sealer refused');
    return seal(draft);
  };
}

let counter = 0;
export const unique = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

/**
 * When contract rows happen by default: a week ago, past the retention floor postgres.test.ts
 * gives its database, so the retention contract prunes them on both engines.
 */
export const EVENT_TIME = Date.now() - 7 * 86_400_000;

export function event(fields: Partial<AuditEvent> = {}): AuditEvent {
  return auditEvent({ time: EVENT_TIME, type: 'agent.created', outcome: 'success', actor: 'contract', ...fields });
}

export function agent(name = unique('agent')): AgentRecord {
  return {
    id: unique('agt'),
    name,
    tokenHash: randomBytes(32).toString('hex'),
    grants: [{ backend: 'demo', scope: 'read' }],
    createdAt: 1_700_000_000,
    expiresAt: null,
    revokedAt: null,
  };
}

export function credential(fields: Partial<CredentialRecord> = {}): CredentialRecord {
  return {
    jti: unique('jti'),
    agent: 'owner',
    backend: 'gh',
    scopes: ['contents:read', 'issues:*'],
    kid: 'kid-a',
    issuedAt: 1_700_000_000,
    expiresAt: 1_700_000_600,
    revokedAt: null,
    metadata: { task: 'update-readme', ü: 'ünïcode \u0000 nul' },
    downstream: {
      type: 'github_installation_token',
      revocation: 'immediate',
      expiresAt: '2026-01-15T16:00:00Z',
      fingerprint: 'sha256:0123',
    },
    revocationHandle: randomBytes(40),
    downstreamRevokedAt: null,
    ...fields,
  };
}

export function key(state: KeyState, fields: Partial<KeyRecord> = {}): KeyRecord {
  return {
    kid: unique('kid'),
    state,
    publicX: randomBytes(32).toString('base64url'),
    sealedPrivate: randomBytes(64),
    kekId: 'kek-1',
    createdAt: 1_700_000_000,
    publishedAt: 1_700_000_000,
    activatedAt: state === 'current' ? 1_700_000_000 : null,
    retiredAt: null,
    revokedAt: null,
    ...fields,
  };
}

/** The whole audit log, ascending. */
export const allRows = (store: Store) => store.audit.query({ order: 'asc', limit: 1_000_000 });

/** The audit.pruned row of a retention step that a test runs through `pruneBelow` itself, sealed by `services`. */
export function pruneRecord(services: { readonly auditSeal: AuditSealer }): PruneRecord {
  return {
    event: ({ fromSeq, anchorSeq, deleted }) =>
      auditEvent({
        time: Date.now(),
        type: 'audit.pruned',
        outcome: 'success',
        actor: 'test',
        details: { deleted, from_seq: fromSeq, to_seq: anchorSeq - 1, anchor_seq: anchorSeq },
      }),
    seal: services.auditSeal,
  };
}
