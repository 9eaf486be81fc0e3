import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startBroker, type TestBroker } from '../helpers/harness.js';
import { createCompiler } from './compile.js';
import { exec, FIXTURE, type Manifest, type PackedProject, packIntoProject, ROOT, TSC7 } from './packed-project.js';

/**
 * The package as a user receives it (packed-project.ts): `npm pack` of the built repo, unpacked
 * into a fresh project outside the repo, type-checked with tsc (strict, NodeNext) and imported
 * with node. The same project (one pack) also runs examples/ as a user would (the second
 * describe, below).
 */

/** Files of the public entries: the SDKs, the error table and the wire types. */
const PUBLIC_FILE = /^dist\/(index|errors|wire)\.(js|d\.ts)$|^dist\/(client|verify|hono)\/[\w-]+\.(js|d\.ts)$/;
/** The only packages the public entries may import; hono only in declarations (it types against the app's). */
const PUBLIC_DEPENDENCIES = ['jose', '@noble/ed25519', 'hono'];

let packed: PackedProject;
let project: string;
let pkg: string;
let packedFiles: string[];
let manifest: Manifest;
let broker: TestBroker;
let resourceServer: ChildProcess | undefined;
/** `tsc -p` in process (compile.ts), shared by the two type-checks so they parse the declarations once. */
let compile: ReturnType<typeof createCompiler> | undefined;

/** The repo's example programs, copied as they are into the project's example-programs/. */
const EXAMPLES = ['agent.ts', 'resource-server.ts'];

beforeAll(async () => {
  packed = await packIntoProject();
  ({ project, pkg, packedFiles, manifest } = packed);
  for (const file of ['consumer.ts', 'consumer.mjs']) await copyFile(join(FIXTURE, file), join(project, file));
  // Not examples/: the consumer's own tsconfig compiles that folder (the TSDoc and README examples).
  await mkdir(join(project, 'example-programs'));
  for (const file of EXAMPLES) await copyFile(join(ROOT, 'examples', file), join(project, 'example-programs', file));
  broker = await startBroker();
  compile = createCompiler();
}, 60_000);

afterAll(async () => {
  compile = undefined;
  resourceServer?.kill('SIGTERM');
  await broker?.stop();
  await packed?.remove();
});

/** What a module or declaration file imports: static, dynamic and `import("…")` types, and references; comments skipped. */
function specifiersOf(source: string): string[] {
  const info = ts.preProcessFile(source, true, true);
  return [...info.importedFiles, ...info.referencedFiles, ...info.typeReferenceDirectives].map((ref) => ref.fileName);
}

/** Every packed file reachable from the export targets, the packages they import, and targets not in the tarball. */
async function reachable(entries: string[]): Promise<{ files: Set<string>; packages: Set<string>; missing: string[] }> {
  const files = new Set<string>();
  const packages = new Set<string>();
  const missing: string[] = [];
  const queue = [...entries];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (files.has(file) || missing.includes(file)) continue;
    if (!existsSync(join(pkg, file))) {
      missing.push(file);
      continue;
    }
    files.add(file);
    for (const spec of specifiersOf(await readFile(join(pkg, file), 'utf8'))) {
      if (!spec.startsWith('.')) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        continue;
      }
      const target = posix.join(posix.dirname(file), spec);
      queue.push(target);
      // A declaration file imports `./x.js`; its types are in `./x.d.ts`.
      if (file.endsWith('.d.ts') && target.endsWith('.js')) queue.push(target.replace(/\.js$/, '.d.ts'));
    }
  }
  return { files, packages, missing };
}

const conditional = () =>
  Object.entries(manifest.exports).flatMap(([subpath, target]) => (typeof target === 'string' ? [] : [{ subpath, ...target }]));

describe('the packed package, installed into a fresh project', () => {
  it('ships the built code and its declarations, without tests, benches or sources', () => {
    const unexpected = packedFiles.filter((file) => !/^(dist\/|package\.json$|README\.md$|LICENSE|config\.example\.yaml$)/.test(file));
    expect(unexpected).toEqual([]);
    expect(packedFiles.filter((file) => file.endsWith('.tsbuildinfo'))).toEqual([]);
  });

  it('exports creddy, creddy/client, creddy/verify and creddy/hono with types that exist in the tarball', () => {
    expect(Object.keys(manifest.exports).sort()).toEqual(['.', './client', './hono', './package.json', './verify']);
    const entries = conditional();
    expect(entries.map((entry) => entry.subpath).sort()).toEqual(['.', './client', './hono', './verify']);
    for (const entry of entries) {
      // `types` must come first: TypeScript takes the first condition that matches.
      expect(Object.keys(manifest.exports[entry.subpath]!), entry.subpath).toEqual(['types', 'import']);
      expect(entry.types, entry.subpath).toMatch(/^\.\/dist\/.+\.d\.ts$/);
      expect(existsSync(join(pkg, entry.types)), `${entry.subpath} types ${entry.types}`).toBe(true);
      expect(existsSync(join(pkg, entry.import)), `${entry.subpath} import ${entry.import}`).toBe(true);
      expect(entry.types.replace(/\.d\.ts$/, '.js'), entry.subpath).toBe(entry.import);
    }
    expect(existsSync(join(pkg, manifest.types)), `types ${manifest.types}`).toBe(true);
  });

  it('reaches nothing server-side from the public entries, in code or declarations', async () => {
    const targets = conditional().flatMap((entry) => [entry.types, entry.import].map((path) => path.replace(/^\.\//, '')));
    const { files, packages, missing } = await reachable(targets);
    expect(missing).toEqual([]);
    expect([...files].filter((file) => !PUBLIC_FILE.test(file))).toEqual([]);
    expect([...packages].filter((name) => !name.startsWith('node:') && !PUBLIC_DEPENDENCIES.includes(name))).toEqual([]);
  });

  it('declares every package the bins load as a dependency: hono too, which the public entries import by declarations only', async () => {
    // The server is a hono app: hono must be installed wherever creddy is, not left to a peer
    // that npm --legacy-peer-deps, yarn 1 and others do not install. A 4.x range, so npm keeps one
    // copy shared with an app's own hono that creddy/hono's declarations type against.
    expect(manifest.dependencies['hono']).toMatch(/^\^4\./);
    expect(manifest.peerDependencies?.['hono']).toBeUndefined();
    // The bins as package.json installs them: `creddy` is dist/creddy.cjs, which loads its `get`
    // bundle or dist/main.js.
    const bins = await reachable([...Object.values(manifest.bin).map((path) => path.replace(/^\.\//, '')), 'dist/main.js']);
    expect(bins.missing).toEqual([]);
    const undeclared = [...bins.packages].filter((name) => !name.startsWith('node:') && !(name in manifest.dependencies));
    expect(undeclared).toEqual([]);
    expect(bins.packages).toContain('hono');
    const targets = conditional().flatMap((entry) => [entry.types, entry.import].map((path) => path.replace(/^\.\//, '')));
    const code = [...(await reachable(targets)).files].filter((file) => file.endsWith('.js'));
    const importers: string[] = [];
    for (const file of code)
      if (specifiersOf(await readFile(join(pkg, file), 'utf8')).some((spec) => /^hono(\/|$)/.test(spec))) importers.push(file);
    expect(importers).toEqual([]);
  });

  it('gives creddy/client nothing Node-only to load: no node: built-ins, no jose (it runs in browsers)', async () => {
    const { files, packages } = await reachable(['dist/client/index.js']);
    expect([...packages].sort()).toEqual(['@noble/ed25519']);
    expect([...files].filter((file) => file.startsWith('dist/verify/')).sort()).toEqual([
      'dist/verify/base64url.js',
      'dist/verify/htu.js',
      'dist/verify/read-capped.js',
      'dist/verify/thumbprint.js',
    ]);
  });

  it('documents every public declaration, with an @example on each function', async () => {
    const targets = conditional().map((entry) => entry.types.replace(/^\.\//, ''));
    const declarations = [...(await reachable(targets)).files].filter((file) => file.endsWith('.d.ts'));
    const missing: string[] = [];
    const exported: string[] = [];
    for (const file of declarations) {
      const source = ts.createSourceFile(file, await readFile(join(pkg, file), 'utf8'), ts.ScriptTarget.Latest, true);
      for (const node of source.statements) {
        if (!ts.canHaveModifiers(node) || !ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
        // `export declare const X` keeps its TSDoc on the statement, the others on the declaration.
        const declaration = ts.isVariableStatement(node) ? node.declarationList.declarations[0]! : node;
        const name = `${file}: ${ts.getNameOfDeclaration(declaration as ts.Declaration)?.getText() ?? '?'}`;
        exported.push(name);
        if (ts.getJSDocCommentsAndTags(declaration).length === 0) missing.push(`${name} (TSDoc)`);
        if (ts.isFunctionDeclaration(node) && !ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'example')) {
          missing.push(`${name} (@example)`);
        }
      }
    }
    expect(exported.length).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });

  it('type-checks a strict NodeNext consumer, every TSDoc example and the README examples, with TypeScript 6 and 7', async () => {
    const targets = conditional().map((entry) => entry.types.replace(/^\.\//, ''));
    const examples: string[] = [];
    for (const file of [...(await reachable(targets)).files].filter((f) => f.endsWith('.d.ts'))) {
      for (const comment of (await readFile(join(pkg, file), 'utf8')).match(/\/\*\*[\s\S]*?\*\//g) ?? []) {
        const text = comment.replace(/^\s*\/?\*+\/? ?/gm, '');
        for (const fence of text.matchAll(/```ts\n([\s\S]*?)```/g)) examples.push(fence[1]!);
      }
    }
    const readme = await readFile(join(pkg, 'README.md'), 'utf8');
    const library = readme.slice(readme.indexOf('## Library'), readme.indexOf('\n## ', readme.indexOf('## Library') + 1));
    const readmeExamples = [...library.matchAll(/```ts\n([\s\S]*?)```/g)].map((fence) => fence[1]!);
    expect(examples.length).toBeGreaterThanOrEqual(5);
    expect(readmeExamples.length).toBeGreaterThanOrEqual(3);

    await mkdir(join(project, 'examples'));
    const all = [...examples, ...readmeExamples];
    // Each example is its own module (`export {}`), so examples may reuse names and use top-level await.
    for (const [i, code] of all.entries()) await writeFile(join(project, 'examples', `example-${i}.ts`), `${code}\nexport {};\n`);
    // TypeScript 7 (its own process) checks the project while TypeScript 6 does here.
    const native = exec(process.execPath, [TSC7, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: project }).catch(
      (err: { stdout?: string; code?: number }) => ({ stdout: `exit ${err.code}: ${err.stdout ?? ''}` }),
    );
    const { files: compiled, diagnostics } = compile!(join(project, 'tsconfig.json'));
    if (diagnostics !== '') {
      throw new Error(
        `tsc failed in the consumer project:\n${diagnostics}\n${all.map((code, i) => `--- examples/example-${i}.ts\n${code}`).join('\n')}`,
      );
    }
    // The creddy types came from the unpacked tarball, never from the repo's own dist/ or src/.
    expect(compiled).toContain(join(pkg, 'dist/index.d.ts'));
    expect(compiled.filter((file) => file.startsWith(join(ROOT, 'dist')) || file.startsWith(join(ROOT, 'src')))).toEqual([]);
    // The same project under the native compiler, as a TypeScript 7 user runs it (exit 0, nothing printed).
    expect((await native).stdout, 'TypeScript 7 failed in the consumer project').toBe('');
  }, 120_000); // tsc over our declarations, @types/node and hono: long on a busy machine

  it('imports the four entries with node', async () => {
    const { stdout } = await exec(process.execPath, ['consumer.mjs'], { cwd: project });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    const client = [
      'CreddyError',
      'createAgentSigner',
      'createClientAssertion',
      'createCreddyClient',
      'createCredentialCache',
      'createDpopProof',
      'generateAgentKey',
      'isCreddyError',
    ];
    const verify = ['CreddyError', 'createReplayCache', 'createVerifier', 'creddyJwks', 'isCreddyError', 'verifyCreddyToken'];
    expect(out).toEqual({
      root: [...new Set([...client, ...verify, 'ERROR_CODES'])].sort(),
      client,
      verify,
      hono: ['creddyAuth'],
      oneErrorClass: true,
      version: manifest.version,
      badUrl: 'ERR_USAGE',
      badToken: 'ERR_TOKEN_INVALID',
      verifierBadToken: 'ERR_TOKEN_INVALID',
      honoStatus: 401,
      honoChallenge: 'Bearer realm="creddy", DPoP realm="creddy", algs="EdDSA ES256"',
      assertionSegments: 3,
      deepImport: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });
});

/*
 * examples/ as a user runs them, in the same fresh project: the two example programs copied in as
 * they are, type-checked by tsc (strict, NodeNext) and run with node against a live loopback
 * broker — the resource server built with `creddy/hono`, the key-pair agent with `creddy/client`
 * calling it with DPoP-bound credentials. The agent's key is made the way the example's header
 * says, by the CLI.
 */

/** Starts `node file` with `env`; resolves with the URL it prints once listening. */
function startListening(file: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [file], { cwd: project, env: { PATH: process.env['PATH'], ...env } });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /listening on (\S+)/.exec(out);
      if (match) resolve({ child, url: match[1]! });
    });
    child.once('exit', (code) => reject(new Error(`${file} exited ${code}: ${err}`)));
  });
}

describe('examples/', () => {
  it('type-check as a strict NodeNext project against the packed package', async () => {
    await writeFile(
      join(project, 'tsconfig.examples.json'),
      JSON.stringify({
        extends: './tsconfig.json',
        // The package's declarations are checked strictly by consumer.test.ts; here the examples are.
        compilerOptions: { noEmit: false, outDir: 'build', rootDir: 'example-programs', skipLibCheck: true },
        include: ['example-programs/*.ts'],
      }),
    );
    const compiled = compile!(join(project, 'tsconfig.examples.json'));
    expect(compiled.diagnostics, 'tsc failed on examples/').toBe('');
    for (const file of EXAMPLES) expect(existsSync(join(project, 'build', file.replace(/\.ts$/, '.js'))), file).toBe(true);
  }, 120_000);

  it('the agent (key pair, DPoP) reads from the resource server; its copied token is refused', async () => {
    const keyFile = join(project, 'report-bot.pem');
    const created = await runCli(
      ['agent', 'create', 'report-bot', '--can', 'demo:files:read', '--generate-key', keyFile, '--config', broker.configPath],
      broker.env,
    );
    expect(created.code, created.stderr).toBe(0);

    const api = await startListening('build/resource-server.js', {
      CREDDY_ISSUER: broker.services.config.issuer,
      CREDDY_URL: broker.url,
      API_AUDIENCE: 'demo',
      PORT: '0',
    });
    resourceServer = api.child;

    const { stdout } = await exec(process.execPath, ['build/agent.js'], {
      cwd: project,
      env: {
        PATH: process.env['PATH'],
        CREDDY_URL: broker.url,
        CREDDY_ISSUER: broker.services.config.issuer,
        CREDDY_AGENT: 'report-bot',
        CREDDY_AGENT_KEY_FILE: keyFile,
        CREDDY_BACKEND: 'demo',
        API_URL: api.url,
      },
    });
    const [read, stolen] = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(read).toEqual({
      status: 200,
      body: { name: 'report.txt', agent: 'report-bot', scopes: 'files:read', dpop_bound: true },
    });
    expect(stolen).toEqual({ token_type: 'DPoP', stolen: { as_bearer: 401, with_another_key: 401 } });
    // Without a proof at all, the resource server refuses it too.
    const bare = await fetch(`${api.url}/files/report.txt`);
    expect(bare.status).toBe(401);

    // The broker saw a key-pair agent: its issuances name the key, and the tokens are bound.
    const issued = await broker.services.store.audit.query({ agent: 'report-bot', type: 'credential.issued', limit: 10 });
    expect(issued.length).toBeGreaterThan(0);
    for (const row of issued) expect(row.details).toMatchObject({ agent_key: expect.any(String), dpop_jkt: expect.any(String) });
  });
});
