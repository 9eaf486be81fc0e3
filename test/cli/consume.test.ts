/**
 * Ways to consume credentials, through the CLI against a real broker and the loopback fakes:
 * --format credential-process/env, --repos, `creddy exec`, the git credential helper with real
 * `git credential fill`, and the real AWS CLI through credential_process. Real `git` and `aws`
 * run the built bin, and so does the signal-forwarding case; the rest run the CLI in process.
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv } from '../../src/cli/exec.js';
import { repositoryFromPath } from '../../src/cli/git-credential.js';
import { BASE, ROLE, useBaseCredentials } from '../backends/aws/fixture.js';
import { appKeyPair, type FakeGitHub, startFakeGitHub } from '../fakes/github.js';
import { type FakeSts, startFakeSts } from '../fakes/sts.js';
import { BIN, runCli, runProcess } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';

let gh: FakeGitHub;
let sts: FakeSts;
let broker: TestBroker;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  useBaseCredentials();
  const app = appKeyPair();
  gh = await startFakeGitHub({
    appId: 99,
    appPublicKeyPem: app.publicKey,
    installations: [
      { id: 5, account: 'acme', repositories: ['acme/widgets', 'acme/gadgets'], permissions: { contents: 'write', metadata: 'read' } },
    ],
  });
  sts = await startFakeSts({ credentials: [BASE], roles: [{ arn: ROLE }] });
  broker = await startBroker({
    files: { 'app.pem': app.privateKey },
    backends: (dir) => `  gh:
    type: github
    app_id: 99
    private_key: \${file:${dir}/app.pem}
    installation_id: 5
    base_url: ${gh.url}
    allowed_scopes: ["contents:*"]
    default_scopes: ["contents:read"]
  aws:
    type: aws
    role_arn: ${ROLE}
    endpoint: ${sts.url}
    allowed_scopes: ["s3:Get*", "sts:GetCallerIdentity"]
    default_scopes: ["s3:GetObject"]
  demo:
    type: generic
    allowed_scopes: [read]
    default_scopes: [read]`,
  });
  const token = await broker.agent('laptop', 'gh:contents:*,aws:s3:Get*,aws:sts:GetCallerIdentity,demo:read');
  env = { CREDDY_URL: broker.url, CREDDY_TOKEN: token };
});
afterAll(async () => {
  await broker.stop();
  await gh.close();
  await sts.close();
});

/** Parses `export NAME='value'` lines as a POSIX shell would. */
function parseExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.trim().split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = execFileSync('sh', ['-c', `printf %s ${m[2]}`], { encoding: 'utf8' });
  }
  return out;
}

describe('creddy get --format', () => {
  it('credential-process prints the AWS credential_process document', async () => {
    const r = await runCli(['get', 'aws', '--format', 'credential-process'], env);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration']);
    expect(doc.Version).toBe(1);
    expect(sts.sessions.has(doc.AccessKeyId)).toBe(true);
    expect(Date.parse(doc.Expiration)).toBeGreaterThan(Date.now() + 800_000);
  });

  it('credential-process refuses a backend that returns no AWS session', async () => {
    const r = await runCli(['get', 'demo', '--format', 'credential-process'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ERR_USAGE/);
  });

  it('env prints shell-quoted exports per credential type', async () => {
    const aws = parseExports((await runCli(['get', 'aws', '--format', 'env'], env)).stdout);
    expect(aws['AWS_ACCESS_KEY_ID']).toMatch(/^ASIA/);
    expect(sts.sessions.has(aws['AWS_ACCESS_KEY_ID']!)).toBe(true);
    expect(aws['AWS_SECRET_ACCESS_KEY']).toHaveLength(40);
    expect(aws['AWS_SESSION_TOKEN']).toBeTruthy();
    expect(aws['CREDDY_TOKEN_JWT']).toMatch(/^eyJ/);

    const demo = parseExports((await runCli(['get', 'demo', '--format', 'env'], env)).stdout);
    expect(Object.keys(demo).sort()).toEqual(['CREDDY_CREDENTIAL_ID', 'CREDDY_TOKEN_JWT']);
  });

  it('--repos narrows a github token to the named repositories', async () => {
    const before = gh.requests.length;
    const r = await runCli(['get', 'gh', '--repos', 'acme/widgets', '--format', 'env'], env);
    expect(r.code).toBe(0);
    const vars = parseExports(r.stdout);
    expect(gh.requests.slice(before).map((q) => q.body)).toEqual([{ permissions: { contents: 'read' }, repositories: ['widgets'] }]);
    expect(gh.tokens.get(vars['GITHUB_TOKEN']!)?.repositories).toEqual(['acme/widgets']);
  });
});

describe('creddy exec', () => {
  const printEnv =
    'console.log(JSON.stringify({ gh: process.env.GITHUB_TOKEN ?? null, agent: process.env.CREDDY_TOKEN ?? null, jwt: !!process.env.CREDDY_TOKEN_JWT }))';

  it('runs the command with the credential in its environment only, then revokes it', async () => {
    const r = await runCli(['exec', 'gh', '--repos', 'acme/gadgets', '--', process.execPath, '-e', printEnv], env);
    expect(r.code).toBe(0);
    const seen = JSON.parse(r.stdout);
    expect(seen.agent).toBeNull(); // the child never sees the agent's own bearer token
    expect(seen.jwt).toBe(true);
    const minted = gh.tokens.get(seen.gh);
    expect(minted?.repositories).toEqual(['acme/gadgets']);
    expect(minted?.revoked).toBe(true); // killed when the command ended
    expect(r.stderr).not.toContain(seen.gh);
  });

  it('keeps every way of authenticating to creddy from the child, whichever the agent used', () => {
    const parent = {
      PATH: '/usr/bin',
      CREDDY_URL: 'http://127.0.0.1:8400',
      CREDDY_TOKEN: 'ckr_x',
      CREDDY_AGENT_KEY_FILE: '/home/ci/agent.pem',
      CREDDY_AGENT: 'ci',
      CREDDY_OIDC_TOKEN: 'eyJ.x.y',
      CREDDY_OIDC_TOKEN_FILE: '/var/run/secrets/token',
    };
    expect(childEnv(parent, { GITHUB_TOKEN: 'ghs_x' })).toEqual({
      PATH: '/usr/bin',
      CREDDY_URL: 'http://127.0.0.1:8400',
      GITHUB_TOKEN: 'ghs_x',
    });
    expect(parent.CREDDY_TOKEN).toBe('ckr_x'); // the parent's own environment is left as it was
  });

  it('passes the exit code through and leaves flags after -- to the command', async () => {
    const r = await runCli(
      ['exec', 'demo', '--', 'sh', '-c', '[ "$1 $2" = "--help --debug" ] && exit 7; exit 1', 'sh', '--help', '--debug'],
      env,
    );
    expect(r.code).toBe(7);
  });

  it('forwards signals to the command', async () => {
    const script =
      "process.on('SIGTERM', () => { console.log('child got SIGTERM'); process.exit(42); }); console.log('ready'); setInterval(() => {}, 1000);";
    const child = spawn(process.execPath, [BIN, 'exec', 'demo', '--', process.execPath, '-e', script], {
      env: { PATH: process.env['PATH'], ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let signalled = false;
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        // Once: a second SIGTERM after the child exited would kill creddy itself mid-cleanup.
        if (stdout.includes('ready') && !signalled) {
          signalled = true;
          child.kill('SIGTERM');
        }
      });
      child.on('close', resolve);
    });
    expect(stdout).toContain('child got SIGTERM');
    expect(code).toBe(42);
  });

  it('is a usage error without a command, and 127 for a missing one', async () => {
    expect((await runCli(['exec', 'demo'], env)).code).toBe(2);
    expect((await runCli(['exec', 'demo', '--', 'creddy-no-such-command-xyz'], env)).code).toBe(127);
  });
});

describe('git credential helper', () => {
  const git = (args: string[], input: string, extraEnv: NodeJS.ProcessEnv = {}) =>
    runProcess(
      'git',
      ['-c', `credential.helper=!"${process.execPath}" "${BIN}" git-credential`, ...args],
      {
        PATH: process.env['PATH'],
        HOME: broker.dir,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_TERMINAL_PROMPT: '0',
        GIT_ASKPASS: '',
        CREDDY_GIT_BACKEND: 'gh',
        ...env,
        ...extraEnv,
      },
      input,
    );

  it('`git credential fill` gets x-access-token and a fresh installation token for github.com', async () => {
    const r = await git(['credential', 'fill'], 'protocol=https\nhost=github.com\n\n');
    expect(r.code).toBe(0);
    const fields = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(fields['username']).toBe('x-access-token');
    expect(gh.tokens.get(fields['password']!)).toMatchObject({ permissions: { contents: 'read' }, revoked: false });
  });

  it('narrows to the repository in the URL when credential.useHttpPath is set', async () => {
    const before = gh.requests.length;
    const r = await git(['-c', 'credential.useHttpPath=true', 'credential', 'fill'], 'url=https://github.com/acme/widgets.git\n\n');
    expect(r.code).toBe(0);
    expect(gh.requests.slice(before).map((q) => q.body)).toEqual([{ permissions: { contents: 'read' }, repositories: ['widgets'] }]);
  });

  it('narrows Git LFS to the repository its API path is under', async () => {
    // What git-lfs gives `git credential fill` with useHttpPath set: its endpoint's path.
    const before = gh.requests.length;
    const r = await git(
      ['-c', 'credential.useHttpPath=true', 'credential', 'fill'],
      'protocol=https\nhost=github.com\npath=acme/widgets.git/info/lfs\n\n',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(gh.requests.slice(before).map((q) => q.body)).toEqual([{ permissions: { contents: 'read' }, repositories: ['widgets'] }]);
  });

  it('reads the repository from every path shape git and Git LFS send', () => {
    for (const path of [
      'acme/widgets.git',
      'acme/widgets',
      'acme/widgets/',
      '/acme/widgets.git',
      'acme/widgets.git/info/lfs',
      'acme/widgets/info/lfs',
      'acme/widgets.git/info/lfs/objects/batch',
      'acme/widgets.git/info/lfs/locks',
      'acme/widgets.git/info/lfs/locks/verify',
      'acme/widgets.git/info/lfs/objects/0123abcd',
    ]) {
      expect(repositoryFromPath(path), path).toBe('acme/widgets');
    }
    expect(repositoryFromPath('acme/my.repo.git')).toBe('acme/my.repo');
    for (const path of ['acme', 'acme/', 'acme/widgets/tree/main', 'acme/widgets.git/info/refs', '-acme/widgets', 'a/b/c/info/lfs']) {
      expect(repositoryFromPath(path), path).toBeUndefined();
    }
  });

  it('refuses a path that names no repository rather than widen to every repository', async () => {
    const before = gh.requests.length;
    const r = await git(['-c', 'credential.useHttpPath=true', 'credential', 'fill'], 'url=https://github.com/acme\n\n');
    expect(r.code).not.toBe(0); // git moved on past the helper, and prompting is off
    expect(r.stdout).not.toContain('password=');
    expect(r.stderr).toMatch(/ERR_USAGE.*path "acme", which names no owner\/repo/);
    expect(gh.requests.length).toBe(before);
  });

  it('stays silent for other hosts, so git falls through', async () => {
    const before = gh.requests.length;
    const r = await git(['credential', 'fill'], 'protocol=https\nhost=gitlab.example.com\n\n');
    expect(r.code).not.toBe(0); // no helper answered and prompting is off
    expect(r.stdout).not.toContain('password=');
    expect(gh.requests.length).toBe(before);
  });

  it('treats store and erase as no-ops', async () => {
    expect((await runCli(['git-credential', 'store'], env, 'protocol=https\nhost=github.com\nusername=x\npassword=y\n\n')).code).toBe(0);
    expect((await runCli(['git-credential', 'erase'], env, 'protocol=https\nhost=github.com\n\n')).stdout).toBe('');
  });
});

describe('AWS CLI through credential_process', () => {
  let awsPath: string | undefined;
  try {
    awsPath = execFileSync('sh', ['-c', 'command -v aws'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    awsPath = undefined;
  }

  it('`aws sts get-caller-identity` works with credential_process = creddy get … --format credential-process', async (ctx) => {
    if (!awsPath) ctx.skip('the aws CLI is not installed (apt-get install -y awscli)');
    const config = join(broker.dir, 'aws-config');
    writeFileSync(
      config,
      `${[
        '[profile creddy]',
        `credential_process = "${process.execPath}" "${BIN}" get aws --scopes sts:GetCallerIdentity --format credential-process`,
        'region = us-east-1',
      ].join('\n')}\n`,
    );
    const before = sts.calls.length;
    // Async: the broker runs in this process and must keep serving while the CLI waits on it.
    const aws = await runProcess(awsPath!, ['sts', 'get-caller-identity', '--endpoint-url', sts.url, '--output', 'json'], {
      // Only the profile: no base credentials in the environment, so credential_process is the one source.
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: join(broker.dir, 'none'),
      AWS_PROFILE: 'creddy',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    });
    expect(aws.code, aws.stderr).toBe(0);
    const out = aws.stdout;
    const who = JSON.parse(out);
    // The CLI may run credential_process more than once while resolving; the signing session is one of them.
    const call = sts.calls.slice(before).find((c) => who.Arn === `arn:aws:sts::111122223333:assumed-role/agents/${c.roleSessionName}`);
    expect(call).toBeDefined();
    expect(call?.policy).toMatchObject({ Statement: [{ Action: 'sts:GetCallerIdentity' }] });
  });
});
