/**
 * docs/deploy.md prints the SQL `creddy store migrate --runtime-role` runs, for operators who
 * apply it themselves: it must be that SQL, statement for statement, or a hand-made runtime role
 * lacks a table the server needs (it once lacked secret_versions).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runtimeGrantSql } from '../../src/store/postgres/grants.js';

const DOC = new URL('../../docs/deploy.md', import.meta.url);

/** The SQL block after the sentence that introduces it, as statements with whitespace and comments normalised. */
function documentedGrants(): string[] {
  const text = readFileSync(DOC, 'utf8');
  const intro = text.indexOf('What `--runtime-role` runs');
  expect(intro).toBeGreaterThan(-1);
  const block = /```sql\n([\s\S]*?)```/.exec(text.slice(intro))![1]!;
  return block
    .replace(/--[^\n]*/g, '')
    .split(';')
    .map((statement) => statement.replace(/\s+/g, ' ').trim())
    .filter(Boolean);
}

describe('the runtime role SQL in docs/deploy.md', () => {
  it('is what store migrate --runtime-role runs', () => {
    const normalised = runtimeGrantSql('creddy_app', 'public').map((s) => s.replace(/\s+/g, ' ').trim());
    expect(documentedGrants()).toEqual(normalised);
  });
});
