"""make demo: a loopback target and bastion, an engineer, an escort, a replay.

With a terminal, it opens tmux: the engineer's ssh session on the left, the
escort's console on the right (keys: a approve, d deny, k kill, r raw, q quit).
Without one, it runs a scripted session, an escort deciding each command, and
prints the session's replay and audit trail.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testbed import Bed, Recording, Term, asciinema_cat  # noqa: E402


def scripted(bed):
    print("== engineer alice runs a command on db01 through the bastion")
    print("   $ ssh tandem@bastion db01 'uname -s; echo hello from $(hostname)'")
    before = bed.recordings_now()
    p = bed.ssh_approved("db01", "uname -s; echo hello from $(hostname)")
    print(f"   escort bob approved #{p.pending['seq']}: {p.pending['visible']}")
    sys.stdout.write(p.stdout.decode(errors="replace"))
    print(f"   (exit {p.returncode})")

    print("== alice opens an interactive shell on db01; every line waits for bob")
    t = Term(bed.ssh_argv(tty=True) + ["db01"])
    t.expect(r"\$ $")
    t.send("printf '\\033[1;32m%s\\033[0m\\n' 'colours survive'\r")
    item = bed.decide_next()
    print(f"   bob approved #{item['seq']}: {item['visible']}")
    t.expect("colours survive")
    t.send("sudo r''m -r\"f\" /tmp/demo-scratch\r")
    item = bed.pending()[0]
    print(f"   bob sees #{item['seq']}: {item['visible']}")
    for r in item["risks"]:
        print(f"       {r['level']}: {r['why']}")
    item = bed.decide_next("deny", reason="no deletes during the demo")
    print(f"   bob denied #{item['seq']}")
    t.expect("nothing was sent")
    t.send("sudo mkfs.ext4 /dev/sdb1\r")
    t.expect(r"refused by policy[^\r]*")
    line = t.out.decode(errors="replace").split("refused by policy")[-1].split("\r")[0]
    print(f"   the policy refused the next line before anyone was asked:"
          f" refused by policy{line}")
    t.send("exit\r")
    bed.decide_next()
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
        cat = asciinema_cat(path)
        for line in cat.stdout.decode(errors="replace").splitlines()[-8:]:
            print("   | " + line)
        print("   audit trail (session events and decisions):")
        for e in rec.events:
            if e[1] == "m":
                print(f"   {e[0]:9.3f}s  {e[2].split(chr(9))[0]}")


def interactive(bed):
    session = "tandem-demo"
    # Works from inside another tmux too, as a nested client.
    os.environ.pop("TMUX", None)
    eng = " ".join(bed.ssh_argv(tty=True)) + " db01"
    esc = " ".join(bed.ssh_argv("bob", user="escort", tty=True))
    subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                    f"echo 'Engineer alice: ssh tandem@bastion db01 (type exit to end)';"
                    f" {eng}; echo; echo 'Session ended. Ctrl-b d leaves the demo.'; sleep 3600"])
    subprocess.run(["tmux", "split-window", "-h", "-t", session,
                    f"echo 'Escort bob: the console (a approve, d deny, k kill, q quit)';"
                    f" sleep 1; {esc}; sleep 3600"])
    subprocess.run(["tmux", "select-pane", "-t", f"{session}:0.0"])
    print("Opening tmux: engineer left, escort right. Ctrl-b d leaves the demo.")
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
