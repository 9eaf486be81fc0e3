import { CreddyError } from '../errors.js';

/**
 * Thrown inside a prune step's transaction (or an unrecorded-start repair's) when its
 * `audit.pruned` row could not be appended: the transaction rolls back, and the store answers
 * `pruneRecordRefused`. A class of its own so the store tells it apart from any other failure.
 */
export class PruneRecordRejected extends Error {}

/** A prune step whose audit row the log refused: nothing of it was deleted. */
export function pruneRecordRefused(cause: unknown): CreddyError {
  const message = 'the audit log refused the audit.pruned row of this retention step; nothing of it was deleted';
  return new CreddyError('ERR_AUDIT_UNAVAILABLE', message, { cause });
}
