"""Runs a command on a new pseudo-terminal, as a shell in a terminal window would.

    python3 pty-run.py CMD ARGS...

The command becomes the session leader and the foreground process group of the terminal (as
the job a shell starts in the foreground). Whatever this script reads on stdin is typed on the
terminal: a \\x03 there is a Ctrl-C, which the terminal driver turns into SIGINT for the whole
foreground process group. What the terminal shows is copied to stdout as it comes; at the end
one line `exit-status N` gives the command's exit code (-N if signal N killed it).

Used by test/cli/exec-signals.test.ts: Node has no pseudo-terminal of its own.
"""
import os
import pty
import select
import sys

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])

typed = sys.stdin.fileno()
watched = [fd, typed]
while True:
    ready, _, _ = select.select(watched, [], [])
    if fd in ready:
        try:
            shown = os.read(fd, 4096)
        except OSError:  # EIO: the last process holding the terminal has gone
            shown = b''
        if not shown:
            break
        os.write(1, shown)
    if typed in ready:
        keys = os.read(typed, 1024)
        if keys:
            os.write(fd, keys)
        else:
            watched.remove(typed)

_, status = os.waitpid(pid, 0)
os.write(1, f'\nexit-status {os.waitstatus_to_exitcode(status)}\n'.encode())
