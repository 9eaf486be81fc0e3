import { isoSeconds } from '../../_utils/clock.js';
import { CreddyError } from '../../errors.js';
import { covers } from '../../policy/scopes.js';
import type { Backend, BackendType, Minted, MintRequest } from '../types.js';
import { createAdminPool } from './admin.js';
import { checkPostgresAdmin } from './check.js';
import { type PostgresSettings, parsePostgresSettings } from './config.js';
import { type DropOptions, dropLoginRole } from './drop.js';
import { keeperProblems } from './keeper.js';
import { describePrivileged, privilegedRoles } from './privileged.js';
import { createLoginRole, listPrefixedRoles, newPassword, newRoleName, parseRoleComment } from './roles.js';
import { scramVerifier } from './scram.js';

/**
 * How long past its expiry a creddy role may linger before the sweep drops it. The reaper drops
 * roles at expiry through their credential rows (leased, exactly once); the sweep is for roles no
 * row points at (a crash between CREATE ROLE and the audit row), so it waits out the reaper.
 */
export const SWEEP_AFTER_EXPIRY_S = 900;

/**
 * `type: postgres` — each credential is a new login role with a random password, VALID UNTIL the
 * credential's expiry, member of the group roles its scopes map to. At expiry or revocation its
 * sessions are ended and it is dropped (`revocation: "immediate"`).
 */
export const postgres: BackendType<PostgresSettings> = {
  parse: parsePostgresSettings,
  create: (settings, common, deps): Backend => {
    const admin = createAdminPool(settings, deps.upstream);
    const dropOptions: DropOptions = { reassignTo: settings.reassignTo, mapped: allRoles(settings), display: settings.display };
    const scopeProblem = (scope: string): string | undefined =>
      [...settings.roles.keys()].some((key) => covers(scope, key)) ? undefined : `scope "${scope}" names no role set of this backend`;
    return {
      common,
      audience: common.name,
      ttlLimits: {},
      requestParams: [],
      checkScope: scopeProblem,
      mint: (request) => mintRole(request, settings, common.name, admin),
      revokeAfterExpiry: true,
      async revoke(handle) {
        // The handle is sealed under the KEK; this only keeps a bug from ever dropping another role.
        if (!handle.startsWith(settings.rolePrefix)) throw new CreddyError('ERR_INTERNAL', 'revocation handle is not a creddy role');
        await admin.withClient((client) => dropLoginRole(client, handle, dropOptions));
      },
      sweep: (now) =>
        admin.withClient(async (client) => {
          let dropped = 0;
          for (const role of await listPrefixedRoles(client, settings.rolePrefix)) {
            const comment = parseRoleComment(role.comment);
            if (!comment || comment.backend !== common.name || comment.exp + SWEEP_AFTER_EXPIRY_S > now) continue;
            if ((await dropLoginRole(client, role.name, dropOptions)) === 'dropped') {
              dropped++;
              deps.logger.warn('dropped a leftover creddy role past its expiry', {
                backend: common.name,
                role: role.name,
                jti: comment.jti,
              });
            }
          }
          return dropped;
        }),
      check: () => checkPostgresAdmin(admin, settings, common.name),
      // For `creddy doctor`: every right the admin role lacks, at once.
      async probe() {
        const problems = await checkPostgresAdmin(admin, settings, common.name);
        return problems.length === 0
          ? { status: 'ok', message: 'the admin role can create login roles and grant the mapped memberships' }
          : { status: 'fail', message: problems.join('; '), fix: `grant the admin role of backends.${common.name}.url what is listed` };
      },
      close: () => admin.end(),
    };
  },
};

/** Every role some scope maps to, without repeats. */
const allRoles = (settings: PostgresSettings): string[] => [...new Set([...settings.roles.values()].flat())];

/** The group roles granted scopes map to, sorted and without repeats. */
export function rolesFor(scopes: readonly string[], roles: PostgresSettings['roles']): string[] {
  const out = new Set<string>();
  for (const [key, names] of roles) if (scopes.some((scope) => covers(scope, key))) for (const n of names) out.add(n);
  return [...out].sort();
}

async function mintRole(
  request: MintRequest,
  settings: PostgresSettings,
  backend: string,
  admin: ReturnType<typeof createAdminPool>,
): Promise<Minted> {
  const memberOf = rolesFor(request.scopes, settings.roles);
  const name = newRoleName(settings.rolePrefix);
  const password = newPassword();
  const verifier = await scramVerifier(password);
  // One transaction: the role exists with its comment and memberships, or not at all. A crash
  // after COMMIT but before the credential row leaves a role the sweep drops once it expires.
  // Bounded by issuance's deadline (request.signal) too, not only by each statement's.
  await admin.transaction(async (client) => {
    const privileged = await privilegedRoles(client, memberOf);
    if (privileged.length > 0) {
      throw new CreddyError(
        'ERR_BACKEND_MISCONFIGURED',
        `backend "${backend}" maps scopes to roles that hand out more than data access (a member can SET ROLE to what a role reaches): ${describePrivileged(privileged)}; creddy will not grant them`,
        { expose: true, details: { upstream: 'postgres' } },
      );
    }
    // A user is made only if what it may leave behind can be handled at its end as configured.
    const keeper = settings.reassignTo === undefined ? [] : await keeperProblems(client, settings.reassignTo, allRoles(settings));
    if (keeper.length > 0) {
      throw new CreddyError('ERR_BACKEND_MISCONFIGURED', `backend "${backend}": ${keeper.join('; ')}`, {
        expose: true,
        details: { upstream: 'postgres' },
      });
    }
    await createLoginRole(client, {
      name,
      verifier,
      memberOf,
      comment: { backend, jti: request.jti, exp: request.expiresAt },
      connectionLimit: settings.connectionLimit,
    });
  }, request.signal);
  const query = settings.sslmode ? `?sslmode=${encodeURIComponent(settings.sslmode)}` : '';
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  return {
    credential: {
      type: 'postgres_role',
      user: name,
      password,
      host: settings.host,
      port: settings.port,
      database: settings.database,
      url: `postgresql://${name}:${encodeURIComponent(password)}@${host}:${settings.port}/${encodeURIComponent(settings.database)}${query}`,
      roles: memberOf,
      expires_at: isoSeconds(request.expiresAt),
      revocation: 'immediate',
    },
    secret: password,
    revocationHandle: name,
    auditDetails: { role: name, member_of: memberOf },
  };
}
