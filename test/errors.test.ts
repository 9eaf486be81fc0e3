import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CreddyError, ERROR_CODES } from '../src/errors.js';

describe('error table', () => {
  const doc = readFileSync(resolve(import.meta.dirname, '../docs/errors.md'), 'utf8');

  it.each(Object.entries(ERROR_CODES))('docs/errors.md lists %s with its status', (code, { status }) => {
    expect(doc).toMatch(new RegExp(`^\\| \`${code}\` \\| ${status} \\|`, 'm'));
  });

  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/^\| `(ERR_[A-Z_]+)`/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('exposes messages of 4xx only by default', () => {
    expect(new CreddyError('ERR_SCOPE_DENIED', 'x').expose).toBe(true);
    expect(new CreddyError('ERR_INTERNAL', 'x').expose).toBe(false);
    expect(new CreddyError('ERR_BACKEND_UPSTREAM', 'GitHub answered 503', { expose: true }).expose).toBe(true);
  });
});
