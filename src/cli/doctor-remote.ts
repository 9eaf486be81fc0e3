import { backendTypes } from '../backends/registry.js';
import type { ProbeResult } from '../backends/types.js';
import type { Config } from '../config/types.js';
import { type Check, quiet } from './doctor-local.js';

/** The checks of `creddy doctor` that ask services outside: each backend, its clock, the JWKS at the issuer. */

const TIMEOUT_MS = 10_000;
/** Skew below this is the Date header's own resolution and the round trip: not worth a warning. */
const SKEW_NOTICE_S = 5;

/** Each backend's own probe (credentials accepted, service answering), and this machine's clock against theirs. */
export async function checkBackends(config: Config): Promise<Check[]> {
  const deps = { clock: { now: () => Date.now() }, logger: quiet };
  const results = await Promise.all(
    [...config.backends.values()].map(async ({ common, settings }): Promise<[string, ProbeResult]> => {
      const type = backendTypes[common.type];
      if (type.servedFromStore) return [common.name, { status: 'ok', message: type.servedFromStore }];
      const backend = type.create(settings as never, common, deps);
      if (!backend.probe) return [common.name, { status: 'ok', message: `${common.type}: nothing downstream to check` }];
      return [common.name, await backend.probe(AbortSignal.timeout(TIMEOUT_MS))];
    }),
  );
  const checks: Check[] = results.map(([name, r]) => ({
    check: `backend ${name}`,
    status: r.status,
    message: r.message,
    ...(r.fix ? { fix: r.fix } : {}),
  }));
  const skews = results.flatMap(([name, r]) =>
    r.serverTime === undefined ? [] : [{ name, skew: Math.round((Date.now() - r.serverTime) / 1000) }],
  );
  if (skews.length > 0) {
    const worst = skews.reduce((a, b) => (Math.abs(b.skew) > Math.abs(a.skew) ? b : a));
    const said = `this machine's clock is ${Math.abs(worst.skew)}s ${worst.skew >= 0 ? 'ahead of' : 'behind'} ${worst.name}'s`;
    const fix = 'synchronise the clock (NTP: chrony or systemd-timesyncd)';
    checks.push(
      Math.abs(worst.skew) <= SKEW_NOTICE_S
        ? { check: 'clock', status: 'ok', message: `within ${SKEW_NOTICE_S}s of ${skews.map((s) => s.name).join(', ')}` }
        : Math.abs(worst.skew) <= config.keys.clockSkew
          ? { check: 'clock', status: 'warn', message: `${said} (keys.clock_skew allows ${config.keys.clockSkew}s)`, fix }
          : {
              check: 'clock',
              status: 'fail',
              message: `${said}: beyond keys.clock_skew (${config.keys.clockSkew}s), verifiers and backends refuse tokens`,
              fix,
            },
    );
  }
  return checks;
}

/** The JWKS is served at the configured issuer, and by this store's broker (it holds the current key). */
export async function checkJwks(config: Config, currentKid: string | undefined): Promise<Check> {
  const url = `${config.issuer}/.well-known/jwks.json`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    const body = (await response.json().catch(() => undefined)) as { keys?: Array<{ kid?: string }> } | undefined;
    if (!response.ok || !Array.isArray(body?.keys))
      return {
        check: 'jwks',
        status: 'fail',
        message: `${url} answered ${response.status} without a JWKS`,
        fix: 'issuer must be the URL where this server is reached (a proxy in front must pass /.well-known/)',
      };
    if (currentKid && !body.keys.some((k) => k.kid === currentKid))
      return {
        check: 'jwks',
        status: 'fail',
        message: `${url} does not hold this store's current key ${currentKid}`,
        fix: 'issuer points at another broker, or the server there uses another store',
      };
    return { check: 'jwks', status: 'ok', message: `${url}: ${body.keys.length} key(s)` };
  } catch (err) {
    return {
      check: 'jwks',
      status: 'fail',
      message: `${url} cannot be reached: ${(err as Error).message}`,
      fix: 'start the server (creddy server), and make issuer the URL verifiers reach it at',
    };
  }
}
