"""The target's witness: what reached the target, byte for byte.

The fault and bypass suites run this as the target sshd's ForceCommand, so
it sits between the target's sshd and the shell of every session tandem
opens.  It writes down, in the directory named by its argument:

  exec.PID   the exact command of a non-interactive session, then runs it
  tty.PID    every byte the session's terminal received, in order, then
             passes each one on to a shell on a terminal of its own
  env.PID    the environment the session started with (NUL-separated)

The suites compare these files with the recordings: a byte here that no
escort approved is a byte past the gate.
"""
import fcntl
import os
import pty
import select
import signal
import sys
import termios
import tty


def write_all(fd, data):
    while data:
        try:
            n = os.write(fd, data)
        except InterruptedError:
            continue
        data = data[n:]


def main():
    where = sys.argv[1]
    pid = os.getpid()
    with open(os.path.join(where, f"env.{pid}"), "wb") as f:
        f.write(b"\0".join(k + b"=" + v for k, v in os.environb.items()))
    command = os.environb.get(b"SSH_ORIGINAL_COMMAND")
    if command is not None:
        with open(os.path.join(where, f"exec.{pid}"), "wb") as f:
            f.write(command)
        os.execv("/bin/sh", ["sh", "-c", command])
    if not os.isatty(0):
        # tandem never opens a shell without a terminal; if one came,
        # every byte of it is still written down.
        log = open(os.path.join(where, f"tty.{pid}"), "ab", buffering=0)
        while True:
            data = os.read(0, 65536)
            if not data:
                return
            log.write(data)
    log = open(os.path.join(where, f"tty.{pid}"), "ab", buffering=0)
    size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
    child, master = pty.fork()
    if child == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, size)
        os.execv("/bin/sh", ["sh", "-i"])
    saved = termios.tcgetattr(0)
    # Raw: the bytes as they arrived, no line discipline of our own.
    tty.setraw(0)

    def winch(_sig, _frame):
        fcntl.ioctl(master, termios.TIOCSWINSZ,
                    fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))

    signal.signal(signal.SIGWINCH, winch)
    try:
        fds = [0, master]
        while True:
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if 0 in ready:
                try:
                    data = os.read(0, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                log.write(data)
                write_all(master, data)
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                write_all(1, data)
    finally:
        termios.tcsetattr(0, termios.TCSANOW, saved)
        try:
            os.kill(child, signal.SIGHUP)
        except OSError:
            pass


if __name__ == "__main__":
    main()
