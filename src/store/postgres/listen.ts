import pg from 'pg';
import type { PostgresTarget } from './connect.js';
import { clientConfig } from './connect.js';

/** NOTIFY channel of committed key transitions (keys.ts sends, replicas listen). */
export const KEYS_CHANNEL = 'creddy_keys';

/** Pause before reconnecting a dropped listener; polling covers the gap meanwhile. */
const RECONNECT_MS = 1_000;

/**
 * One LISTEN connection per process, outside the pool (a pooled connection would be handed to
 * queries), shared by every subscriber. If it drops it reconnects, and tells subscribers once it
 * is back, since a notification may have been missed meanwhile.
 */
export function createKeyListener(target: PostgresTarget): (onChange: () => void) => () => Promise<void> {
  const subscribers = new Set<() => void>();
  let client: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;

  const notifyAll = (): void => {
    for (const fn of subscribers) fn();
  };
  const connect = (): Promise<void> =>
    (connecting ??= (async () => {
      const c = new pg.Client(clientConfig(target));
      const lost = (): void => {
        if (client !== c) return;
        client = undefined;
        c.end().catch(() => {});
        if (subscribers.size > 0) retry = setTimeout(() => void connect().catch(() => {}), RECONNECT_MS).unref();
      };
      c.on('error', lost);
      c.on('end', lost);
      c.on('notification', (message) => {
        if (message.channel === KEYS_CHANNEL) notifyAll();
      });
      try {
        await c.connect();
        await c.query(`LISTEN ${KEYS_CHANNEL}`);
        client = c;
        // Anything committed while we were not listening is caught by this extra refresh.
        notifyAll();
      } catch {
        await c.end().catch(() => {});
        if (subscribers.size > 0) retry = setTimeout(() => void connect().catch(() => {}), RECONNECT_MS).unref();
      }
    })().finally(() => (connecting = undefined)));

  return (onChange) => {
    subscribers.add(onChange);
    if (!client) void connect();
    return async () => {
      subscribers.delete(onChange);
      if (subscribers.size > 0) return;
      clearTimeout(retry);
      await connecting;
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    };
  };
}
