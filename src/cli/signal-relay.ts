import { closeSync, openSync, readFileSync } from 'node:fs';

/**
 * Signals `creddy exec` catches while its command runs, so that creddy outlives the command and
 * revokes the credential. Whether it passes one on depends on who else got it (relayOf).
 */
export const CAUGHT = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
export type CaughtSignal = (typeof CAUGHT)[number];

/**
 * Where creddy stands towards its terminal when a signal arrives: `foreground` (in the
 * terminal's foreground process group; `leader` when it is also the session leader),
 * `background` (a terminal, another group in front), or `none` (no controlling terminal: a
 * supervisor, CI, a container without -t).
 */
export type TerminalPosition =
  | { readonly kind: 'foreground'; readonly leader: boolean | undefined }
  | { readonly kind: 'background' | 'none' };

/**
 * Whether creddy passes `signal` on to its command, which it started in its own process group.
 *
 * Node cannot see who sent a signal (no siginfo), so the rule goes by the terminal. A terminal
 * sends SIGINT (Ctrl-C) and SIGQUIT (Ctrl-\) to its whole foreground process group: if creddy is
 * in it, the command got the same signal at the same moment, and a second copy makes tools like
 * terraform or docker compose quit at once instead of shutting down cleanly. A hang-up likewise
 * reaches the whole job (from the shell, or from the kernel when the session leader exits), except
 * that the kernel's own SIGHUP goes to the session leader alone: passed on when creddy is that
 * leader (or cannot tell). Everything else — SIGTERM, SIGUSR1/2, and any signal when creddy is
 * not in the terminal's foreground group — was sent to creddy's pid, and is passed on.
 *
 * The cost: `kill -INT <creddy pid>` (or -QUIT, -HUP) from elsewhere while creddy is the
 * foreground job is not passed on; signal the command, or send SIGTERM.
 */
export function relayOf(signal: CaughtSignal, position: TerminalPosition): boolean {
  if (position.kind !== 'foreground') return true;
  if (signal === 'SIGINT' || signal === 'SIGQUIT') return false;
  if (signal === 'SIGHUP') return position.leader !== false;
  return true;
}

/**
 * creddy's terminal position from `/proc/self/stat` (Linux: pgrp, session, tpgid), read when the
 * signal arrives, as a job can be moved to the foreground or back meanwhile. Elsewhere, having a
 * controlling terminal counts as being in its foreground group, session leader unknown.
 */
export function terminalPosition(readStat: () => string | undefined = procStat): TerminalPosition {
  const stat = readStat();
  if (stat === undefined) return hasControllingTerminal() ? { kind: 'foreground', leader: undefined } : { kind: 'none' };
  return positionFromStat(stat, process.pid);
}

/** The position from a `/proc/PID/stat` line; its second field (the command name, in parentheses) may hold spaces and parentheses. */
export function positionFromStat(stat: string, pid: number): TerminalPosition {
  // After the name: state ppid pgrp session tty_nr tpgid …
  const [, , pgrp, session, , tpgid] = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  if (tpgid === undefined || !(tpgid > 0)) return { kind: 'none' };
  return tpgid === pgrp ? { kind: 'foreground', leader: session === pid } : { kind: 'background' };
}

function procStat(): string | undefined {
  try {
    return readFileSync('/proc/self/stat', 'utf8');
  } catch {
    return undefined;
  }
}

/** Opening /dev/tty works exactly when the process has a controlling terminal. */
function hasControllingTerminal(): boolean {
  try {
    closeSync(openSync('/dev/tty', 'r'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Catches CAUGHT signals for as long as `child` runs and passes on those relayOf says to.
 * Returns the function that stops catching them (call it once the child has exited).
 */
export function relaySignals(child: { kill(signal: NodeJS.Signals): boolean }): () => void {
  const handlers = CAUGHT.map((signal) => {
    const handler = (): void => {
      if (relayOf(signal, terminalPosition())) child.kill(signal);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
