"""Realistic terminal text for the bulk-output benchmark.

usage: python3 bench/gen_text.py BYTES [--seed N] > FILE

Writes exactly BYTES bytes of what an engineer's terminal shows on a busy
day, in runs of a few hundred lines each: syslog and web-server logs with
timestamps, addresses and request paths that keep changing; `find`- and
`ls -l`-like listings of this machine's real /usr tree; and compiler output
as gcc prints it with colours on (escape sequences and UTF-8 quotes), with
make's progress lines between.  The same BYTES and seed give the same bytes
on the same machine (the listings follow its /usr).  No carriage returns:
the benchmark compares what arrives through a PTY (LF -> CR LF) with the
file.
"""
import os
import random
import sys
import zlib

HOSTS = ["web-01", "web-02", "db01", "cache01", "mq01", "build01"]
DAEMONS = ["nginx", "sshd", "systemd", "kernel", "cron", "postgres",
           "dockerd", "containerd", "kubelet", "rsyslogd", "haproxy"]
METHODS = ["GET"] * 8 + ["POST"] * 3 + ["PUT", "DELETE", "HEAD"]
STATUS = [200] * 20 + [201, 204, 301, 302, 304, 400, 401, 403, 404, 404,
                       500, 502, 503]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
          "curl/7.88.1", "python-requests/2.28.1", "Go-http-client/1.1",
          "kube-probe/1.27", "Prometheus/2.42.0",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15"]
WORDS = ("order user cart invoice session token report export import sync "
         "health metrics status config node pod volume queue job batch "
         "account item price stock shipment search index cache").split()
SYSMSG = [
    "Started Session {n} of User {u}.",
    "Accepted publickey for {u} from 10.{a}.{b}.{c} port {p} ssh2: ED25519 SHA256:{h}",
    "pam_unix(sshd:session): session opened for user {u}(uid={n}) by (uid=0)",
    "Connection closed by authenticating user {u} 10.{a}.{b}.{c} port {p} [preauth]",
    "{w}.service: Deactivated successfully.",
    "{w}.service: Consumed {f}s CPU time.",
    "TCP: request_sock_TCP: Possible SYN flooding on port {p}. Sending cookies.",
    "EXT4-fs (dm-{a}): mounted filesystem with ordered data mode. Quota mode: none.",
    "checkpoint complete: wrote {n} buffers ({f}%); 0 WAL file(s) added, "
    "{a} removed, {b} recycled; write={f} s, sync={f} s, total={f} s",
    "({u}) CMD (/usr/lib/{w}/{w}-cron --quiet >/dev/null 2>&1)",
    "level=info ts={t} caller={w}.go:{n} msg=\"reconcile {w}\" duration={f}ms",
    "audit: type=1400 audit({t}:{n}): apparmor=\"DENIED\" operation=\"open\" "
    "profile=\"{w}\" name=\"/proc/{n}/status\" pid={n} comm=\"{w}\"",
]
USERS = ["alice", "bob", "deploy", "root", "postgres", "www-data", "ci"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec"]
SRC_DIRS = ["src/net", "src/core", "src/storage", "lib/util", "drivers/gpu",
            "src/http", "tests/unit", "third_party/zlib"]
WARNINGS = [
    ("unused variable \u2018{v}\u2019", "-Wunused-variable"),
    ("comparison of integer expressions of different signedness: "
     "\u2018int\u2019 and \u2018size_t\u2019 {{aka \u2018long unsigned int\u2019}}",
     "-Wsign-compare"),
    ("implicit conversion from \u2018long int\u2019 to \u2018int\u2019 may "
     "change value", "-Wconversion"),
    ("\u2018{v}\u2019 may be used uninitialized", "-Wmaybe-uninitialized"),
    ("passing argument {n} of \u2018{v}_init\u2019 discards \u2018const\u2019 "
     "qualifier from pointer target type", "-Wdiscarded-qualifiers"),
]
CODE = ["int {v} = {v}_compute(ctx, len);",
        "if ({v} < n && buf[{v}] != '\\0')",
        "for (size_t i = 0; i < {v}->count; i++) {{",
        "return {v}_init(&state, opts, flags);",
        "memcpy(out + off, {v}, len);"]


def paths():
    """This machine's /usr, sorted, with sizes: what `find` would list."""
    out = []
    for root, dirs, files in os.walk("/usr"):
        dirs.sort()
        for name in sorted(files) + dirs:
            p = os.path.join(root, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            out.append((p, st.st_size, st.st_mode))
            if len(out) >= 200000:
                return out
    return out


def mode_str(mode):
    kind = "d" if (mode & 0o170000) == 0o040000 else (
        "l" if (mode & 0o170000) == 0o120000 else "-")
    bits = ""
    for shift in (6, 3, 0):
        m = (mode >> shift) & 7
        bits += ("r" if m & 4 else "-") + ("w" if m & 2 else "-") + \
            ("x" if m & 1 else "-")
    return kind + bits


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.t = 1718323200  # 2024-06-14, advances with each log line
        self.paths = paths() or [("/usr/bin/true", 1234, 0o100755)]
        self.pi = 0

    def stamp(self):
        self.t += self.r.random() < 0.3
        sec = self.t % 86400
        day = 14 + (self.t - 1718323200) // 86400
        return "%s %2d %02d:%02d:%02d" % (MONTHS[5], day % 28 + 1, sec // 3600,
                                           sec // 60 % 60, sec % 60)

    def fill(self, fmt):
        r = self.r
        return fmt.format(n=r.randrange(1, 99999), u=r.choice(USERS),
                          a=r.randrange(256), b=r.randrange(256),
                          c=r.randrange(256), p=r.randrange(1024, 65535),
                          h="%032x" % r.getrandbits(128),
                          w=r.choice(WORDS), f="%.3f" % (r.random() * 100),
                          t=self.t, v=r.choice(WORDS))

    def syslog(self, lines):
        r = self.r
        out = []
        for _ in range(lines):
            host, daemon = r.choice(HOSTS), r.choice(DAEMONS)
            if daemon in ("nginx", "haproxy"):
                path = "/api/v%d/%s/%d" % (r.randrange(1, 4), r.choice(WORDS),
                                           r.randrange(100000))
                if r.random() < 0.3:
                    path += "?page=%d&limit=%d" % (r.randrange(50), r.choice((20, 50, 100)))
                out.append('%s %s %s[%d]: 10.%d.%d.%d - - [%d/Jun/2024:%s +0000] '
                           '"%s %s HTTP/1.1" %d %d "-" "%s" rt=%.3f\n' % (
                               self.stamp(), host, daemon, r.randrange(300, 9000),
                               r.randrange(256), r.randrange(256), r.randrange(256),
                               14, self.stamp()[7:], r.choice(METHODS), path,
                               r.choice(STATUS), r.randrange(0, 90000),
                               r.choice(AGENTS), r.random()))
            else:
                out.append("%s %s %s[%d]: %s\n" % (self.stamp(), host, daemon,
                                                   r.randrange(1, 40000),
                                                   self.fill(r.choice(SYSMSG))))
        return "".join(out)

    def listing(self, lines):
        r = self.r
        long_form = r.random() < 0.5
        out = []
        for _ in range(lines):
            p, size, mode = self.paths[self.pi % len(self.paths)]
            self.pi += 1
            if long_form:
                out.append("%10d %6d %s %3d %-8s %-8s %10d %s %s\n" % (
                    (zlib.crc32(p.encode()) & 0xffffff) + 1000, (size + 1023) // 1024,
                    mode_str(mode), 1 + r.randrange(3), "root", "root", size,
                    "Jun %2d %02d:%02d" % (r.randrange(1, 29), r.randrange(24),
                                           r.randrange(60)), p))
            else:
                out.append(p + "\n")
        return "".join(out)

    def compiler(self, lines):
        r = self.r
        out = []
        n = 0
        while n < lines:
            d = r.choice(SRC_DIRS)
            f = "%s/%s_%s.c" % (d, r.choice(WORDS), r.choice(WORDS))
            if r.random() < 0.6:
                out.append("  CC      %s\n" % f[:-2] + ".o")
                n += 1
                continue
            line, col = r.randrange(1, 3000), r.randrange(1, 60)
            msg, opt = r.choice(WARNINGS)
            code = self.fill(r.choice(CODE))
            out.append("\x1b[01m\x1b[K%s:%d:%d:\x1b[m\x1b[K \x1b[01;35m\x1b[K"
                       "warning: \x1b[m\x1b[K%s [\x1b[01;35m\x1b[K%s\x1b[m\x1b[K]\n"
                       "%5d | %s\n      | %s\x1b[01;35m\x1b[K^~~~\x1b[m\x1b[K\n" % (
                           f, line, col, self.fill(msg), opt, line, code,
                           " " * min(col, len(code))))
            n += 3
        if r.random() < 0.2:
            out.append("make[2]: *** [Makefile:%d: %s.o] Error 1\n" % (
                r.randrange(100, 900), r.choice(WORDS)))
        return "".join(out)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: gen_text.py BYTES [--seed N]")
    total = int(sys.argv[1])
    seed = 1
    if "--seed" in sys.argv:
        seed = int(sys.argv[sys.argv.index("--seed") + 1])
    g = Gen(seed)
    kinds = [g.syslog, g.syslog, g.listing, g.compiler]
    out = sys.stdout.buffer
    left = total
    while left > 0:
        block = g.r.choice(kinds)(g.r.randrange(50, 400)).encode()
        if len(block) > left:
            block = block[:left - 1] + b"\n" if left > 1 else b"\n"
        out.write(block)
        left -= len(block)
    out.flush()


main()
