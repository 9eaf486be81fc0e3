import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { isCreddyError } from '../../src/errors.js';
import { tempDir } from '../helpers/harness.js';

const GHA = 'https://token.actions.githubusercontent.com';
const base = `issuer: https://creddy.example.com
backends:
  aws-prod:
    type: generic
    allowed_scopes: ["s3:Get*", "s3:List*"]
federation:
`;

/** One rule `r` with the given keys (indented under it). */
const rule = (body: string, name = 'gha-deploy') => `${base}  ${name}:\n${body.replace(/^/gm, '    ')}\n`;
const good = `issuer: ${GHA}
audience: https://creddy.example.com
claims:
  repository_owner_id: 1234567
  repository: my-org/infra
  ref: refs/heads/main
subject: "gha:{repository}@{ref}"
can: ["aws-prod:s3:GetObject"]
max_ttl: 15m`;

function problem(yaml: string): string {
  try {
    parseConfig(yaml, '/etc/creddy/creddy.yaml', {});
    return 'ok';
  } catch (err) {
    if (!isCreddyError(err, 'ERR_CONFIG_INVALID')) throw err;
    return err.message;
  }
}

describe('federation rules at load', () => {
  it('parses a GitHub Actions rule: conditions, subject, grants, max_ttl', () => {
    const config = parseConfig(rule(good), '/etc/creddy/creddy.yaml', {});
    const [parsed] = config.federation.rules;
    expect(parsed).toMatchObject({
      name: 'gha-deploy',
      issuer: GHA,
      audience: 'https://creddy.example.com',
      claims: [
        { claim: 'repository_owner_id', patterns: ['1234567'] },
        { claim: 'repository', patterns: ['my-org/infra'] },
        { claim: 'ref', patterns: ['refs/heads/main'] },
      ],
      subject: 'gha:{repository}@{ref}',
      can: [{ backend: 'aws-prod', scope: 's3:GetObject' }],
      maxTtl: 900,
      singleUse: false,
      jwksUri: null,
      ca: null,
    });
    expect(parsed!.algorithms).not.toContain('HS256');
    expect(config.federation.warnings).toEqual([]);
  });

  it.each([
    [good.replace(GHA, 'http://token.actions.githubusercontent.com'), 'federation.gha-deploy.issuer: must be an https URL'],
    [good.replace(GHA, 'http://10.0.0.5:8080'), 'federation.gha-deploy.issuer: must be an https URL'],
    [good.replace(GHA, 'https://creddy.example.com'), "federation.gha-deploy.issuer: is creddy's own issuer"],
    [good.replace(/claims:\n(\s+.*\n){3}/, ''), 'federation.gha-deploy.claims: at least one claim condition is required'],
    [good.replace(/claims:\n(\s+.*\n){3}/, 'claims: {}\n'), 'federation.gha-deploy.claims: at least one claim condition is required'],
    [good.replace('repository: my-org/infra', 'repository: "*"'), 'federation.gha-deploy.claims.repository: "*" matches any value'],
    [good.replace('repository: my-org/infra', 'aud: x'), 'federation.gha-deploy.claims.aud: is checked by issuer'],
    [good.replace('repository: my-org/infra', 'repository: {a: 1}'), 'federation.gha-deploy.claims.repository: must be a string'],
    [`${good}\nalgorithms: [RS256, HS256]`, 'federation.gha-deploy.algorithms[1]: "HS256" is not accepted'],
    [`${good}\nalgorithms: [none]`, 'federation.gha-deploy.algorithms[0]: "none" is not accepted'],
    [`${good}\njwks_uri: http://keys.example.com/jwks`, 'federation.gha-deploy.jwks_uri: must be an https URL'],
    [good.replace('"gha:{repository}@{ref}"', '"{repository}"'), 'federation.gha-deploy.subject: "{repository}" must contain a ":"'],
    [
      good.replace('aws-prod:s3:GetObject', 'aws-prod:s3:PutObject'),
      'federation.gha-deploy.can[0]: grant "aws-prod:s3:PutObject": scope is outside aws-prod\'s',
    ],
    [good.replace('aws-prod:s3:GetObject', 'nope:read'), 'federation.gha-deploy.can[0]: grant "nope:read": no backend named "nope"'],
    [good.replace('max_ttl: 15m', 'max_ttl: 30s'), 'federation.gha-deploy.max_ttl: must be at least 60s'],
    [good.replace('audience: https://creddy.example.com\n', ''), 'federation.gha-deploy.audience: is required'],
    [`${good}\nsingle_use: yes-please`, 'federation.gha-deploy.single_use: must be true or false'],
    [`${good}\nmax_tll: 1h`, 'federation.gha-deploy.max_tll: unknown key'],
    [`${good}\nca_file: /nonexistent/ca.pem`, 'federation.gha-deploy.ca_file: cannot read /nonexistent/ca.pem'],
  ])('refuses a dangerous or broken rule, naming it (%#)', (body, expected) => {
    expect(problem(rule(body))).toContain(expected);
  });

  it('accepts loopback http issuers (tests, sidecars)', () => {
    expect(problem(rule(good.replace(GHA, 'http://127.0.0.1:9999')))).toBe('ok');
    expect(problem(rule(good.replace(GHA, 'http://[::1]:9999')))).toBe('ok');
  });

  it('warns loudly about a GitHub Actions rule that pins no immutable id', () => {
    const config = parseConfig(rule(good.replace('repository_owner_id: 1234567\n  ', '')), '/etc/creddy/creddy.yaml', {});
    expect(config.federation.warnings).toEqual([expect.stringMatching(/^federation\.gha-deploy: .*repository_owner_id or repository_id/)]);
    const byRepoId = parseConfig(rule(good.replace('repository_owner_id: 1234567', 'repository_id: "42"')), '/etc/creddy/creddy.yaml', {});
    expect(byRepoId.federation.warnings).toEqual([]);
  });

  it('refuses two rules of one issuer that disagree on its keys', () => {
    const yaml = `${rule(good)}  other:\n${`${good}\njwks_uri: ${GHA}/other-jwks`.replace(/^/gm, '    ')}\n`;
    expect(problem(yaml)).toContain('federation.other.jwks_uri: differs from rule gha-deploy for the same issuer');
  });

  it('reads ca_file relative to the config and keeps its PEM', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
      const config = parseConfig(rule(`${good}\nca_file: ca.pem`), join(dir, 'creddy.yaml'), {});
      expect(config.federation.rules[0]!.ca).toContain('BEGIN CERTIFICATE');
      writeFileSync(join(dir, 'bad.pem'), 'hello');
      expect(problem(rule(`${good}\nca_file: ${join(dir, 'bad.pem')}`))).toContain('holds no PEM certificate');
    } finally {
      cleanup();
    }
  });

  it('has no rules when federation is absent', () => {
    expect(parseConfig('issuer: https://creddy.example.com\n', '/x.yaml', {}).federation).toEqual({ rules: [], warnings: [] });
  });
});

describe('federation warnings at start', () => {
  it('are logged loudly, naming the rule', async () => {
    const { createFederation } = await import('../../src/agents/federation/index.js');
    const { captureLogger } = await import('../helpers/harness.js');
    const { logger, lines } = captureLogger();
    const config = parseConfig(rule(good.replace('repository_owner_id: 1234567\n  ', '')), '/etc/creddy/creddy.yaml', {});
    createFederation({ config, clock: { now: () => Date.now() }, logger });
    expect(lines).toEqual([expect.stringMatching(/"level":"warn".*INSECURE: federation\.gha-deploy: GitHub Actions rule without/)]);
  });
});
