import type { AuditEvent } from '../store/types.js';

/** Builds an event from what the caller knows; every other column is null. */
export function auditEvent(fields: Pick<AuditEvent, 'time' | 'type' | 'outcome' | 'actor'> & Partial<AuditEvent>): AuditEvent {
  return {
    agent: null,
    backend: null,
    scopes: null,
    jti: null,
    kid: null,
    reason: null,
    clientIp: null,
    requestId: null,
    details: null,
    ...fields,
  };
}
