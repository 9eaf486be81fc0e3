import { CreddyError } from '../errors.js';

/**
 * A minimal, canonical POSIX ustar writer and strict reader for export bundles. The bundle is a
 * plain tar an auditor can unpack with `tar xf`; the reader accepts only byte-for-byte what the
 * writer produces (headers regenerated and compared, zero padding, exact trailer), so no byte
 * of the file can change without the verification failing.
 */
const BLOCK = 512;

export interface TarFile {
  readonly name: string;
  readonly data: Buffer;
}

function header(name: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const put = (offset: number, length: number, value: string): void => void h.write(value, offset, length, 'ascii');
  put(0, 100, name);
  put(100, 8, '0000600\0');
  put(108, 8, '0000000\0');
  put(116, 8, '0000000\0');
  put(124, 12, `${size.toString(8).padStart(11, '0')}\0`);
  put(136, 12, '00000000000\0'); // mtime 0: the manifest carries the real time, signed
  h.fill(0x20, 148, 156);
  put(156, 1, '0');
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  let sum = 0;
  for (const byte of h) sum += byte;
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

export function writeTar(files: readonly TarFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const { name, data } of files) {
    if (!/^[a-z0-9._-]{1,99}$/.test(name)) throw new CreddyError('ERR_AUDIT_INVALID', `bad tar member name ${name}`);
    parts.push(header(name, data.length), data, padding(data.length));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** Parses a tar written by writeTar; throws on any deviation. */
export function readTar(tar: Buffer): TarFile[] {
  const files: TarFile[] = [];
  let offset = 0;
  for (;;) {
    if (offset + BLOCK > tar.length) throw new CreddyError('ERR_AUDIT_INVALID', 'bundle is truncated');
    const block = tar.subarray(offset, offset + BLOCK);
    if (block.every((b) => b === 0)) {
      if (tar.length !== offset + 2 * BLOCK || !tar.subarray(offset).every((b) => b === 0))
        throw new CreddyError('ERR_AUDIT_INVALID', 'bundle has bytes after its end');
      return files;
    }
    const name = block.subarray(0, 100).toString('ascii').replace(/\0.*$/s, '');
    const size = Number.parseInt(block.subarray(124, 135).toString('ascii'), 8);
    if (!Number.isSafeInteger(size) || size < 0 || !/^[a-z0-9._-]{1,99}$/.test(name))
      throw new CreddyError('ERR_AUDIT_INVALID', 'bundle has a malformed entry');
    if (!header(name, size).equals(block)) throw new CreddyError('ERR_AUDIT_INVALID', `bundle entry header of ${name} was altered`);
    const start = offset + BLOCK;
    const end = start + size;
    const padded = end + padding(size).length;
    if (padded > tar.length) throw new CreddyError('ERR_AUDIT_INVALID', 'bundle is truncated');
    if (!tar.subarray(end, padded).every((b) => b === 0))
      throw new CreddyError('ERR_AUDIT_INVALID', `bundle padding after ${name} was altered`);
    files.push({ name, data: Buffer.from(tar.subarray(start, end)) });
    offset = padded;
  }
}
