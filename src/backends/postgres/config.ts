import type { ConfigReader } from '../../_utils/config-reader.js';
import { maskUrl } from '../../_utils/masked-url.js';
import { coveredBy } from '../../policy/scopes.js';

/** Settings of `type: postgres`. */
export interface PostgresSettings {
  /** The admin connection URL (holds a password): never logged; `display` is the masked form. */
  readonly url: string;
  readonly display: string;
  /** Where issued users connect, from the admin URL. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** `sslmode` of the admin URL, carried into the issued URL. */
  readonly sslmode: string | undefined;
  /** Scope → the roles a credential with that scope is made a member of. */
  readonly roles: ReadonlyMap<string, readonly string[]>;
  /** Issued role names are this prefix plus random hex; the sweep touches only such roles. */
  readonly rolePrefix: string;
  /**
   * `reassign_owned_to`: the NOLOGIN role that receives what a dropped user owned. Undefined (the
   * default): a user's objects are dropped with it. Never the admin role (see drop.ts).
   */
  readonly reassignTo: string | undefined;
  /** CONNECTION LIMIT of each issued role (-1: none). */
  readonly connectionLimit: number;
  /** Per-statement timeout on the admin connection, ms. */
  readonly statementTimeoutMs: number;
}

const ROLE_RE = /^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/;
const PREFIX_RE = /^[a-z_][a-z0-9_]{0,31}$/;
const SCOPE_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Reads the postgres-specific keys. The URL must name host and database (what issued users
 * connect to); `roles` maps every scope to existing group roles, checked downstream at first
 * use (`creddy doctor` checks them at once). Messages never quote the URL's password.
 */
export function parsePostgresSettings(reader: ConfigReader): PostgresSettings {
  const url = reader.string('url');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return reader.fail('url', 'must be a postgres:// URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') reader.fail('url', 'must be a postgres:// URL');
  const display = maskUrl(parsed);
  if (!parsed.hostname) reader.fail('url', `must name a host (${display})`);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) reader.fail('url', `must name the database issued users connect to (${display})`);
  const port = parsed.port ? Number(parsed.port) : 5432;

  const allowed = reader.stringList('allowed_scopes');
  const roles = new Map<string, readonly string[]>();
  const rolesReader = reader.child('roles');
  for (const scope of rolesReader.keys()) {
    if (!SCOPE_RE.test(scope)) rolesReader.fail(scope, 'scope names here are letters, digits, _ . - (no wildcards)');
    const names = rolesReader.stringList(scope);
    if (names.length === 0) rolesReader.fail(scope, 'must name at least one role');
    names.forEach((name, i) => {
      if (!ROLE_RE.test(name)) rolesReader.fail(`${scope}[${i}]`, 'must be a PostgreSQL role name');
    });
    roles.set(scope, [...new Set(names)]);
  }
  rolesReader.done();
  allowed.forEach((scope, i) => {
    const covered = [...roles.keys()].filter((key) => coveredBy([scope], key));
    if (covered.length === 0) reader.fail(`allowed_scopes[${i}]`, `"${scope}" matches no scope under roles`);
  });
  reader.stringList('default_scopes', []).forEach((scope, i) => {
    if (!roles.has(scope)) reader.fail(`default_scopes[${i}]`, `"${scope}" is not a scope under roles`);
  });
  const rolePrefix = reader.string('role_prefix', 'creddy_');
  if (!PREFIX_RE.test(rolePrefix)) reader.fail('role_prefix', 'must be 1-32 characters of a-z, 0-9 and _, starting with a letter or _');
  const reassignTo = reader.optionalString('reassign_owned_to');
  if (reassignTo !== undefined) {
    if (!ROLE_RE.test(reassignTo)) reader.report('reassign_owned_to', 'must be a PostgreSQL role name');
    else if ([...roles.values()].some((names) => names.includes(reassignTo)))
      reader.report(
        'reassign_owned_to',
        `"${reassignTo}" is a role scopes map to: every issued user could act as the owner of what others left`,
      );
    else if (reassignTo.startsWith(rolePrefix)) reader.report('reassign_owned_to', `must not start with role_prefix "${rolePrefix}"`);
  }
  const connectionLimit = reader.optionalInteger('connection_limit', { min: -1, max: 10_000 }) ?? -1;
  const timeout = reader.duration('statement_timeout', 10);
  if (timeout < 1 || timeout > 60) reader.fail('statement_timeout', 'must be between 1s and 60s');
  return {
    url,
    display,
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    database,
    sslmode: parsed.searchParams.get('sslmode') ?? undefined,
    roles,
    rolePrefix,
    reassignTo,
    connectionLimit,
    statementTimeoutMs: timeout * 1000,
  };
}
