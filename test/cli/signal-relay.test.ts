/**
 * The rule `creddy exec` passes signals on by (src/cli/signal-relay.ts); exec-signals.test.ts
 * proves it on a real terminal.
 */
import { describe, expect, it } from 'vitest';
import { CAUGHT, positionFromStat, relayOf, type TerminalPosition, terminalPosition } from '../../src/cli/signal-relay.js';

const foreground = (leader: boolean | undefined): TerminalPosition => ({ kind: 'foreground', leader });

describe('relayOf', () => {
  it('passes on everything when creddy has no terminal, or is a background job', () => {
    for (const kind of ['none', 'background'] as const)
      for (const signal of CAUGHT) expect(relayOf(signal, { kind }), `${kind} ${signal}`).toBe(true);
  });

  it('in the foreground, leaves Ctrl-C and Ctrl-\\ to the terminal, which sent them to the command already', () => {
    for (const leader of [true, false, undefined]) {
      expect(relayOf('SIGINT', foreground(leader))).toBe(false);
      expect(relayOf('SIGQUIT', foreground(leader))).toBe(false);
      for (const signal of ['SIGTERM', 'SIGUSR1', 'SIGUSR2'] as const) expect(relayOf(signal, foreground(leader))).toBe(true);
    }
  });

  it('passes a hang-up on only where it reached creddy alone: as the session leader, or when it cannot tell', () => {
    expect(relayOf('SIGHUP', foreground(true))).toBe(true);
    expect(relayOf('SIGHUP', foreground(undefined))).toBe(true);
    expect(relayOf('SIGHUP', foreground(false))).toBe(false);
  });
});

describe('positionFromStat', () => {
  // pid (comm) state ppid pgrp session tty_nr tpgid flags …
  const stat = (comm: string, pgrp: number, session: number, tpgid: number) =>
    `4242 (${comm}) S 1 ${pgrp} ${session} 34816 ${tpgid} 4194560 0 0`;

  it('reads pgrp, session and the terminal’s foreground group past a command name with spaces and parentheses', () => {
    expect(positionFromStat(stat('node', 4242, 4242, 4242), 4242)).toEqual({ kind: 'foreground', leader: true });
    expect(positionFromStat(stat('no) de (x', 4242, 100, 4242), 4242)).toEqual({ kind: 'foreground', leader: false });
    expect(positionFromStat(stat('node', 4242, 100, 4300), 4242)).toEqual({ kind: 'background' });
    expect(positionFromStat(stat('node', 4242, 4242, -1), 4242)).toEqual({ kind: 'none' });
  });

  it('falls back to the controlling terminal without /proc', () => {
    expect(['none', 'foreground']).toContain(terminalPosition(() => undefined).kind);
    // vitest's worker, in whatever session it was started: a position, never an exception.
    expect(['none', 'foreground', 'background']).toContain(terminalPosition().kind);
  });
});
