/**
 * What the short commands load. `creddy --version`, `--help` and `get` run on every shell prompt
 * or before every AWS CLI command, so they import only the CLI's light modules and the client:
 * never the server, the store, the config parser or their packages (bench/cli-startup.mjs
 * measures the time). The built bin runs with a resolve hook that records every ES module
 * loaded, and the CommonJS ones (the bin itself, `get`'s bundle) are read from require.cache at exit.
 */
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, commandTree, VERSION } from '../../src/cli/index.js';
import { metaOf } from '../../src/cli/tree.js';
import { BIN, runProcess } from '../helpers/cli.js';
import { startBroker, type TestBroker, tempDir } from '../helpers/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** The ES module entry, which `creddy` (dist/creddy.cjs) runs every command but `get` through. */
const MAIN = join(ROOT, 'dist/main.js');

/** Records each resolved module URL into $MODULE_LOG (the hook runs on the loader's thread). */
const HOOKS = `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.MODULE_LOG, result.url + '\\n');
  return result;
}`;
/** The hook, and at exit every CommonJS module in require.cache (the hook sees ES modules only). */
const REGISTER = `import { createRequire, register } from 'node:module';
import { appendFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});
const { cache } = createRequire('file:///'); // require.cache is one for the process
process.on('exit', () => appendFileSync(process.env.MODULE_LOG, Object.keys(cache).map((p) => pathToFileURL(p).href + '\\n').join('')));`;

/** The modules (dist/ and node_modules/ paths, node: built-ins left out) that `creddy ARGS` loads. */
async function modulesOf(args: string[], env: NodeJS.ProcessEnv = {}, bin = BIN): Promise<string[]> {
  const log = join(tmp.dir, `modules-${Math.random().toString(36).slice(2)}.log`);
  const r = await runProcess(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, bin, ...args], {
    PATH: process.env['PATH'],
    HOME: tmp.dir,
    MODULE_LOG: log,
    ...env,
  });
  expect(r.code, r.stderr).toBe(0);
  const urls = readFileSync(log, 'utf8').trim().split('\n');
  return [...new Set(urls.filter((u) => u.startsWith('file:')).map((u) => relative(ROOT, fileURLToPath(u))))].sort();
}

/** What a short command may load: the CLI's light modules, the client, and two small packages. */
const LIGHT = [
  /^dist\/(main|errors|wire)\.js$/,
  /^dist\/creddy\.cjs$/,
  /^dist\/cli\/(index|argv|io|style|tree|usage|version|help|flags|caller|caller-auth|oidc-token|credential-cache|credential-env|formats|node-fetch|output|preflight|epipe|run-leaf|caller-timeout|leaf-args|define-command)\.js$/,
  /^dist\/client\/[a-z-]+\.js$/,
  /^dist\/verify\/(base64url|thumbprint|htu|read-capped)\.js$/,
  /^dist\/_utils\/(redact|clock|duration|fs)\.js$/,
  // Anywhere under a node_modules: a worktree whose node_modules links to another checkout's
  // sees them as ../../main/node_modules/….
  /(^|\/)node_modules\/citty\//,
  /(^|\/)node_modules\/@noble\/ed25519\//,
];
const heavy = (modules: string[]) => modules.filter((m) => !LIGHT.some((re) => re.test(m)));

let tmp: { dir: string; cleanup: () => void };
let broker: TestBroker;
let token: string;
beforeAll(async () => {
  tmp = tempDir('creddy-startup-');
  broker = await startBroker();
  token = await broker.agent('laptop', 'demo:read');
});
afterAll(async () => {
  await broker.stop();
  tmp.cleanup();
});

describe('start-up', () => {
  it('--version and --help load no command module (and the flag forms not citty)', async () => {
    for (const args of [['--version'], ['--help'], ['version']]) {
      const modules = await modulesOf(args);
      expect(heavy(modules)).toEqual([]);
      expect(modules.filter((m) => m.startsWith('dist/cli/caller'))).toEqual([]);
      // The flag forms run no command, so not even the argument parser loads.
      if (args[0]!.startsWith('--')) expect(modules.filter((m) => m.includes('citty'))).toEqual([]);
    }
  });

  it('--version alone loads only the version module and never creates process.stdout (net, streams)', async () => {
    // Node's own modules at exit: creating process.stdout on a pipe loads `net` and the streams.
    const log = join(tmp.dir, 'builtins-version.log');
    const atExit = `process.on('exit', () => process.getBuiltinModule('node:fs').writeFileSync(${JSON.stringify(log)}, process.moduleLoadList.join('\\n')));`;
    for (const flag of ['--version', '-v']) {
      const r = await runProcess(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(atExit)}`, BIN, flag], {
        PATH: process.env['PATH'],
        HOME: tmp.dir,
      });
      expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
      const builtins = readFileSync(log, 'utf8').split('\n');
      expect(builtins.filter((m) => m === 'NativeModule net' || m === 'NativeModule stream')).toEqual([]);
      expect(await modulesOf([flag])).toEqual(['dist/cli/version.js', 'dist/creddy.cjs', 'dist/main.js']);
    }
    // Any other form still goes through the CLI, with its answer unchanged.
    const withDebug = await runProcess(process.execPath, [BIN, '--debug', '--version'], { PATH: process.env['PATH'], HOME: tmp.dir });
    expect(withDebug).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('creddy get loads its bundle and nothing else of creddy; get --help the light modules', async () => {
    const env = { CREDDY_URL: broker.url, CREDDY_TOKEN: token };
    const bundle = ['dist/cli/get.cjs', 'dist/creddy.cjs'];
    expect(await modulesOf(['get', 'demo'], env)).toEqual(bundle);
    const cached = { ...env, XDG_CACHE_HOME: tmp.dir };
    expect(await modulesOf(['get', 'demo', '--cache', '--format', 'json'], cached)).toEqual(bundle);
    expect(await modulesOf(['get', 'demo', '--cache', '--format', 'json'], cached)).toEqual(bundle);
    expect(heavy(await modulesOf(['get', '--help']))).toEqual([]);
  });

  it('`node dist/main.js get`, unbundled, loads the client and nothing of the server, the store or the config', async () => {
    const env = { CREDDY_URL: broker.url, CREDDY_TOKEN: token };
    expect(heavy(await modulesOf(['get', 'demo'], env, MAIN))).toEqual([]);
    const cached = { ...env, XDG_CACHE_HOME: join(tmp.dir, 'main') };
    expect(heavy(await modulesOf(['get', 'demo', '--cache', '--format', 'json'], cached, MAIN))).toEqual([]);
    // Answered from the cache: not even the client loads.
    const hit = await modulesOf(['get', 'demo', '--cache', '--format', 'json'], cached, MAIN);
    expect(hit).toContain('dist/cli/credential-cache.js');
    expect(hit.filter((m) => m.startsWith('dist/client/') || m.includes('@noble'))).toEqual([]);
  });

  it('the root help lists each command by its own description, without loading it', async () => {
    const tree = await commandTree();
    for (const [name, lazy] of Object.entries(COMMANDS)) {
      const sub = (tree.subCommands as Record<string, Parameters<typeof metaOf>[0]>)[name]!;
      expect(lazy.summary, `COMMANDS.${name}.summary in src/cli/index.ts`).toBe(metaOf(sub).description);
      expect(metaOf(sub).name).toBe(name);
    }
  });
});
