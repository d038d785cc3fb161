"""make demo: a loopback target and bastion, an engineer's session, its replay.

With a terminal, it opens tmux: the engineer's ssh on the left, the live
recording of that session on the right.  Without one, it runs a scripted
session and prints its replay and the session's audit trail.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testbed import Bed, Recording, Term  # noqa: E402


def scripted(bed):
    print("== engineer alice runs a command on db01 through the bastion")
    print("   $ ssh tandem@bastion db01 'uname -s; echo hello from $(hostname)'")
    before = bed.recordings_now()
    p = bed.ssh("db01", "uname -s; echo hello from $(hostname)")
    sys.stdout.write(p.stdout.decode(errors="replace"))
    print(f"   (exit {p.returncode})")

    print("== alice opens an interactive shell on db01")
    t = Term(bed.ssh_argv(tty=True) + ["db01"])
    t.send("printf '\\033[1;32m%s\\033[0m\\n' 'colours survive'; ls / | head -3\r")
    t.expect("colours survive")
    t.send("exit\r")
    t.wait()
    t.close()
    print("== alice asks for db03, which the policy does not grant her")
    p = bed.ssh("db03", "true")
    sys.stdout.write("   " + p.stderr.decode())
    print(f"   (exit {p.returncode})")

    new = sorted(bed.recordings_now() - before, key=os.path.getmtime)
    for path in new:
        rec = Recording(path)
        tdm = rec.header["tandem"]
        print(f"\n== recording {os.path.relpath(path, bed.recordings)}")
        print(f"   {tdm['engineer']}@{tdm['target']} session {tdm['session']}"
              f" command {tdm['command']!r}")
        print("   replay (zstd -dc FILE | asciinema cat -):")
        cat = subprocess.run(f"zstd -dc {path} | asciinema cat -", shell=True,
                             stdout=subprocess.PIPE)
        for line in cat.stdout.decode(errors="replace").splitlines()[-8:]:
            print("   | " + line)
        print("   audit trail:")
        for e in rec.events:
            if e[1] == "m":
                print(f"   {e[0]:9.3f}s  {e[2]}")
            elif e[1] == "i":
                print(f"   {e[0]:9.3f}s  sent to target: {e[2]!r}")


def interactive(bed):
    session = "tandem-demo"
    eng = " ".join(bed.ssh_argv(tty=True)) + " db01"
    watch = (f"while :; do clear; echo 'Recordings on the bastion ({bed.recordings}):';"
             f" find {bed.recordings} -name '*.cast.zst' -printf '%TT  %s bytes  %P\\n';"
             " f=$(ls -t $(find " + bed.recordings + " -name '*.cast.zst') 2>/dev/null | head -1);"
             " [ -n \"$f\" ] && { echo; echo \"Live replay of $f:\";"
             " zstd -dcq \"$f\" 2>/dev/null | asciinema cat - 2>/dev/null | tail -15; }; sleep 1; done")
    subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                    f"echo 'Engineer alice: ssh tandem@bastion db01 (type exit to end)';"
                    f" {eng}; echo; echo 'Session ended. Ctrl-b d leaves the demo.'; sleep 3600"])
    subprocess.run(["tmux", "split-window", "-h", "-t", session, watch])
    subprocess.run(["tmux", "select-pane", "-t", f"{session}:0.0"])
    subprocess.run(["tmux", "attach", "-t", session])
    subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    if os.geteuid() != 0:
        print("make demo creates test accounts and starts sshd on loopback: run it as root")
        sys.exit(1)
    bed = Bed(build)
    try:
        print(f"target sshd on 127.0.0.1:{bed.target.port}, "
              f"bastion sshd on 127.0.0.1:{bed.bastion.port}, policy {bed.policy}")
        if sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("CI"):
            interactive(bed)
        else:
            scripted(bed)
    finally:
        bed.stop()


main()
