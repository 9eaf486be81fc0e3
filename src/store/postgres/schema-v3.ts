/**
 * Schema v3: OIDC federation. `federation_replay` holds the ID tokens a `single_use` rule has
 * already exchanged (a primary-key insert decides the race across replicas); two partial
 * expression indexes serve `audit list --rule` and `--run-id`, which filter on the audit row's
 * details (the chain covers every column, so the facts stay in details, not new columns).
 */
export const SCHEMA_V3_SQL = `
CREATE TABLE federation_replay (
  key        TEXT PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX federation_replay_expiry ON federation_replay (expires_at);

CREATE INDEX audit_federation_rule ON audit_events (((details::jsonb) -> 'federation' ->> 'rule'), seq)
  WHERE ((details::jsonb) -> 'federation' ->> 'rule') IS NOT NULL;
CREATE INDEX audit_federation_run ON audit_events (((details::jsonb) -> 'federation' ->> 'run_id'), seq)
  WHERE ((details::jsonb) -> 'federation' ->> 'run_id') IS NOT NULL;
`;
