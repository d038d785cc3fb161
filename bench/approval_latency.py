"""Approval -> target latency: how long after an escort approves a line do its
bytes reach the program on the target?  Loopback target and bastion from the
test bed; the escort is a process of the escort account speaking the session
protocol directly (no ssh hop, so only tandem's own work is measured: the
decision is recorded and fdatasync'ed, then the line is sent).

usage: python3 bench/approval_latency.py [BUILD] [COUNT]
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
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    bed = Bed(build)
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
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
        print(json.dumps({"samples": len(lat), "p50_ms": round(p(0.50), 3),
                          "p90_ms": round(p(0.90), 3), "p99_ms": round(p(0.99), 3),
                          "max_ms": round(lat[-1], 3), "mean_ms": round(statistics.mean(lat), 3)}))
        t.send("\x03")
        esc.kill()
    finally:
        t.close()
        bed.stop()


main()
