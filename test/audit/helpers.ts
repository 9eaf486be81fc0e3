import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { demoYaml, issue, type TestBroker } from '../helpers/harness.js';

/** Broker config (`startBroker({ extra })`) for audit checkpoints every `every` rows, and not by timer during a test. */
export const checkpointsEvery = (every: number): string => `audit:\n  checkpoint_every: ${every}\n  checkpoint_interval: 1h`;

/** Real traffic: agents, issues, denials — a realistic log. */
export async function makeTraffic(broker: TestBroker, issues = 12): Promise<void> {
  const token = await broker.agent(`bot-${Math.random().toString(36).slice(2, 8)}`, 'demo:read,demo:files:*');
  for (let i = 0; i < issues; i++) {
    const r = await issue(broker.url, token, { backend: 'demo', scopes: i % 4 === 3 ? ['write'] : ['read'] });
    if (r.status !== (i % 4 === 3 ? 403 : 201)) throw new Error(`unexpected ${r.status}`);
    if (i % 5 === 4) await broker.services.auditCheckpoints.checkpointNow();
  }
}

/** Path of the broker's SQLite file. */
export const dbPath = (broker: TestBroker): string => join(broker.dir, 'data', 'creddy.db');

/**
 * A consistent copy of the broker's database in its own dir with a config pointing at it, so
 * the CLI can run on the copy. Returns the dir, config path and db path.
 */
export function copyDatabase(broker: TestBroker, name: string): { dir: string; config: string; db: string } {
  const dir = join(broker.dir, `copy-${name}`);
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const db = join(dir, 'data', 'creddy.db');
  const source = new Database(dbPath(broker), { readonly: true });
  source.exec(`VACUUM INTO '${db}'`);
  source.close();
  const config = join(dir, 'creddy.yaml');
  writeFileSync(config, demoYaml({ dataDir: join(dir, 'data') }));
  return { dir, config, db };
}

/** Opens a copy as an attacker with file access would: triggers dropped first. */
export function attack(db: string, edit: (db: Database.Database) => void): void {
  const conn = new Database(db);
  for (const { name } of conn.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'trigger'").all())
    conn.exec(`DROP TRIGGER "${name}"`);
  edit(conn);
  conn.close();
}
