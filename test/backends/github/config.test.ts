/** github backend config: bad settings refuse to start with the key path; static token mode. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { appKeyPair } from '../../fakes/github.js';
import { issue, startBroker, tempDir } from '../../helpers/harness.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const rsa = appKeyPair();
writeFileSync(join(tmp.dir, 'app.pem'), rsa.privateKey);
writeFileSync(join(tmp.dir, 'not-a-key.pem'), '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n');

const yaml = (lines: string[]) =>
  ['backends:', '  gh:', '    type: github', '    allowed_scopes: ["contents:read"]', ...lines.map((l) => `    ${l}`)].join('\n');
const parse = (lines: string[], env: NodeJS.ProcessEnv = {}) => parseConfig(yaml(lines), join(tmp.dir, 'creddy.yaml'), env);
const app = [`app_id: 1`, `private_key: \${file:${tmp.dir}/app.pem}`, 'installation_id: 7'];

function configError(lines: string[]): string {
  try {
    parse(lines);
  } catch (err) {
    expect((err as { code?: string }).code).toBe('ERR_CONFIG_INVALID');
    return (err as Error).message;
  }
  throw new Error('config was accepted');
}

describe('github backend config', () => {
  it('accepts an App with installation_id or owner and a repository ceiling', () => {
    expect(() => parse([...app, 'repositories: ["acme/*", "acme/widgets"]'])).not.toThrow();
    // https anywhere, plain http only on loopback (the test fakes).
    for (const url of ['https://ghe.corp.example.com/api/v3', 'http://127.0.0.1:8080', 'http://localhost:1/api/v3', 'http://[::1]:9']) {
      expect(parse([...app, `base_url: ${url}`]).backends.get('gh')?.settings).toMatchObject({ baseUrl: url });
    }
    expect(() => parse(app.map((l) => (l.startsWith('installation_id') ? 'owner: acme' : l)))).not.toThrow();
  });

  it.each([
    ['a missing app_id', app.slice(1), /backends\.gh\.app_id: is required/],
    ['a missing private_key', [app[0]!, app[2]!], /backends\.gh\.private_key: is required/],
    [
      'an unparsable key',
      [app[0]!, `private_key: \${file:${tmp.dir}/not-a-key.pem}`, app[2]!],
      /backends\.gh\.private_key: is not a PEM private key/,
    ],
    ['neither installation_id nor owner', app.slice(0, 2), /backends\.gh\.installation_id: is required/],
    ['both installation_id and owner', [...app, 'owner: acme'], /backends\.gh\.owner: set either/],
    ['a bad repository ceiling entry', [...app, 'repositories: ["widgets"]'], /backends\.gh\.repositories\[0\]/],
    ['a bad base_url', [...app, 'base_url: ftp://x'], /backends\.gh\.base_url/],
    [
      'a plain http base_url off loopback (the App JWT and tokens in cleartext)',
      [...app, 'base_url: http://ghe.corp.example.com/api/v3'],
      /backends\.gh\.base_url: must be an https URL \(plain http only to a loopback address\)/,
    ],
    [
      'a plain http base_url for a static token',
      ['token: ghp_x', 'base_url: http://10.0.0.8/api/v3'],
      /backends\.gh\.base_url: must be an https URL/,
    ],
    ['token combined with App keys', ['token: ghp_x', 'app_id: 1'], /backends\.gh\.app_id: cannot be combined with token/],
    ['a default scope that is not PERMISSION:LEVEL', [...app, 'default_scopes: ["contents*"]'], /backends\.gh\.default_scopes\[0\]/],
    ['an unknown key', [...app, 'app_secret: x'], /backends\.gh\.app_secret: unknown key/],
  ])('refuses %s, naming the key', (_name, lines, message) => {
    const text = configError(lines);
    expect(text).toMatch(message);
    expect(text).not.toContain('BEGIN');
  });
});

describe('github backend: static token mode', () => {
  it('warns at startup and returns the token with revocation "none"', async () => {
    const pat = `ghp_${'a1'.repeat(18)}`;
    const broker = await startBroker({
      env: { GH_PAT: pat },
      backends: [
        '  gh:',
        '    type: github',
        '    allowed_scopes: ["contents:read"]',
        '    token: ${env:GH_PAT}',
        '    default_scopes: ["contents:read"]',
      ].join('\n'),
    });
    try {
      const lines = broker.logLines;
      expect(lines.some((l) => l.includes('"level":"warn"') && l.includes('static GitHub token'))).toBe(true);
      const res = await issue(broker.url, await broker.agent('a', 'gh:contents:read'), { backend: 'gh' });
      expect(res.status).toBe(201);
      expect(res.body.credential).toEqual({ type: 'github_token', token: pat, expires_at: null, revocation: 'none' });
      expect(lines.join('\n')).not.toContain(pat);
    } finally {
      await broker.stop();
    }
  });
});
