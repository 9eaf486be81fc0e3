import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The package as a user receives it: `npm pack` of the built repo, unpacked into a fresh project
 * outside the repo.
 *
 * Why not `npm install <tarball>`: it resolves every dependency against the registry (measured:
 * `npm install --offline --ignore-scripts` fails with ENOTCACHED because the npm cache holds no
 * packuments) and would rebuild better-sqlite3. Instead the tarball is unpacked into
 * node_modules/creddy — the same files npm would place there — and each of its runtime
 * dependencies, plus the consumer's own @types/node, is a symlink to the repo's installed copy.
 * Node and tsc resolve symlinks to their real path, so those packages find their own dependencies
 * in the repo, while creddy itself resolves only through the temp project. The project lives in
 * the OS temp dir so nothing can climb into the repo's node_modules by accident.
 */

export const exec = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURE = fileURLToPath(new URL('./fixture/', import.meta.url));
/**
 * The native TypeScript 7 compiler the repo builds with (`@typescript/native`). The in-process
 * checks (compile.ts) use the `typescript` package, TypeScript 6's compiler API: between them a
 * consumer on either line is covered.
 */
export const TSC7 = join(ROOT, 'node_modules/@typescript/native/bin/tsc');

export interface Manifest {
  readonly version: string;
  readonly types: string;
  readonly bin: Record<string, string>;
  readonly exports: Record<string, string | { readonly types: string; readonly import: string }>;
  readonly dependencies: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
}

export interface PackedProject {
  /** The fresh project (package.json `type: module`, the fixture's strict tsconfig). */
  readonly project: string;
  /** node_modules/creddy inside it: the unpacked tarball. */
  readonly pkg: string;
  /** Paths in the tarball. */
  readonly packedFiles: string[];
  readonly manifest: Manifest;
  remove(): Promise<void>;
}

/** Packs the built repo and unpacks it into a fresh temp project with the fixture's tsconfig.json. */
export async function packIntoProject(): Promise<PackedProject> {
  if (!existsSync(join(ROOT, 'dist/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (`npm test` does)');
  const temp = await mkdtemp(join(tmpdir(), 'creddy-consumer-'));
  const project = join(temp, 'project');
  const pkg = join(project, 'node_modules/creddy');
  await mkdir(pkg, { recursive: true });

  const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', temp], { cwd: ROOT });
  const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  await exec('tar', ['-xzf', join(temp, packed.filename), '-C', pkg, '--strip-components=1']);
  const manifest = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as Manifest;

  for (const name of [...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies ?? {}), '@types/node']) {
    await mkdir(dirname(join(project, 'node_modules', name)), { recursive: true });
    await symlink(join(ROOT, 'node_modules', name), join(project, 'node_modules', name), 'dir');
  }
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await writeFile(join(project, 'tsconfig.json'), await readFile(join(FIXTURE, 'tsconfig.json')));
  return {
    project,
    pkg,
    packedFiles: packed.files.map((file) => file.path),
    manifest,
    remove: () => rm(temp, { recursive: true, force: true }),
  };
}
