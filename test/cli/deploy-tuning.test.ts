import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

/** `Environment=NAME=VALUE` lines of the systemd unit that are runtime settings, not creddy's config. */
function unitTuning(): Record<string, string> {
  const unit = readFileSync(join(ROOT, 'deploy', 'creddy.service'), 'utf8');
  const out: Record<string, string> = {};
  for (const [, name, value] of unit.matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(.*)$/gm)) {
    if (!name!.startsWith('CREDDY_')) out[name!] = value!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** The ENV of the Dockerfile's runtime stage (continuation lines joined; values may be quoted). */
function imageEnv(): Record<string, string> {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
  const out: Record<string, string> = {};
  for (const [, body] of runtime.matchAll(/^ENV (.*)$/gm)) {
    for (const [, name, quoted, bare] of body!.matchAll(/([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|(\S*))/g)) out[name!] = quoted ?? bare!;
  }
  return out;
}

describe('runtime settings of the shipped deployments', () => {
  // bench/issue.mjs runs creddy with the unit's settings (bench/lib/targets.mjs deployEnv): they
  // are what the memory figures in bench/README.md were measured with, so both deployments must
  // carry them.
  it('the Dockerfile sets the same NODE_OPTIONS and malloc settings as deploy/creddy.service', () => {
    const unit = unitTuning();
    const image = imageEnv();
    expect(Object.keys(unit).length).toBeGreaterThan(0);
    for (const [name, value] of Object.entries(unit)) expect(image[name], name).toBe(value);
    for (const name of Object.keys(image).filter((n) => n === 'NODE_OPTIONS' || n.startsWith('MALLOC_'))) {
      expect(unit[name], name).toBe(image[name]);
    }
  });
});
