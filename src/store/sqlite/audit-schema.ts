import { GENESIS_HASH } from '../../model/audit.js';

/**
 * Migration v2 of the audit log: append-only triggers, signed checkpoints, the audit signing key
 * and the retention gate.
 *
 * Why triggers when an attacker with file access can simply drop them: they stop every
 * *ordinary* path — a buggy migration, an operator's `sqlite3` session, an `INSERT OR REPLACE`
 * from some future code — from silently rewriting history. Whoever goes further (drops the
 * triggers, edits the file) is caught by the HMAC chain and the Ed25519-signed checkpoints,
 * which no amount of SQL can recompute without the keys.
 *
 * Retention needs deletes. The only delete path is the one-row `audit_prune_gate`: pruning sets
 * `below_seq` to the seq of a signed checkpoint whose row is still present (a trigger checks
 * that), deletes rows strictly below it, and sets the gate back to 0, all in one transaction.
 * Rows at or above the gate can never be deleted, so a delete either removes a prefix that ends
 * at a signed anchor (and the rest still verifies from that anchor), or is rejected.
 */

const reject = (message: string): string => `BEGIN SELECT RAISE(ABORT, '${message}'); END;`;

export const AUDIT_V2_SQL = `
CREATE TABLE audit_checkpoints (
  seq       INTEGER PRIMARY KEY,
  hash      TEXT NOT NULL,
  time      INTEGER NOT NULL,
  key_id    TEXT NOT NULL,
  signature TEXT NOT NULL
) STRICT;

CREATE TABLE audit_signing_keys (
  kid            TEXT PRIMARY KEY,
  public_x       TEXT NOT NULL,
  sealed_private BLOB NOT NULL,
  kek_id         TEXT NOT NULL,
  created_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_prune_gate (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  below_seq INTEGER NOT NULL
) STRICT;
INSERT INTO audit_prune_gate (id, below_seq) VALUES (1, 0);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
${reject('audit_events is append-only: UPDATE rejected')}

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.seq >= (SELECT below_seq FROM audit_prune_gate WHERE id = 1)
${reject('audit_events is append-only: DELETE rejected (only retention pruning below a signed checkpoint)')}

-- Also the guard against REPLACE: a replacing insert reuses an existing seq, which is never last+1.
CREATE TRIGGER audit_events_append_only BEFORE INSERT ON audit_events
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events)
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_events WHERE seq = NEW.seq - 1), '${GENESIS_HASH}')
${reject('audit_events is append-only: seq must be last+1 and prev_hash the last hash')}

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
${reject('audit_checkpoints is append-only: UPDATE rejected')}

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
WHEN OLD.seq >= (SELECT below_seq FROM audit_prune_gate WHERE id = 1)
${reject('audit_checkpoints is append-only: DELETE rejected')}

CREATE TRIGGER audit_checkpoints_on_chain BEFORE INSERT ON audit_checkpoints
WHEN NEW.seq <= COALESCE((SELECT MAX(seq) FROM audit_checkpoints), 0)
  OR NOT EXISTS (SELECT 1 FROM audit_events WHERE seq = NEW.seq AND hash = NEW.hash)
${reject('audit checkpoint must name an existing row and move forward')}

CREATE TRIGGER audit_signing_keys_fixed BEFORE UPDATE ON audit_signing_keys
WHEN NEW.kid IS NOT OLD.kid OR NEW.public_x IS NOT OLD.public_x OR NEW.created_at IS NOT OLD.created_at
${reject('audit signing keys are immutable (only a KEK rewrap may change the sealed form)')}

CREATE TRIGGER audit_signing_keys_no_delete BEFORE DELETE ON audit_signing_keys
${reject('audit signing keys cannot be deleted: old checkpoints need them')}

CREATE TRIGGER audit_prune_gate_anchor BEFORE UPDATE ON audit_prune_gate
WHEN NEW.id IS NOT 1 OR (NEW.below_seq <> 0 AND NOT EXISTS (
  SELECT 1 FROM audit_checkpoints c JOIN audit_events e ON e.seq = c.seq AND e.hash = c.hash WHERE c.seq = NEW.below_seq))
${reject('audit prune gate may only open at a signed checkpoint whose row exists')}

CREATE TRIGGER audit_prune_gate_no_insert BEFORE INSERT ON audit_prune_gate
${reject('audit_prune_gate has exactly one row')}

CREATE TRIGGER audit_prune_gate_no_delete BEFORE DELETE ON audit_prune_gate
${reject('audit_prune_gate has exactly one row')}
`;
