import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { isCreddyError } from '../../src/errors.js';
import { parseIssueBody } from '../../src/http/issue-body.js';
import { demoYaml } from '../helpers/harness.js';

/** Either a value or a CreddyError: anything else thrown is a crash the edge let through. */
function resultOrCreddyError(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!isCreddyError(err)) throw err;
  }
}

describe('the issue body parser (property)', () => {
  const accepts = (backend: string) => (backend === 'gh' ? ['repositories'] : []);

  it('any JSON value yields a request or a CreddyError, never a crash', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.option(fc.string({ maxLength: 70 }), { nil: undefined }), (body, param) => {
        resultOrCreddyError(() => parseIssueBody(body, param, accepts));
      }),
      { numRuns: 3000 },
    );
  });

  it('bodies shaped like real requests, with hostile members, too', () => {
    const member = fc.oneof(fc.jsonValue(), fc.string(), fc.array(fc.string(), { maxLength: 70 }));
    const body = fc.record(
      {
        backend: fc.oneof(fc.constantFrom('demo', 'gh', 'Demo', ''), fc.string()),
        scopes: member,
        ttl: member,
        metadata: member,
        repositories: member,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(body, (raw) => {
        resultOrCreddyError(() => {
          const parsed = parseIssueBody(raw, undefined, accepts);
          // What passes the edge is what the use case may trust.
          expect(typeof parsed.backend).toBe('string');
          if (parsed.metadata) for (const v of Object.values(parsed.metadata)) expect(typeof v).toBe('string');
        });
      }),
      { numRuns: 3000 },
    );
  });
});

describe('the config loader (property)', () => {
  it('any YAML document yields a Config or ERR_CONFIG_INVALID', () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 3 }), (value) => {
        let text: string;
        try {
          text = stringify(value);
        } catch {
          return; // not representable as YAML (e.g. a symbol): nothing to load
        }
        resultOrCreddyError(() => parseConfig(text, '/tmp/creddy-property.yaml', {}));
      }),
      { numRuns: 1500 },
    );
  });

  it('an unknown YAML tag is refused, not loaded as a plain value', () => {
    expect(() => parseConfig(`${demoYaml({ dataDir: '/tmp/x' })}\nstore: !secret sqlite\n`, '/tmp/creddy.yaml', {})).toThrow(
      /Unresolved tag/,
    );
  });

  it('a valid config with one line changed at random loads or names its problem', () => {
    const lines = demoYaml({ dataDir: '/tmp/creddy-property-data' }).split('\n');
    fc.assert(
      fc.property(fc.nat(lines.length - 1), fc.string({ maxLength: 40 }), (index, replacement) => {
        const edited = lines.map((line, i) => (i === index ? replacement : line)).join('\n');
        try {
          parseConfig(edited, '/tmp/creddy-property.yaml', {});
        } catch (err) {
          expect(isCreddyError(err, 'ERR_CONFIG_INVALID')).toBe(true);
        }
      }),
      { numRuns: 1500 },
    );
  });
});
