// Audit query speed on a large log: builds a store with N events (default 1,000,000) spread over
// a year, 20 backends and 200 agents, through the real store and chain (HMAC per row), then times
// the query behind `creddy audit list --since 24h --backend X` (and a few others) in-process.
//
//   node bench/audit-query.mjs [--events 1000000] [--runs 50] [--tmp DIR] [--keep] [--json]
//   env CREDDY_AUDIT_KEY: seal with this key (else a random one), so a kept db can be verified
//
// The database is built once per run in --tmp (default bench/.tmp); --keep leaves it for
// `creddy audit list` by hand. Prints the query plan so an index regression shows.

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';

const ROOT = resolve(import.meta.dirname, '..');
const { createSqliteStore } = await import(join(ROOT, 'dist', 'store', 'sqlite', 'index.js'));
const { createSealer } = await import(join(ROOT, 'dist', 'audit', 'chain.js'));
const { loadAuditKeys } = await import(join(ROOT, 'dist', 'audit', 'key.js'));

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '50' },
    tmp: { type: 'string', default: join(ROOT, 'bench', '.tmp') },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const EVENTS = Number(values.events);
const RUNS = Number(values.runs);
const DAY = 86_400_000;
const now = Date.now();

mkdirSync(values.tmp, { recursive: true });
const dir = mkdtempSync(join(values.tmp, 'audit-query-'));
const path = join(dir, 'creddy.db');
const store = createSqliteStore(path);
// With CREDDY_AUDIT_KEY set (and --keep), `creddy audit verify` can be timed on the result too.
const seal = createSealer(loadAuditKeys({ env: process.env }).current ?? { id: 'bench', key: randomBytes(32) });

const types = ['credential.issued', 'credential.issued', 'credential.issued', 'credential.denied', 'credential.revoked'];
const t0 = performance.now();
const BATCH = 10_000;
for (let done = 0; done < EVENTS; done += BATCH) {
  const entries = [];
  for (let i = done; i < Math.min(EVENTS, done + BATCH); i++) {
    const type = types[i % types.length];
    entries.push({
      event: {
        // Oldest first, evenly over 365 days: about EVENTS/365 events per day.
        time: now - 365 * DAY + Math.floor((i / EVENTS) * 365 * DAY),
        type,
        outcome: type === 'credential.denied' ? 'denied' : 'success',
        actor: `agent-${i % 200}`,
        agent: `agent-${i % 200}`,
        backend: `backend-${(i * 7) % 20}`,
        scopes: ['contents:read'],
        jti: `jti-${i}`,
        kid: 'kid-1',
        reason: type === 'credential.denied' ? 'ERR_SCOPE_DENIED' : null,
        clientIp: '127.0.0.1',
        requestId: `req-${i}`,
        details: { ttl: { requested: 900, granted: 900, clamped_by: null } },
      },
    });
  }
  await store.audit.append(entries, seal);
}
const buildSeconds = (performance.now() - t0) / 1000;

async function time(label, filter) {
  const samples = [];
  let rows = 0;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    rows = (await store.audit.query(filter)).length;
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return {
    label,
    rows,
    first_ms: +samples.at(-1).toFixed(3),
    p50_ms: +samples[Math.floor(RUNS / 2)].toFixed(3),
    p99_ms: +samples[Math.floor(RUNS * 0.99)].toFixed(3),
  };
}

const since24h = now - DAY;
const results = [
  await time('--since 24h --backend backend-3', { since: since24h, backend: 'backend-3', limit: 100 }),
  await time('--since 24h --backend backend-3 --limit 10000', { since: since24h, backend: 'backend-3', limit: 10_000 }),
  await time('--since 24h', { since: since24h, limit: 100 }),
  await time('--agent agent-42 --since 24h', { agent: 'agent-42', since: since24h, limit: 100 }),
  await time('--jti jti-123456', { jti: 'jti-123456', limit: 100 }),
  await time('--type credential.denied --since 24h', { type: 'credential.denied', since: since24h, limit: 100 }),
  await time('(no filter)', { limit: 100 }),
];
const db = new Database(path, { readonly: true });
const plan = db
  .prepare('EXPLAIN QUERY PLAN SELECT * FROM audit_events WHERE backend = ? AND time >= ? ORDER BY seq DESC LIMIT ?')
  .all('backend-3', since24h, 100)
  .map((r) => r.detail);
db.close();
await store.close();
if (!values.keep) rmSync(dir, { recursive: true, force: true });

const out = { events: EVENTS, build_seconds: +buildSeconds.toFixed(1), runs: RUNS, plan, results, ...(values.keep ? { db: path } : {}) };
if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`);
else {
  process.stdout.write(`built ${EVENTS} events in ${out.build_seconds} s; plan for --since 24h --backend X: ${plan.join(' / ')}\n`);
  for (const r of results)
    process.stdout.write(
      `${r.label.padEnd(48)} ${String(r.rows).padStart(5)} rows  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  worst ${r.first_ms} ms\n`,
    );
}
