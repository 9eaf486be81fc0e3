/**
 * An issuer behind a private CA (a Kubernetes API server): its keys are fetched over HTTPS
 * trusting exactly `ca_file`; without it the system trust store refuses the certificate and the
 * issuer's tokens are refused (fail-closed).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFederation } from '../../src/agents/federation/index.js';
import { parseConfig } from '../../src/config/load.js';
import { isCreddyError } from '../../src/errors.js';
import { type FakeOidcIssuer, startFakeOidcIssuer } from '../fakes/oidc-issuer.js';
import { silentLogger, tempDir } from '../helpers/harness.js';

let issuer: FakeOidcIssuer;
let dir: string;
let cleanup: () => void;

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl, as an operator would). */
function makeCa(at: string): { key: string; cert: string } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: at, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=creddy test CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(at, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'ext.cnf',
  );
  return { key: readFileSync(join(at, 'server.key'), 'utf8'), cert: readFileSync(join(at, 'server.pem'), 'utf8') };
}

beforeAll(async () => {
  ({ dir, cleanup } = tempDir());
  issuer = await startFakeOidcIssuer({ tls: makeCa(dir) });
});
afterAll(async () => {
  await issuer.close();
  cleanup();
});

function federation(caLine: string) {
  const yaml = `issuer: https://creddy.example.com
backends:
  other:
    type: generic
    allowed_scopes: [read]
federation:
  k8s-ci:
    issuer: ${issuer.url}
    audience: creddy
${caLine}
    claims:
      kubernetes.io/serviceaccount/uid: 0b5f1c8e-0000-4000-8000-000000000003
    subject: "k8s:{sub}"
    can: ["other:read"]
`;
  const config = parseConfig(yaml, join(dir, 'creddy.yaml'), {});
  return createFederation({ config, clock: { now: () => Date.now() }, logger: silentLogger });
}

describe('ca_file', () => {
  it('fetches the keys over HTTPS trusting the private CA', async () => {
    expect(issuer.url).toMatch(/^https:/);
    const token = issuer.sign(issuer.kubernetesClaims('creddy'));
    const caller = await federation('    ca_file: ca.pem').authenticate(token, { requestId: null, spend: false });
    expect(caller).toMatchObject({ kind: 'federated', name: 'k8s:system:serviceaccount:ci:deployer', rule: 'k8s-ci' });
    expect(issuer.hits.jwks).toBe(1);
  });

  it('without it, the certificate is refused and so are the tokens', async () => {
    const token = issuer.sign(issuer.kubernetesClaims('creddy'));
    const err = await federation('')
      .authenticate(token, { requestId: null, spend: false })
      .catch((e: unknown) => e);
    expect(isCreddyError(err, 'ERR_ISSUER_UNAVAILABLE')).toBe(true);
  });
});
