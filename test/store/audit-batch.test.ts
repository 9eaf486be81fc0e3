import { describe, expect, it } from 'vitest';
import { auditEvent } from '../../src/model/audit.js';
import type { CredentialRecord } from '../../src/model/credential.js';
import type { AppendedRows, AuditEntry } from '../../src/store/port.js';
import { batchResult, decodeBatch, encodeBatch, rowsFromResult, wireSealer } from '../../src/store/sqlite/audit-batch.js';

/** The main thread ↔ audit worker format: one JSON string per batch, chain positions back. */
describe('audit batch wire format', () => {
  const credential = (jti: string, handle: Uint8Array | null): CredentialRecord => ({
    jti,
    agent: 'bot',
    backend: 'gh',
    scopes: ['contents:read'],
    kid: 'kid-1',
    issuedAt: 1_700_000_000,
    expiresAt: 1_700_003_600,
    revokedAt: null,
    metadata: { task: 'x' },
    downstream: { type: 'github_installation_token', revocation: 'immediate', expiresAt: null, fingerprint: 'sha256:00' },
    revocationHandle: handle,
    downstreamRevokedAt: null,
  });
  const event = (jti: string) =>
    auditEvent({
      time: 1_700_000_000_123,
      type: 'credential.issued',
      outcome: 'success',
      actor: 'bot',
      jti,
      details: { ttl: { granted: 60 } },
    });
  const entries: AuditEntry[] = [
    { event: event('a'), credential: credential('a', new Uint8Array([0, 1, 2, 250, 255])) },
    {
      event: event('b'),
      credential: credential('b', null),
      holder: { id: 'agent-record-1', tokenHash: 'ab'.repeat(32), grants: [{ backend: 'demo', scope: 'read' }], jkt: 'c'.repeat(43) },
    },
    { event: event('c'), change: { kind: 'agent.revoke', name: 'bot', at: 1_700_000_001 } },
  ];

  it('round-trips entries, sealed revocation handles included, without touching the originals', () => {
    const decoded = decodeBatch(encodeBatch(entries));
    expect(decoded).toHaveLength(3);
    expect(Buffer.from(decoded[0]!.credential!.revocationHandle!)).toEqual(Buffer.from([0, 1, 2, 250, 255]));
    expect({ ...decoded[0]!.credential!, revocationHandle: null }).toEqual({ ...entries[0]!.credential!, revocationHandle: null });
    expect(decoded[1]).toEqual(entries[1]);
    expect(decoded[2]).toEqual(entries[2]);
    expect(entries[0]!.credential!.revocationHandle).toBeInstanceOf(Uint8Array);
  });

  it('rebuilds the chained rows from the worker answer', () => {
    const rows = [0, 1, 2].map((i) => ({
      ...entries[i]!.event,
      seq: 41 + i,
      prevHash: i === 0 ? 'h40' : `h${40 + i}`,
      hash: `h${41 + i}`,
      keyId: 'key-1',
    }));
    expect(rowsFromResult(entries, batchResult(rows))).toEqual(rows);
  });

  it('carries which entries found their holder record changed, and how, only when one did', () => {
    const rows: AppendedRows = [0, 1, 2].map((i) => ({
      ...entries[i]!.event,
      seq: 1 + i,
      prevHash: `h${i}`,
      hash: `h${1 + i}`,
      keyId: 'k',
    }));
    expect(rowsFromResult(entries, batchResult(rows)).holderChanged).toBeUndefined();
    const changed = [{ entry: 1, revoked: false, tokenRotated: true, keyRemoved: true, grants: [{ backend: 'demo', scope: 'write' }] }];
    rows.holderChanged = changed;
    expect(JSON.parse(JSON.stringify(batchResult(rows)))).toMatchObject({ holderChanged: changed });
    expect(rowsFromResult(entries, JSON.parse(JSON.stringify(batchResult(rows)))).holderChanged).toEqual(changed);
  });

  it('sends the sealer key as hex, computed once per sealer', () => {
    const portable = { module: 'file:///x.js', key: { id: 'k1', key: Buffer.from('00ff10', 'hex') } };
    expect(wireSealer(portable)).toEqual({ module: 'file:///x.js', id: 'k1', keyHex: '00ff10' });
    expect(wireSealer(portable)).toBe(wireSealer(portable));
  });
});
