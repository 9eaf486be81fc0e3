/**
 * Schema v7: a retention floor that the runtime role cannot get around. Until v6 the prune
 * function deleted below any checkpoint row, and the runtime role may INSERT checkpoints (the
 * server signs them; SQL cannot check an Ed25519 signature): with a leaked runtime password, a
 * checkpoint at the head with a garbage signature emptied the log.
 *
 * Now `creddy_audit_prune` also refuses to delete any row younger than `min_age_seconds`, which
 * `creddy store migrate` — run as the schema owner — sets from the config's `audit.retention`;
 * the runtime role cannot change it (no grant). NULL, the default, means no audit row may be
 * deleted at all. So a forged checkpoint can only ever anchor the deletion of rows that retention
 * would delete anyway, and `audit verify` names the forged anchor (verify-chain.ts).
 */
export const SCHEMA_V7_SQL = `
CREATE TABLE audit_retention_floor (
  id              INTEGER PRIMARY KEY CHECK (id = 1),
  min_age_seconds BIGINT CHECK (min_age_seconds >= 60)
);
INSERT INTO audit_retention_floor (id, min_age_seconds) VALUES (1, NULL);

CREATE TRIGGER audit_retention_floor_no_insert BEFORE INSERT ON audit_retention_floor
  FOR EACH ROW EXECUTE FUNCTION creddy_reject('audit_retention_floor has exactly one row');
CREATE TRIGGER audit_retention_floor_no_delete BEFORE DELETE ON audit_retention_floor
  FOR EACH ROW EXECUTE FUNCTION creddy_reject('audit_retention_floor has exactly one row');
CREATE TRIGGER audit_retention_floor_no_truncate BEFORE TRUNCATE ON audit_retention_floor
  FOR EACH STATEMENT EXECUTE FUNCTION creddy_reject('audit_retention_floor has exactly one row');

-- As v2's, plus the floor: checked against the database's clock, never the caller's. CRD01 and
-- CRD02 are creddy's own SQLSTATEs, so the store can tell these refusals from any other error.
CREATE OR REPLACE FUNCTION creddy_audit_prune(anchor BIGINT) RETURNS BIGINT LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
  deleted BIGINT;
  floor_s BIGINT;
  newest BIGINT;
BEGIN
  SELECT min_age_seconds INTO floor_s FROM audit_retention_floor WHERE id = 1;
  IF floor_s IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'CRD01',
      MESSAGE = 'audit retention is off in this database: no retention floor is set (creddy store migrate sets it from audit.retention)';
  END IF;
  SELECT max(time) INTO newest FROM audit_events WHERE seq < anchor;
  IF newest > (extract(epoch FROM now()) * 1000)::BIGINT - floor_s * 1000 THEN
    RAISE EXCEPTION USING ERRCODE = 'CRD02',
      MESSAGE = format('audit rows below seq %s are younger than the retention floor of this database (%s s, set by creddy store migrate from audit.retention)', anchor, floor_s);
  END IF;
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
