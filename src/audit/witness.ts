import { appendFile, open, readFile } from 'node:fs/promises';
import type { Logger } from '../_utils/logger.js';
import type { WitnessConfig } from '../config/types.js';
import { CreddyError } from '../errors.js';
import type { AuditCheckpoint } from '../model/audit.js';
import { checkpointFromJson, checkpointToJson } from './row-json.js';

/** Sends each new checkpoint to every configured witness. Never throws: issuance must not depend on it. */
export interface Witness {
  record(checkpoint: AuditCheckpoint): Promise<void>;
}

/** How long a witness POST may take; the checkpoint timer must not pile up behind a slow witness. */
const WITNESS_TIMEOUT_MS = 5000;
/** Longest witness file or answer read when verifying; a checkpoint line is ~250 bytes. */
const MAX_WITNESS_BYTES = 64 * 1024 * 1024;

export function createWitness(config: WitnessConfig, logger: Logger, doFetch: typeof fetch = fetch): Witness {
  return {
    async record(checkpoint) {
      const line = `${JSON.stringify(checkpointToJson(checkpoint))}\n`;
      if (config.file) {
        try {
          await appendFile(config.file, line, { mode: 0o600, flag: 'a' });
          const handle = await open(config.file, 'r');
          // The line must survive a power cut before it counts as witnessed.
          await handle.sync().finally(() => handle.close());
        } catch (err) {
          logger.error('audit witness file could not be written', {
            file: config.file,
            seq: checkpoint.seq,
            error: (err as Error).message,
          });
        }
      }
      if (config.url) {
        try {
          const response = await doFetch(config.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: line,
            signal: AbortSignal.timeout(WITNESS_TIMEOUT_MS),
          });
          if (!response.ok) throw new CreddyError('ERR_INTERNAL', `answered ${response.status}`);
        } catch (err) {
          logger.error('audit witness endpoint did not take the checkpoint', {
            url: config.url,
            seq: checkpoint.seq,
            error: (err as Error).message,
          });
        }
      }
    },
  };
}

/**
 * The latest checkpoint a witness holds: the last line of a witness file, or what a witness URL
 * answers to GET. Undefined when the witness holds none yet (a new file, an empty answer).
 */
export async function readWitness(source: string, doFetch: typeof fetch = fetch): Promise<AuditCheckpoint | undefined> {
  let text: string;
  if (/^https?:\/\//.test(source)) {
    let response: Response;
    try {
      response = await doFetch(source, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(WITNESS_TIMEOUT_MS) });
    } catch (err) {
      throw new CreddyError('ERR_USAGE', `witness ${source} cannot be reached: ${(err as Error).message}`);
    }
    if (response.status === 204 || response.status === 404) return undefined;
    if (!response.ok) throw new CreddyError('ERR_USAGE', `witness ${source} answered ${response.status}`);
    text = await response.text();
  } else {
    try {
      text = await readFile(source, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CreddyError('ERR_USAGE', `witness file ${source} cannot be read: ${(err as Error).message}`);
    }
  }
  if (text.length > MAX_WITNESS_BYTES) throw new CreddyError('ERR_USAGE', `witness ${source} is larger than ${MAX_WITNESS_BYTES} bytes`);
  const last = text.trimEnd().split('\n').at(-1)?.trim();
  if (!last) return undefined;
  try {
    return checkpointFromJson(JSON.parse(last) as Record<string, unknown>);
  } catch {
    throw new CreddyError('ERR_AUDIT_INVALID', `witness ${source}: its last entry is not a checkpoint`);
  }
}

/** `--expect SEQ:HASH`: a checkpoint the operator noted down. */
export function parseExpectation(value: string): { seq: number; hash: string } {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/.exec(value.trim());
  if (!match) throw new CreddyError('ERR_USAGE', '--expect must be SEQ:HASH (a seq and its 64-hex chain hash, as `audit verify` prints)');
  return { seq: Number(match[1]), hash: match[2]! };
}
