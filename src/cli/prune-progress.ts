import type { PruneProgress } from '../audit/retention.js';
import type { CliOutput } from './io.js';

/**
 * Progress of `audit prune` on stderr, one committed step at a time: on a terminal one line
 * rewritten per step (left standing at the end, so an interrupted run shows how far it got), elsewhere a line per step when the run has more
 * than one, so a long prune is visibly working and a log shows how far it got. Each step is
 * committed with its own audit.pruned row, so what a line reports stays done even if the run is
 * stopped after it.
 */
export function pruneProgress(out: CliOutput): { step: (progress: PruneProgress) => void; done: () => void } {
  const tty = out.isTTY === true;
  let drawn = false;
  const describe = (p: PruneProgress): string => {
    const what =
      p.deleted === 0
        ? `nothing left below seq ${p.anchorSeq} (another process pruned it)`
        : `${p.deleted} events deleted (seq ${p.fromSeq}-${p.anchorSeq - 1}), ${p.total} so far`;
    return `audit prune: step ${p.step} of ${p.steps}: ${what}; the log starts at seq ${p.anchorSeq}`;
  };
  return {
    step(progress) {
      if (tty) {
        out.write(`\r\u001B[K${describe(progress)}`);
        drawn = true;
      } else if (progress.steps > 1) out.write(`${describe(progress)}\n`);
    },
    done() {
      if (drawn) out.write('\n');
    },
  };
}
