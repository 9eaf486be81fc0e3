import type { Store } from '../port.js';
import { type AgentRow, toAgent } from '../rows.js';
import type { Db } from './db.js';

/** Agents are read here and written with their audit rows (audit-append.ts). */
export function postgresAgents(db: Db): Omit<Store['agents'], 'revoke'> {
  return {
    async byTokenHash(tokenHash) {
      // Every request authenticates here, on every replica: a revocation anywhere applies at once.
      const { rows } = await db.query<AgentRow>({ name: 'agent-by-hash', text: 'SELECT * FROM agents WHERE token_hash = $1' }, [tokenHash]);
      return rows[0] && toAgent(rows[0]);
    },
    async byName(name) {
      // The unrevoked record first, else the newest: a name may have been revoked and created again.
      const { rows } = await db.query<AgentRow>(
        {
          name: 'agent-by-name',
          text: 'SELECT * FROM agents WHERE name = $1 ORDER BY revoked_at IS NOT NULL, created_at DESC, id COLLATE "C" DESC LIMIT 1',
        },
        [name],
      );
      return rows[0] && toAgent(rows[0]);
    },
    async list() {
      const { rows } = await db.query<AgentRow>('SELECT * FROM agents ORDER BY name COLLATE "C", created_at, id COLLATE "C"');
      return rows.map(toAgent);
    },
  };
}
