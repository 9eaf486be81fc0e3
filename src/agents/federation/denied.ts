import { CreddyError, type ErrorCode } from '../../errors.js';

/**
 * A refused ID token. `message` and `details` reach the client and say only which check failed
 * (audience, signature, expiry…); `diagnosis` — the closest rule, its failed conditions and the
 * token's values for them — goes to the audit row and the server log only, so probing with
 * tokens does not reveal what the rules require.
 */
export class FederationDenied extends CreddyError {
  readonly diagnosis: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, reason: string, diagnosis: Readonly<Record<string, unknown>> = {}) {
    super(code, message, { details: { reason } });
    this.diagnosis = { reason, ...diagnosis };
  }
}

/** The audit details of a federation refusal (`details.federation`), or undefined for any other error. */
export function federationDiagnosis(err: unknown): Record<string, unknown> | undefined {
  return err instanceof FederationDenied ? { federation: err.diagnosis } : undefined;
}
