import { describe, expect, it } from 'vitest';
import { wellFormed } from '../../src/audit/writer.js';

describe('wellFormed (audit events before they are hashed)', () => {
  it('returns a well-formed event itself, uncopied', () => {
    const event = { type: 'credential.issued', scopes: ['read'], details: { ttl: { granted: 60, clamped_by: null }, note: 'é😀' } };
    expect(wellFormed(event)).toBe(event);
  });

  it('replaces lone surrogates in values and keys at any depth, leaving the input alone', () => {
    const event = { scopes: ['ok', 'bad\uD800'], details: { ['k\uDC00']: { deep: ['x\uDBFF'] } } };
    expect(wellFormed(event)).toEqual({ scopes: ['ok', 'bad\uFFFD'], details: { 'k\uFFFD': { deep: ['x\uFFFD'] } } });
    expect(event.scopes[1]).toBe('bad\uD800');
  });

  it('replaces NUL in values and keys (PostgreSQL stores neither NUL in text nor \\u0000 in jsonb)', () => {
    const event = { scopes: ['re\u0000ad'], details: { ['k\u0000']: 'a\u0000\u0000b', ok: 'é' } };
    expect(wellFormed(event)).toEqual({ scopes: ['re\uFFFDad'], details: { 'k\uFFFD': 'a\uFFFD\uFFFDb', ok: 'é' } });
  });

  it('turns anything but plain objects into plain objects, as before', () => {
    expect(wellFormed({ details: { at: new Date(0) } })).toEqual({ details: { at: {} } });
  });
});
