import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { CreddyError, ERROR_CODES, type ErrorCode, isCreddyError } from '../src/errors.js';

describe('error table', () => {
  const doc = readFileSync(resolve(import.meta.dirname, '../docs/errors.md'), 'utf8');

  it.each(Object.entries(ERROR_CODES))('docs/errors.md lists %s with its status', (code, { status }) => {
    expect(doc).toMatch(new RegExp(`^\\| \`${code}\` \\| ${status} \\|`, 'm'));
  });

  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/^\| `(ERR_[A-Z_]+)`/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  // The type assertions are checked by tsc (npm run lint / typecheck), the values by vitest.
  it('isCreddyError narrows err.code to the code asked for (or the union asked for)', () => {
    const caught: unknown = new CreddyError('ERR_SCOPE_DENIED', 'x');
    if (!isCreddyError(caught, 'ERR_SCOPE_DENIED')) throw new Error('not a scope denial');
    expectTypeOf(caught.code).toEqualTypeOf<'ERR_SCOPE_DENIED'>();
    const code: 'ERR_SCOPE_DENIED' = caught.code;
    expect(code).toBe('ERR_SCOPE_DENIED');
    const retryable = (err: unknown, code: 'ERR_NOT_READY' | 'ERR_STORE_BUSY') => (isCreddyError(err, code) ? err.code : undefined);
    expectTypeOf(retryable).returns.toEqualTypeOf<'ERR_NOT_READY' | 'ERR_STORE_BUSY' | undefined>();
    expect(retryable(new CreddyError('ERR_NOT_READY', 'x'), 'ERR_NOT_READY')).toBe('ERR_NOT_READY');
    // Without a code: any CreddyError, any code.
    if (!isCreddyError(caught)) throw new Error('not a CreddyError');
    expectTypeOf(caught).toExtend<CreddyError>();
    const anyCode: unknown = new CreddyError('ERR_INTERNAL', 'x');
    if (!isCreddyError(anyCode)) throw new Error('not a CreddyError');
    expectTypeOf(anyCode.code).toEqualTypeOf<ErrorCode>();
    expect(isCreddyError(anyCode, 'ERR_SCOPE_DENIED')).toBe(false);
  });

  it('exposes messages of 4xx only by default', () => {
    expect(new CreddyError('ERR_SCOPE_DENIED', 'x').expose).toBe(true);
    expect(new CreddyError('ERR_INTERNAL', 'x').expose).toBe(false);
    expect(new CreddyError('ERR_BACKEND_UPSTREAM', 'GitHub answered 503', { expose: true }).expose).toBe(true);
  });
});
