import { GENESIS_HASH } from '../../model/audit.js';

/**
 * Migration v2 of the PostgreSQL schema: the audit log's guards, as SQLite's v2 — append-only
 * triggers, signed checkpoints, the audit signing key and the retention gate — plus what only
 * PostgreSQL has: TRUNCATE triggers, and `creddy_audit_prune`, a SECURITY DEFINER function that is
 * the one path to deleting audit rows for a role without DELETE on them (docs/deploy.md).
 *
 * Triggers stop the ordinary ways history gets rewritten (an operator's psql session, a bad
 * migration, a compromised runtime role); a superuser can still disable them, and is then caught by
 * the HMAC chain and the signed checkpoints, which no SQL can recompute without the keys.
 */
export const SCHEMA_V2_SQL = `
CREATE TABLE audit_checkpoints (
  seq       BIGINT PRIMARY KEY,
  hash      TEXT NOT NULL,
  time      BIGINT NOT NULL,
  key_id    TEXT NOT NULL,
  signature TEXT NOT NULL
);

CREATE TABLE audit_signing_keys (
  kid            TEXT PRIMARY KEY,
  public_x       TEXT NOT NULL,
  sealed_private BYTEA NOT NULL,
  kek_id         TEXT NOT NULL,
  created_at     BIGINT NOT NULL
);

CREATE TABLE audit_prune_gate (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  below_seq BIGINT NOT NULL
);
INSERT INTO audit_prune_gate (id, below_seq) VALUES (1, 0);

-- Refuses the operation with the message given as the trigger's argument.
CREATE FUNCTION creddy_reject() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = 'integrity_constraint_violation';
END
$fn$;

-- Deletes only strictly below the open retention gate (which is 0, closed, outside pruning).
CREATE FUNCTION creddy_audit_delete_gate() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF OLD.seq >= (SELECT below_seq FROM audit_prune_gate WHERE id = 1) THEN
    RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN OLD;
END
$fn$;

-- Each new row continues the chain: seq is last+1 and prev_hash the last hash. With the primary
-- key this also makes a fork impossible: of two racing appends of the same seq, one fails.
CREATE FUNCTION creddy_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  last_seq BIGINT;
  last_hash TEXT;
BEGIN
  SELECT seq, hash INTO last_seq, last_hash FROM audit_events ORDER BY seq DESC LIMIT 1;
  IF NEW.seq IS DISTINCT FROM COALESCE(last_seq, 0) + 1 OR NEW.prev_hash IS DISTINCT FROM COALESCE(last_hash, '${GENESIS_HASH}') THEN
    RAISE EXCEPTION USING MESSAGE = 'audit_events is append-only: seq must be last+1 and prev_hash the last hash',
      ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$fn$;

CREATE FUNCTION creddy_audit_checkpoint_on_chain() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW.seq <= COALESCE((SELECT max(seq) FROM audit_checkpoints), 0)
     OR NOT EXISTS (SELECT 1 FROM audit_events WHERE seq = NEW.seq AND hash = NEW.hash) THEN
    RAISE EXCEPTION USING MESSAGE = 'audit checkpoint must name an existing row and move forward',
      ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$fn$;

CREATE FUNCTION creddy_audit_signing_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW.kid IS DISTINCT FROM OLD.kid OR NEW.public_x IS DISTINCT FROM OLD.public_x OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
    RAISE EXCEPTION USING MESSAGE = 'audit signing keys are immutable (only a KEK rewrap may change the sealed form)',
      ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$fn$;

CREATE FUNCTION creddy_audit_prune_gate_anchor() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW.id IS DISTINCT FROM 1 OR (NEW.below_seq <> 0 AND NOT EXISTS (
      SELECT 1 FROM audit_checkpoints c JOIN audit_events e ON e.seq = c.seq AND e.hash = c.hash WHERE c.seq = NEW.below_seq)) THEN
    RAISE EXCEPTION USING MESSAGE = 'audit prune gate may only open at a signed checkpoint whose row exists',
      ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$fn$;

CREATE TRIGGER audit_events_append_only BEFORE INSERT ON audit_events
  FOR EACH ROW EXECUTE FUNCTION creddy_audit_append_only();
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION creddy_reject('audit_events is append-only: UPDATE rejected');
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION creddy_audit_delete_gate('audit_events is append-only: DELETE rejected (only retention pruning below a signed checkpoint)');
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION creddy_reject('audit_events is append-only: TRUNCATE rejected');

CREATE TRIGGER audit_checkpoints_on_chain BEFORE INSERT ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION creddy_audit_checkpoint_on_chain();
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION creddy_reject('audit_checkpoints is append-only: UPDATE rejected');
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION creddy_audit_delete_gate('audit_checkpoints is append-only: DELETE rejected');
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION creddy_reject('audit_checkpoints is append-only: TRUNCATE rejected');

CREATE TRIGGER audit_signing_keys_fixed BEFORE UPDATE ON audit_signing_keys
  FOR EACH ROW EXECUTE FUNCTION creddy_audit_signing_key_fixed();
CREATE TRIGGER audit_signing_keys_no_delete BEFORE DELETE ON audit_signing_keys
  FOR EACH ROW EXECUTE FUNCTION creddy_reject('audit signing keys cannot be deleted: old checkpoints need them');
CREATE TRIGGER audit_signing_keys_no_truncate BEFORE TRUNCATE ON audit_signing_keys
  FOR EACH STATEMENT EXECUTE FUNCTION creddy_reject('audit signing keys cannot be deleted: old checkpoints need them');

CREATE TRIGGER audit_prune_gate_anchor BEFORE UPDATE ON audit_prune_gate
  FOR EACH ROW EXECUTE FUNCTION creddy_audit_prune_gate_anchor();
CREATE TRIGGER audit_prune_gate_no_insert BEFORE INSERT ON audit_prune_gate
  FOR EACH ROW EXECUTE FUNCTION creddy_reject('audit_prune_gate has exactly one row');
CREATE TRIGGER audit_prune_gate_no_delete BEFORE DELETE ON audit_prune_gate
  FOR EACH ROW EXECUTE FUNCTION creddy_reject('audit_prune_gate has exactly one row');
CREATE TRIGGER audit_prune_gate_no_truncate BEFORE TRUNCATE ON audit_prune_gate
  FOR EACH STATEMENT EXECUTE FUNCTION creddy_reject('audit_prune_gate has exactly one row');

-- Retention: opens the gate at a signed checkpoint (the gate's trigger checks it), deletes the
-- prefix below it, closes the gate. SECURITY DEFINER so a runtime role without DELETE or UPDATE
-- on the audit tables can prune, and only this way; its search_path is pinned below.
CREATE FUNCTION creddy_audit_prune(anchor BIGINT) RETURNS BIGINT LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
  deleted BIGINT;
BEGIN
  UPDATE audit_prune_gate SET below_seq = anchor WHERE id = 1;
  DELETE FROM audit_events WHERE seq < anchor;
  GET DIAGNOSTICS deleted = ROW_COUNT;
  DELETE FROM audit_checkpoints WHERE seq < anchor;
  UPDATE audit_prune_gate SET below_seq = 0 WHERE id = 1;
  RETURN deleted;
END
$fn$;
REVOKE ALL ON FUNCTION creddy_audit_prune(BIGINT) FROM PUBLIC;
DO $do$ BEGIN
  EXECUTE format('ALTER FUNCTION creddy_audit_prune(BIGINT) SET search_path = %I, pg_temp', current_schema());
END $do$;
`;
