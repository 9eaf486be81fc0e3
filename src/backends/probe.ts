import { isCreddyError } from '../errors.js';
import type { ProbeResult } from './types.js';

/** A service's clock: the `Date` header of any answer from `url` (epoch ms), or undefined. */
export async function serverTime(url: string, signal: AbortSignal): Promise<number | undefined> {
  try {
    const response = await fetch(url, { method: 'GET', signal, redirect: 'manual' });
    await response.arrayBuffer().catch(() => undefined);
    const date = Date.parse(response.headers.get('date') ?? '');
    return Number.isNaN(date) ? undefined : date;
  } catch {
    return undefined;
  }
}

/** A failed probe from the error a backend call threw; `fixFor` picks the advice by upstream status. */
export function probeFailure(err: unknown, fixFor: (status: number | null) => string, serverTimeMs?: number): ProbeResult {
  const status = isCreddyError(err) ? ((err.details?.['upstream_status'] as number | null | undefined) ?? null) : null;
  return {
    status: 'fail',
    message: err instanceof Error ? err.message : String(err),
    fix: fixFor(status),
    ...(serverTimeMs === undefined ? {} : { serverTime: serverTimeMs }),
  };
}
