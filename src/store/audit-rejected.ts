import type { KeyAudit } from './port.js';

/**
 * Thrown inside a state change's transaction (a key transition, a secret write, a revocation)
 * when the audit rows that record it could not be appended: the transaction rolls back, and the
 * store answers ERR_AUDIT_UNAVAILABLE naming what was not changed. A class of its own so that
 * the store tells it apart from a guard that failed or a lost connection.
 */
export class AuditRejected extends Error {}

/** The rows to append for a state change's audit, as the append functions take them. */
export const auditEntries = (audit: KeyAudit) => audit.events.map((event) => ({ event }));
