import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CreddyError } from '../errors.js';

/**
 * A minimal, canonical POSIX ustar writer and strict reader for export bundles. The bundle is a
 * plain tar an auditor can unpack with `tar xf`; the reader accepts only byte-for-byte what the
 * writer produces (headers regenerated and compared, zero padding, exact trailer), so no byte
 * of the file can change without the verification failing. Both work a member at a time, so a
 * bundle of any size is written and read without holding it in memory.
 */
const BLOCK = 512;
const NAME = /^[a-z0-9._-]{1,99}$/;

export interface TarFile {
  readonly name: string;
  readonly data: Buffer;
}

/** A member found by `indexTar`: where its content lies in the bundle. */
export interface TarEntry {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

/** Random access to a bundle's bytes: a Buffer, or a file read piece by piece (`openBundleFile`). */
export interface BundleBytes {
  readonly size: number;
  /** Exactly `length` bytes from `offset`; throws ERR_AUDIT_INVALID past the end. */
  read(offset: number, length: number): Buffer;
}

const truncated = (): CreddyError => new CreddyError('ERR_AUDIT_INVALID', 'bundle is truncated');

export function bundleBytes(tar: Buffer): BundleBytes {
  return {
    size: tar.length,
    read(offset, length) {
      if (offset + length > tar.length) throw truncated();
      return tar.subarray(offset, offset + length);
    },
  };
}

/** Opens a bundle file for reading as needed; `close` it when done. */
export function openBundleFile(path: string): BundleBytes & { close(): void } {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  return {
    size,
    read(offset, length) {
      const out = Buffer.allocUnsafe(length);
      for (let done = 0; done < length; ) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw truncated(); // the file shrank while it was being read
        done += n;
      }
      return out;
    },
    close: () => closeSync(fd),
  };
}

/** The 512-byte header creddy writes for a member: fixed mode, owner and mtime (the manifest has the time). */
export function tarHeader(name: string, size: number): Buffer {
  if (!NAME.test(name)) throw new CreddyError('ERR_AUDIT_INVALID', `bad tar member name ${name}`);
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

/** The zeros after a member's content, up to the next 512-byte boundary. */
export const tarPadding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** The end of the archive: two zero blocks. */
export const tarTrailer = (): Buffer => Buffer.alloc(2 * BLOCK);

export function writeTar(files: readonly TarFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const { name, data } of files) parts.push(tarHeader(name, data.length), data, tarPadding(data.length));
  parts.push(tarTrailer());
  return Buffer.concat(parts);
}

const allZero = (bytes: Buffer): boolean => bytes.every((b) => b === 0);

/** Lists the members of a tar written by creddy, reading only headers, padding and trailer; throws on any deviation. */
export function indexTar(tar: BundleBytes): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  for (;;) {
    if (offset + BLOCK > tar.size) throw truncated();
    const block = tar.read(offset, BLOCK);
    if (allZero(block)) {
      if (tar.size !== offset + 2 * BLOCK || !allZero(tar.read(offset, 2 * BLOCK)))
        throw new CreddyError('ERR_AUDIT_INVALID', 'bundle has bytes after its end');
      return entries;
    }
    const name = block.subarray(0, 100).toString('ascii').replace(/\0.*$/s, '');
    const size = Number.parseInt(block.subarray(124, 135).toString('ascii'), 8);
    if (!Number.isSafeInteger(size) || size < 0 || !NAME.test(name))
      throw new CreddyError('ERR_AUDIT_INVALID', 'bundle has a malformed entry');
    if (!tarHeader(name, size).equals(block)) throw new CreddyError('ERR_AUDIT_INVALID', `bundle entry header of ${name} was altered`);
    const start = offset + BLOCK;
    const end = start + size;
    const padded = end + tarPadding(size).length;
    if (padded > tar.size) throw truncated();
    if (!allZero(tar.read(end, padded - end))) throw new CreddyError('ERR_AUDIT_INVALID', `bundle padding after ${name} was altered`);
    entries.push({ name, offset: start, size });
    offset = padded;
  }
}

/** Parses a whole tar written by writeTar in memory; throws on any deviation. */
export function readTar(tar: Buffer): TarFile[] {
  return indexTar(bundleBytes(tar)).map((e) => ({ name: e.name, data: Buffer.from(tar.subarray(e.offset, e.offset + e.size)) }));
}
