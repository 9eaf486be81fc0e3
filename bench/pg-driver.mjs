// PostgreSQL driver choice: node-postgres (`pg`) against postgres.js (`postgres`) on the store
// calls of one issuance, under concurrency, against the machine's PostgreSQL.
//
//   node bench/pg-driver.mjs [--url postgres://postgres@127.0.0.1:5432/postgres] [--concurrency 32]
//                            [--duration 5] [--rounds 3] [--pool 10] [--json]
//
// Two shapes of the same work (agent lookup by token digest, credential insert, chained audit
// append under a transaction-scoped advisory lock), each run for both drivers, alternating
// per round so outside load lands on both:
//   - tx:    one transaction per issuance (lookup + insert + lock + head + append), the naive shape;
//   - group: the lookup per request on the pool, then a group commit as creddy's audit writer
//            does it — requests that arrive while a batch commits share the next transaction.
// A fresh database is created and dropped. Numbers are issuances/s and p50/p99 latency in ms.
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import postgres from 'postgres';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
    concurrency: { type: 'string', default: '32' },
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    pool: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const concurrency = Number(values.concurrency);
const durationMs = Number(values.duration) * 1000;
const poolSize = Number(values.pool);
const dbName = `creddy_bench_${randomBytes(4).toString('hex')}`;
const dbUrl = (() => {
  const u = new URL(values.url);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

const SCHEMA = `
CREATE TABLE agents (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, grants TEXT NOT NULL, created_at BIGINT NOT NULL,
  expires_at BIGINT, revoked_at BIGINT);
CREATE TABLE credentials (jti TEXT PRIMARY KEY, agent TEXT NOT NULL, backend TEXT NOT NULL, scopes TEXT NOT NULL, kid TEXT NOT NULL,
  issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT, metadata TEXT, downstream TEXT, revocation_handle BYTEA,
  downstream_revoked_at BIGINT);
CREATE TABLE audit_events (seq BIGINT PRIMARY KEY, time BIGINT NOT NULL, type TEXT NOT NULL, outcome TEXT NOT NULL, actor TEXT NOT NULL,
  agent TEXT, backend TEXT, scopes TEXT, jti TEXT, kid TEXT, reason TEXT, client_ip TEXT, request_id TEXT, details TEXT,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL, key_id TEXT NOT NULL);
CREATE INDEX audit_time ON audit_events (time);
CREATE INDEX credentials_agent ON credentials (agent, expires_at);
`;
const AGENTS = 50;
const tokenHash = (i) => createHash('sha256').update(`agent-${i}`).digest('hex');
const LOCK = 0x63726464; // "crdd"
const HEAD = 'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1';
const AGENT = 'SELECT * FROM agents WHERE token_hash = $1';
const chain = (prev, payload) => createHash('sha256').update(prev).update(payload).digest('hex');

function credential(agent) {
  const jti = randomBytes(16).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return [jti, agent, 'demo', '["read"]', 'kid-1', now, now + 300, null, null, null, null, null];
}
function auditRow(seq, prev, cred) {
  const details = JSON.stringify({ ttl: { requested: 300, granted: 300, clamped_by: null }, exp: cred[6] });
  const hash = chain(prev, `${seq}${cred[0]}${details}`);
  return [
    seq,
    Date.now(),
    'credential.issued',
    'success',
    cred[1],
    cred[1],
    'demo',
    '["read"]',
    cred[0],
    'kid-1',
    null,
    '127.0.0.1',
    'req',
    details,
    prev,
    hash,
    'k1',
  ];
}
const CRED_COLS =
  'jti, agent, backend, scopes, kid, issued_at, expires_at, revoked_at, metadata, downstream, revocation_handle, downstream_revoked_at';
const AUDIT_COLS =
  'seq, time, type, outcome, actor, agent, backend, scopes, jti, kid, reason, client_ip, request_id, details, prev_hash, hash, key_id';
const placeholders = (rows, width) =>
  rows.map((_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`).join(', ');

/** Each driver as the same four operations. */
const drivers = {
  pg: () => {
    const types = { getTypeParser: (oid, format) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)) };
    const pool = new pg.Pool({ connectionString: dbUrl, max: poolSize, types });
    pool.on('error', () => {}); // an idle client's connection dropped: the pool replaces it
    const insertAll = async (client, creds, rows) => {
      await client.query(`INSERT INTO credentials (${CRED_COLS}) VALUES ${placeholders(creds, 12)}`, creds.flat());
      await client.query(`INSERT INTO audit_events (${AUDIT_COLS}) VALUES ${placeholders(rows, 17)}`, rows.flat());
    };
    return {
      lookup: async (hash) => (await pool.query({ name: 'agent', text: AGENT, values: [hash] })).rows[0],
      async tx(hash) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const agent = (await client.query({ name: 'agent', text: AGENT, values: [hash] })).rows[0];
          await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
          const head = (await client.query({ name: 'head', text: HEAD })).rows[0];
          const cred = credential(agent.name);
          await insertAll(client, [cred], [auditRow((head?.seq ?? 0) + 1, head?.hash ?? '0', cred)]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw err;
        } finally {
          client.release();
        }
      },
      async batch(creds) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
          const head = (await client.query({ name: 'head', text: HEAD })).rows[0];
          let seq = head?.seq ?? 0;
          let prev = head?.hash ?? '0';
          const rows = creds.map((c) => {
            const row = auditRow(++seq, prev, c);
            prev = row[15];
            return row;
          });
          await insertAll(client, creds, rows);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw err;
        } finally {
          client.release();
        }
      },
      end: () => pool.end(),
    };
  },
  'postgres.js': () => {
    // int8 as Number, like the pg setup above.
    const sqlN = postgres(dbUrl, {
      max: poolSize,
      onnotice: () => {},
      types: { int8: { to: 20, from: [20], serialize: String, parse: Number } },
    });
    const insertAll = async (tx, creds, rows) => {
      await tx.unsafe(`INSERT INTO credentials (${CRED_COLS}) VALUES ${placeholders(creds, 12)}`, creds.flat());
      await tx.unsafe(`INSERT INTO audit_events (${AUDIT_COLS}) VALUES ${placeholders(rows, 17)}`, rows.flat());
    };
    return {
      lookup: async (hash) => (await sqlN.unsafe(AGENT, [hash], { prepare: true }))[0],
      tx: (hash) =>
        sqlN.begin(async (tx) => {
          const agent = (await tx.unsafe(AGENT, [hash], { prepare: true }))[0];
          await tx.unsafe('SELECT pg_advisory_xact_lock($1)', [LOCK], { prepare: true });
          const head = (await tx.unsafe(HEAD, [], { prepare: true }))[0];
          const cred = credential(agent.name);
          await insertAll(tx, [cred], [auditRow((head?.seq ?? 0) + 1, head?.hash ?? '0', cred)]);
        }),
      batch: (creds) =>
        sqlN.begin(async (tx) => {
          await tx.unsafe('SELECT pg_advisory_xact_lock($1)', [LOCK], { prepare: true });
          const head = (await tx.unsafe(HEAD, [], { prepare: true }))[0];
          let seq = head?.seq ?? 0;
          let prev = head?.hash ?? '0';
          const rows = creds.map((c) => {
            const row = auditRow(++seq, prev, c);
            prev = row[15];
            return row;
          });
          await insertAll(tx, creds, rows);
        }),
      end: () => sqlN.end(),
    };
  },
};

/** The audit writer's shape: one transaction in flight, everything queued meanwhile joins the next. */
function groupCommitter(driver) {
  let queue = [];
  let inFlight = false;
  let batches = 0;
  const run = async () => {
    inFlight = true;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      batches++;
      try {
        await driver.batch(batch.map((p) => p.cred));
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    inFlight = false;
  };
  return {
    write: (cred) =>
      new Promise((resolve, reject) => {
        queue.push({ cred, resolve, reject });
        if (!inFlight) setImmediate(run);
      }),
    batches: () => batches,
  };
}

async function measure(name, shape) {
  const driver = drivers[name]();
  const committer = groupCommitter(driver);
  const one =
    shape === 'tx'
      ? (i) => driver.tx(tokenHash(i % AGENTS))
      : async (i) => {
          const agent = await driver.lookup(tokenHash(i % AGENTS));
          await committer.write(credential(agent.name));
        };
  // Warm-up: connections opened, statements prepared.
  await Promise.all(Array.from({ length: concurrency }, (_, i) => one(i)));
  const latencies = [];
  let errors = 0;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      let i = w;
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await one(i);
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
        i += concurrency;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  await driver.end();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0;
  return {
    driver: name,
    shape,
    perSecond: Math.round(latencies.length / elapsed),
    p50: +pct(50).toFixed(2),
    p99: +pct(99).toFixed(2),
    errors,
    ...(shape === 'group' ? { meanBatch: +(latencies.length / Math.max(1, committer.batches())).toFixed(1) } : {}),
  };
}

const admin = new pg.Client({ connectionString: values.url });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const results = [];
try {
  const setup = new pg.Client({ connectionString: dbUrl });
  await setup.connect();
  await setup.query(SCHEMA);
  for (let i = 0; i < AGENTS; i++) {
    await setup.query('INSERT INTO agents VALUES ($1, $2, $3, $4, NULL, NULL)', [`agent-${i}`, tokenHash(i), '[]', 0]);
  }
  await setup.end();
  const names = Object.keys(drivers);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const shape of ['tx', 'group']) {
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const name of order) results.push({ round, ...(await measure(name, shape)) });
    }
  }
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}

if (values.json) {
  console.log(JSON.stringify({ concurrency, durationMs, poolSize, results }, null, 2));
} else {
  console.log(`concurrency ${concurrency}, pool ${poolSize}, ${values.duration} s per run`);
  console.log('round  shape  driver        issuances/s   p50 ms   p99 ms  errors  mean batch');
  for (const r of results) {
    console.log(
      `${String(r.round).padEnd(6)} ${r.shape.padEnd(6)} ${r.driver.padEnd(12)} ${String(r.perSecond).padStart(12)} ${String(r.p50).padStart(8)} ${String(r.p99).padStart(8)} ${String(r.errors).padStart(7)}  ${r.meanBatch ?? ''}`,
    );
  }
}
