import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backendTypes } from '../../src/backends/registry.js';
import { parseConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/setup.js';

describe('config.example.yaml', () => {
  const text = readFileSync(resolve(import.meta.dirname, '../../config.example.yaml'), 'utf8');

  it('parses as a valid config once its ${file:} and ${env:} references exist', () => {
    const { dir, cleanup } = tempDir();
    try {
      // Point every ${file:…} at a real file holding a PEM key, every ${env:…} at a value.
      const pem = join(dir, 'key.pem');
      writeFileSync(pem, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      const rewritten = text.replace(/\$\{file:[^}]+\}/g, `\${file:${pem}}`);
      const env = Object.fromEntries([...text.matchAll(/\$\{env:([^}]+)\}/g)].map((m) => [m[1]!, 'example-value']));
      const config = parseConfig(rewritten, join(dir, 'creddy.yaml'), env);
      expect(config.backends.size).toBeGreaterThan(0);
      expect(config.federation.rules.map((r) => r.name)).toEqual(['gha-deploy']);
      expect(config.federation.warnings).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('shows every backend type', () => {
    for (const type of Object.keys(backendTypes)) expect(text).toMatch(new RegExp(`^\\s+type: ${type}\\b`, 'm'));
  });

  it('documents every top-level key with a comment', () => {
    for (const key of ['issuer', 'listen', 'data_dir', 'store', 'keys', 'audit', 'backends', 'federation']) {
      expect(text).toMatch(new RegExp(`#[^\\n]*\\n(#[^\\n]*\\n)*${key}:`, 'm'));
    }
  });
});
