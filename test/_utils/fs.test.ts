import { lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writePrivateFile } from '../../src/_utils/fs.js';
import { tempDir } from '../helpers/harness.js';

const mode = (path: string) => statSync(path).mode & 0o777;

/** On the real file system: what a file creddy writes (bundles, keys, configs, cache entries) may replace. */
describe('writePrivateFile', () => {
  let tmp: ReturnType<typeof tempDir>;
  afterEach(() => tmp.cleanup());

  it('creates 0600 whatever the umask; an existing file is refused (EEXIST) and kept as it was', () => {
    tmp = tempDir('creddy-fs-');
    const path = join(tmp.dir, 'file');
    const umask = process.umask(0);
    try {
      writePrivateFile(path, 'first');
    } finally {
      process.umask(umask);
    }
    expect(mode(path)).toBe(0o600);
    expect(() => writePrivateFile(path, 'second')).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(readFileSync(path, 'utf8')).toBe('first');
    writePrivateFile(path, 'third', { overwrite: true });
    expect(readFileSync(path, 'utf8')).toBe('third');
    expect(readdirSync(tmp.dir)).toEqual(['file']);
  });

  it('a symlink at the path, dangling or not, is refused; with overwrite the link is replaced and its target untouched', () => {
    tmp = tempDir('creddy-fs-');
    const target = join(tmp.dir, 'target');
    writeFileSync(target, 'theirs', { mode: 0o644 });
    const link = join(tmp.dir, 'link');
    symlinkSync(target, link);
    expect(() => writePrivateFile(link, 'ours')).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    const dangling = join(tmp.dir, 'dangling');
    symlinkSync(join(tmp.dir, 'created-through-the-link'), dangling);
    expect(() => writePrivateFile(dangling, 'ours')).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    writePrivateFile(link, 'ours', { overwrite: true });
    expect(lstatSync(link).isSymbolicLink()).toBe(false);
    expect(readFileSync(link, 'utf8')).toBe('ours');
    expect(readFileSync(target, 'utf8')).toBe('theirs');
    expect(mode(target)).toBe(0o644);
    expect(readdirSync(tmp.dir).sort()).toEqual(['dangling', 'link', 'target']);
  });
});
