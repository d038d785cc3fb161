"""What the fault and bypass suites share: a bed whose target writes down
every byte it receives (tap.py), ways to find and kill the processes of a
session, and the check of tandem's three promises after each scenario:

  - no approved command is missing from the recording: every approval an
    escort was told succeeded is listed by `tandem-replay commands --json`;
  - nothing unapproved reached the target: the bytes the target's terminal
    received are a prefix of what the recording says was approved (and of
    what it says was sent), and every command run without a terminal is
    one an escort approved;
  - every recording that exists verifies sealed or as a clean prefix
    (`tandem-replay verify` exit 0 or 3, never 4) and decompresses.

The test bed itself is tests/integration/testbed.py, imported as is.
"""
import base64
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from testbed import Bed, Recording, Term, ROOT, TARGET_USER  # noqa: E402

# Totals over the run; run.py prints them.
LEDGER = {"scenarios": 0, "lost": 0, "unapproved": 0}

BUILD = os.environ.get("TANDEM_BUILD", "build")
SANITIZED = os.path.basename(os.path.normpath(BUILD)) == "asan"


class FaultBed(Bed):
    """A Bed whose target runs every session through tap.py."""

    def __init__(self, **kw):
        self.tap_dir = tempfile.mkdtemp(prefix="tandem-tap-")
        tgt = pwd.getpwnam(TARGET_USER)
        os.chown(self.tap_dir, tgt.pw_uid, tgt.pw_gid)
        os.chmod(self.tap_dir, 0o755)
        tap = os.path.join(HERE, "tap.py")
        kw["target_config"] = (f"ForceCommand /usr/bin/python3 {tap} {self.tap_dir}\n"
                               + kw.get("target_config", ""))
        super().__init__(BUILD, **kw)
        probe = os.path.join(ROOT, BUILD, "probe", "tandem-recorder")
        shutil.copy(probe, os.path.join(self.bin, "tandem-recorder-probe"))

    def use_probe(self, what, who="alice"):
        """`who`'s forced command: the test build with hook `what` armed."""
        line = (f'restrict,pty,command="TANDEM_TEST_PROBE={what} '
                f'{self.bin}/tandem-recorder-probe --config {self.policy} '
                f'--engineer {who}" {self.users[who][1]}\n')
        with open(os.path.join(self.dir, "authkeys", "tandem"), "w") as f:
            f.write(line)

    def taps(self):
        return set(os.listdir(self.tap_dir))

    def tap(self, name):
        with open(os.path.join(self.tap_dir, name), "rb") as f:
            return f.read()

    def snapshot(self):
        return Snapshot(self)

    def stop(self):
        super().stop()
        shutil.rmtree(self.tap_dir, ignore_errors=True)


# -- processes ---------------------------------------------------------------

def pids_running(exe):
    """PIDs whose executable is exactly `exe` (programs this bed started)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{d}/exe") == exe:
                out.append(int(d))
        except OSError:
            pass
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def recorder_pids(bed):
    """Running recorders; not their socket reapers (forks that only wait)."""
    pids = (pids_running(os.path.join(bed.bin, "tandem-recorder")) +
            pids_running(os.path.join(bed.bin, "tandem-recorder-probe")))
    return [p for p in pids if comm(p) != "tandem-reaper" and not zombie(p)]


def one_recorder(bed, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = recorder_pids(bed)
        if len(pids) == 1:
            return pids[0]
        time.sleep(0.05)
    raise AssertionError(f"expected one recorder, found {recorder_pids(bed)}")


def wait_gone(pids, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(os.path.exists(f"/proc/{p}") and not zombie(p) for p in pids):
            return
        time.sleep(0.05)
    raise AssertionError(f"processes {pids} did not end")


def zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


def descendants(pid):
    out = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for c in children(p):
            out.append(c)
            todo.append(c)
    return out


def kill9(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# -- escorts -------------------------------------------------------------------

class Escort:
    """Approvals as an escort gets them, remembering which ones tandem
    confirmed: those must be in the recording whatever happens next."""

    def __init__(self, bed, who="bob"):
        self.bed = bed
        self.who = who
        self.confirmed = []

    def pending(self, wait=10):
        p = self.bed.escort("pending", "--json", "--wait", str(wait), who=self.who)
        if p.returncode != 0:
            return []
        return [json.loads(l) for l in p.stdout.decode().split("\n") if l.strip()]

    def decide(self, item, verb="approve"):
        p = self.bed.escort(verb, item["session"], str(item["seq"]), who=self.who)
        if p.returncode == 0 and verb == "approve":
            self.confirmed.append((item["session"], item["seq"], item["command"]))
        return p.returncode == 0

    def next(self, verb="approve", wait=10, expect=None):
        """Decides the first pending command; returns it, or None."""
        deadline = time.time() + wait
        while True:
            items = self.pending(wait=max(1, int(deadline - time.time())))
            if expect is not None:
                items = [i for i in items if i["command"] == expect]
            if items:
                item = items[0]
                return item if self.decide(item, verb) else None
            if time.time() >= deadline:
                return None


def shell(bed, who="alice", **kw):
    t = Term(bed.ssh_argv(who=who, tty=True) + ["db01"], **kw)
    t.expect(r"\$ $", timeout=30)
    return t


# -- the check -------------------------------------------------------------------

class Snapshot:
    def __init__(self, bed):
        self.recordings = bed.recordings_now()
        self.taps = bed.taps()


def replay(bed, *args):
    return subprocess.run([os.path.join(bed.bin, "tandem-replay")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)


def load_events(path):
    """Header and events of a recording that may end in a torn frame."""
    p = subprocess.run(["zstd", "-dcq", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    lines = p.stdout.split(b"\n")
    if p.returncode != 0 and lines:
        lines = lines[:-1]      # what a torn frame cut off
    header = json.loads(lines[0])
    events = [json.loads(l) for l in lines[1:] if l.strip()]
    return header, events, p.returncode


def approved_bytes(events, tty):
    """What the decisions in the recording allow to reach the target."""
    out = []
    for e in events:
        if e[1] != "m" or "\t" not in e[2]:
            continue
        # The details follow the last TAB (docs/recording.md).
        d = json.loads(e[2].rsplit("\t", 1)[1])
        if d.get("event") != "decision" or d.get("decision") != "approved":
            continue
        cmd = base64.b64decode(d["command_b64"])
        if not tty:
            out.append(cmd)
        elif cmd == b"^D":
            out.append(b"\x04")
        else:
            out.append(cmd + b"\r")
    return out


def sent_bytes(events):
    """The "i" stream: what the recorder says it sent."""
    out = []
    i = 0
    while i < len(events):
        e = events[i]
        if e[1] == "i":
            if i + 1 < len(events) and events[i + 1][1] == "x":
                out.append(base64.b64decode(events[i + 1][2]))
                i += 2
                continue
            out.append(e[2].encode("utf-8"))
        i += 1
    return b"".join(out)


def common_prefix(a, b):
    n = min(len(a), len(b))
    lo = 0
    # Compare in blocks first: streams can be long.
    while lo < n and a[lo:lo + 4096] == b[lo:lo + 4096]:
        lo += 4096
    lo = min(lo, n)
    while lo < n and a[lo] == b[lo]:
        lo += 1
    return lo


def strip_interrupts(b):
    # Ctrl-C passes without approval, by design (recorded as "i").
    return b.replace(b"\x03", b"")


class Verdict:
    def __init__(self):
        self.lost = 0
        self.unapproved = 0
        self.problems = []
        self.recordings = []

    def fail(self, msg):
        self.problems.append(msg)


def check(bed, snap, escort=None, sealed=None, expect_recordings=None, settle=True,
          count=True):
    """The three promises, for everything the scenario since `snap` left.

    sealed: True (every recording must verify 0), False (must be 3), None
    (either).  Returns a Verdict; the totals go to LEDGER."""
    v = Verdict()
    if settle:
        # The target's side of a killed session takes a moment to end.
        time.sleep(0.3)
    new_recs = sorted(bed.recordings_now() - snap.recordings)
    if expect_recordings is not None and len(new_recs) != expect_recordings:
        v.fail(f"expected {expect_recordings} new recordings, found {len(new_recs)}")
    approved_by_session = {}
    allowed = []          # (allowed bytes, sent bytes) per interactive session
    allowed_exec = []
    for path in new_recs:
        r = replay(bed, "verify", "--key", bed.signing_key + ".pub", path)
        out = (r.stdout + r.stderr).decode(errors="replace")
        v.recordings.append((path, r.returncode))
        if r.returncode not in (0, 3):
            v.fail(f"verify {path}: exit {r.returncode}: {out}")
            continue
        if sealed is True and r.returncode != 0:
            v.fail(f"verify {path}: expected sealed, exit {r.returncode}: {out}")
        if sealed is False and r.returncode != 3:
            v.fail(f"verify {path}: expected unsealed, exit {r.returncode}: {out}")
        header, events, zrc = load_events(path)
        if zrc != 0 and r.returncode == 0:
            v.fail(f"{path}: sealed but zstd -dc fails")
        c = replay(bed, "commands", "--json", path)
        if c.returncode != 0:
            v.fail(f"commands {path}: exit {c.returncode}: {c.stderr!r}")
        for line in c.stdout.decode().split("\n"):
            if line.strip():
                row = json.loads(line)
                if row.get("decision") == "approved":
                    approved_by_session.setdefault(row["session"], set()).add(row["seq"])
        tty = header["tandem"].get("command") is None
        if tty:
            allowed.append((strip_interrupts(b"".join(approved_bytes(events, True))),
                            strip_interrupts(sent_bytes(events))))
        else:
            allowed_exec += approved_bytes(events, False)
        # What the recorder says it sent must itself be approved.
        if tty:
            a, s = allowed[-1]
            extra = len(s) - common_prefix(s, a)
            if extra:
                v.unapproved += extra
                v.fail(f"{path}: {extra} bytes sent that no approval covers: "
                       f"{s[common_prefix(s, a):][:200]!r}")

    if escort is not None:
        for sid, seq, cmd in escort.confirmed:
            if seq not in approved_by_session.get(sid, set()):
                v.lost += 1
                v.fail(f"approval of #{seq} ({cmd[:80]!r}) in {sid} was confirmed "
                       "to the escort but is not in the recording")

    for name in sorted(bed.taps() - snap.taps):
        data = bed.tap(name)
        if name.startswith("tty."):
            got = strip_interrupts(data)
            if not got:
                continue
            best_allowed = max((common_prefix(got, a) for a, _ in allowed), default=0)
            best_sent = max((common_prefix(got, s) for _, s in allowed), default=0)
            bad = len(got) - min(best_allowed, best_sent)
            if bad:
                v.unapproved += bad
                v.fail(f"target received {bad} bytes no recorded approval covers: "
                       f"{got[min(best_allowed, best_sent):][:200]!r}")
        elif name.startswith("exec."):
            if data not in allowed_exec:
                v.unapproved += len(data)
                v.fail(f"target ran a command no recorded approval covers: {data[:200]!r}")
    if count:
        LEDGER["scenarios"] += 1
        LEDGER["lost"] += v.lost
        LEDGER["unapproved"] += v.unapproved
    return v


def assert_promises(test, bed, snap, **kw):
    v = check(bed, snap, **kw)
    test.assertEqual(v.problems, [], "\n".join(v.problems))
    return v
