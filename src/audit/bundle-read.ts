import { createHash } from 'node:crypto';
import { CreddyError } from '../errors.js';
import type { AuditRow } from '../model/audit.js';
import type { BundleBytes, TarEntry } from './bundle-tar.js';
import type { ChainSource } from './verify-chain.js';

/** How much of a member is read at once. */
const CHUNK_BYTES = 1 << 20;
/** The longest NDJSON line a verifier accepts (a real row is a few KB; requests are capped at 64 KB). */
export const MAX_LINE_BYTES = 16 << 20;

/** A member read to its end: its SHA-256, size and line count. */
export interface MemberDigest {
  readonly sha256: string;
  readonly bytes: number;
  readonly lines: number;
}

/**
 * Reads one NDJSON member of a bundle a line at a time, in 1 MiB chunks, hashing every byte as
 * it is read. `next` parses the next line (undefined at the end); `finish` reads and hashes
 * whatever `next` did not reach, without parsing it, so a verifier that stopped at a bad row
 * still learns whether the file is the one the manifest names.
 */
export function ndjsonMember(tar: BundleBytes, entry: TarEntry) {
  const hash = createHash('sha256');
  let chunk: Buffer = Buffer.alloc(0);
  let pos = 0;
  let read = 0;
  let lines = 0;
  /** The start of a line that began in an earlier chunk. */
  let carry: Buffer[] = [];
  let carried = 0;

  const nextChunk = (): boolean => {
    if (read >= entry.size) return false;
    chunk = tar.read(entry.offset + read, Math.min(CHUNK_BYTES, entry.size - read));
    read += chunk.length;
    pos = 0;
    hash.update(chunk);
    return true;
  };
  const tooLong = (): CreddyError =>
    new CreddyError('ERR_AUDIT_INVALID', `${entry.name} line ${lines + 1} is longer than ${MAX_LINE_BYTES} bytes`);

  return {
    next(): Record<string, unknown> | undefined {
      for (;;) {
        const nl = chunk.indexOf(0x0a, pos);
        if (nl !== -1) {
          if (carried + nl - pos > MAX_LINE_BYTES) throw tooLong();
          const bytes = carried > 0 ? Buffer.concat([...carry, chunk.subarray(pos, nl)]) : chunk.subarray(pos, nl);
          carry = [];
          carried = 0;
          pos = nl + 1;
          lines += 1;
          const value = JSON.parse(bytes.toString('utf8')) as unknown;
          if (value === null || typeof value !== 'object' || Array.isArray(value))
            throw new CreddyError('ERR_AUDIT_INVALID', `${entry.name} line ${lines}: not an object`);
          return value as Record<string, unknown>;
        }
        if (pos < chunk.length) {
          carry.push(chunk.subarray(pos));
          carried += chunk.length - pos;
          if (carried > MAX_LINE_BYTES) throw tooLong();
        }
        if (!nextChunk()) {
          if (carried > 0) throw new CreddyError('ERR_AUDIT_INVALID', `${entry.name}: last line is not terminated`);
          return undefined;
        }
      }
    },
    finish(): MemberDigest {
      let rest = lines;
      do for (let nl = chunk.indexOf(0x0a, pos); nl !== -1; nl = chunk.indexOf(0x0a, nl + 1)) rest += 1;
      while (nextChunk());
      return { sha256: hash.digest('hex'), bytes: read, lines: rest };
    },
  };
}

/**
 * A ChainSource page function over rows read one at a time, in file order. The walk asks for the
 * rows after the last one it passed, its look-ahead for the rows after the one it is checking:
 * both only move forward, so rows before the latest one asked after are dropped, and at most
 * about two pages (plus that row) are held.
 */
export function streamPager(next: () => AuditRow | undefined): ChainSource['page'] {
  let window: AuditRow[] = [];
  let ended = false;
  const fill = (count: number): void => {
    while (!ended && window.length < count) {
      const row = next();
      if (row === undefined) ended = true;
      else window.push(row);
    }
  };
  return async (afterSeq, limit) => {
    let start = 0;
    if (afterSeq !== 0) {
      const at = window.findIndex((r) => r.seq === afterSeq);
      // Always found: the walk asks only after a row an earlier call returned.
      if (at === -1) return [];
      window = window.slice(at);
      start = 1;
    }
    fill(start + limit);
    return window.slice(start, start + limit);
  };
}
