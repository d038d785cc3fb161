"""Approval -> target latency: how long after an escort approves a line do its
bytes reach the program on the target?  Loopback target and bastion from the
test bed; the escort is a process of the escort account speaking the session
protocol directly (no ssh hop, so only tandem's own work is measured: the
decision is recorded and fdatasync'ed, then the line is sent).

The same reader also runs in a direct ssh session to the target, where a
line is timed from the moment it is typed: that is the path any line
takes (ssh, sshd, the target's terminal, the reader waking up), and the
difference of the two at each percentile is what tandem adds.

With --tmpfs the recordings are on a tmpfs, whose fdatasync returns at
once: the difference from a run on disk is the disk's flush, which the
write-ahead decision waits for by design.

usage: python3 bench/approval_latency.py [BUILD] [COUNT] [--tmpfs]
"""
import json
import os
import pwd
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "tests", "integration"))
from testbed import Bed, Term, TARGET_USER  # noqa: E402

ESCORT = r'''
import json, socket, sys, time
path, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX); s.connect(path)
def send(t, obj):
    b = json.dumps(obj).encode(); s.sendall(bytes([1, t]) + len(b).to_bytes(4, "big") + b)
send(1, {"escort": "bob"})
buf, done, seen = b"", 0, set()
while done < count:
    while len(buf) < 6 or len(buf) < 6 + int.from_bytes(buf[2:6], "big"):
        chunk = s.recv(65536)
        if not chunk: sys.exit(1)
        buf += chunk
    n = int.from_bytes(buf[2:6], "big"); t = buf[1]; body = buf[6:6 + n]; buf = buf[6 + n:]
    if t == 19:
        p = json.loads(body)
        if p["seq"] in seen: continue
        seen.add(p["seq"])
        t0 = time.time()
        send(2, {"seq": p["seq"]})
        print(p["seq"], repr(t0), flush=True)
        done += 1
'''


def main():
    args = [a for a in sys.argv[1:] if a != "--tmpfs"]
    build = args[0] if len(args) > 0 else "build"
    count = int(args[1]) if len(args) > 1 else 200
    bed = Bed(build, recordings_kb=262144 if "--tmpfs" in sys.argv else None)
    log = os.path.join("/home", TARGET_USER, "approval-latency.log")
    if os.path.exists(log):
        os.unlink(log)
    t = Term(bed.ssh_argv(tty=True) + ["db01"])
    try:
        t.expect(r"\$ $")
        sid = [f[:-5] for f in os.listdir(bed.sessions) if f.endswith(".sock")][0]
        esc = subprocess.Popen(["/usr/bin/python3", "-c", ESCORT,
                                os.path.join(bed.sessions, sid + ".sock"), str(count + 1)],
                               user=pwd.getpwnam("escort").pw_uid,
                               group=pwd.getpwnam("escort").pw_gid, extra_groups=[], stdout=subprocess.PIPE,
                               text=True)
        script = os.path.join("/home", TARGET_USER, "approval-latency.py")
        with open(script, "w") as f:
            f.write("import sys, time\n"
                    f"out = open({log!r}, 'a')\n"
                    "for line in sys.stdin:\n"
                    "    out.write('%r %s\\n' % (time.time(), line.strip()))\n"
                    "    out.flush()\n")
        os.chmod(script, 0o644)
        reader = f"python3 -u {script}"
        t.send(reader + "\r")
        approvals = {}
        seq, t0 = esc.stdout.readline().split()
        time.sleep(0.5)
        for i in range(count):
            t.send(f"line-{i}\r")
            seq, t0 = esc.stdout.readline().split()
            approvals[f"line-{i}"] = float(t0)
            deadline = time.time() + 5
            while time.time() < deadline:
                with open(log) as f:
                    if f"line-{i}" in f.read():
                        break
                time.sleep(0.002)
        arrived = {}
        with open(log) as f:
            for row in f:
                ts, name = row.split()
                arrived[name] = float(ts)
        lat = sorted((arrived[k] - approvals[k]) * 1000 for k in approvals if k in arrived)
        t.send("\x03")
        esc.kill()
        base = direct_baseline(bed, reader, log, count)
        q = lambda xs, f: xs[min(len(xs) - 1, int(f * len(xs)))]
        result = {"samples": len(lat)}
        for name, f in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99)):
            result[name + "_ms"] = round(q(lat, f), 3)
            result["direct_" + name + "_ms"] = round(q(base, f), 3)
            result["added_" + name + "_ms"] = round(q(lat, f) - q(base, f), 3)
        result["max_ms"] = round(lat[-1], 3)
        result["mean_ms"] = round(statistics.mean(lat), 3)
        print(json.dumps(result))
    finally:
        t.close()
        bed.stop()


def direct_baseline(bed, reader, log, count):
    """Typed -> arrival for the same reader over plain ssh to the target."""
    if os.path.exists(log):
        os.unlink(log)
    argv = ["ssh", "-tt", "-i", bed.identity, "-p", str(bed.target.port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", f"{TARGET_USER}@127.0.0.1"]
    t = Term(argv)
    sent = {}
    try:
        t.expect(r"\$ $")
        t.send(reader + "\r")
        time.sleep(0.5)
        for i in range(count):
            name = f"base-{i}"
            sent[name] = time.time()
            t.send(name + "\r")
            deadline = time.time() + 5
            while time.time() < deadline:
                with open(log) as f:
                    if name in f.read():
                        break
                time.sleep(0.002)
        t.send("\x03")
    finally:
        t.close()
    arrived = {}
    with open(log) as f:
        for row in f:
            ts, name = row.split()
            arrived[name] = float(ts)
    return sorted((arrived[k] - sent[k]) * 1000 for k in sent if k in arrived)


main()
