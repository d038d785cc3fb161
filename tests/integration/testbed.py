"""tandem's test bed: a real target sshd and a real bastion sshd on loopback.

Run as root.  It creates the accounts tandem needs (idempotently), starts an
OpenSSH target and bastion on free 127.0.0.1 ports with their own configs and
host keys, renders a policy and the bastion's authorized_keys with
tandem-policy, and drives the real ssh client through real PTYs.  Everything
it starts is stopped by PID; everything it writes lives in one temp dir.
"""

import errno
import fcntl
import grp
import json
import os
import pty
import pwd
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET_USER = "tandemtgt"


def run(argv, **kw):
    kw.setdefault("check", True)
    return subprocess.run(argv, **kw)


def target_file(name):
    """A path in the target account's home where no file is yet."""
    path = os.path.join("/home", TARGET_USER, name)
    if os.path.exists(path):
        os.unlink(path)
    return path


def one_line_commands():
    """The command lines of tests/data/commands.tsv an engineer types as
    one line: printable ASCII without the table's escapes, quotes and
    brackets closed, no here-document and no trailing operator (a line
    left open waits for the next)."""
    out = []
    with open(os.path.join(ROOT, "tests", "data", "commands.tsv")) as f:
        for row in f:
            if row.startswith("#") or "\t" not in row:
                continue
            cmd = row.split("\t")[1]
            if "\\" in cmd or not all(32 <= ord(c) < 127 for c in cmd):
                continue
            try:
                shlex.split(cmd)
            except ValueError:
                continue
            if "<<" in cmd or cmd.rstrip().endswith(("|", "&&", "||", "&", "(")):
                continue
            if cmd.count("(") != cmd.count(")") or cmd.count("{") != cmd.count("}") \
                    or cmd.count("`") % 2:
                continue
            out.append(cmd)
    return out


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_group(name):
    try:
        grp.getgrnam(name)
    except KeyError:
        run(["groupadd", "--system", name])


def ensure_user(name, home, groups=()):
    try:
        pwd.getpwnam(name)
    except KeyError:
        run(["useradd", "--system", "--create-home", "--home-dir", home,
             "--shell", "/bin/sh", name])
    # sshd without PAM refuses accounts whose password starts with '!'.
    run(["usermod", "-p", "*", "-s", "/bin/sh", name])
    for g in groups:
        run(["usermod", "-a", "-G", g, name])


def ensure_accounts():
    ensure_group("tandem-audit")
    ensure_user("tandem", "/var/lib/tandem-home")
    ensure_user("escort", "/var/lib/tandem-escort-home")
    ensure_user(TARGET_USER, "/home/" + TARGET_USER)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)


def keygen(path, comment="tandem-test"):
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
         "-f", path], stdout=subprocess.DEVNULL)
    with open(path + ".pub") as f:
        return f.read().strip()


def pubkey_body(line):
    """'TYPE BASE64 COMMENT' -> 'TYPE BASE64'."""
    return " ".join(line.split()[:2])


# Terminals, panes and processes a test opened and has not closed.  A
# test that fails half-way leaves its engineer connected; the runners
# close what each test left (Result), so the next test does not meet
# that session in the escort's list.
OPEN = []


def track(proc):
    """Registers a Popen for closing if the test leaves it running."""
    OPEN.append(proc)
    return proc


def close_leftover(obj):
    if isinstance(obj, subprocess.Popen):
        if obj in OPEN:
            OPEN.remove(obj)
        if obj.poll() is None:
            obj.kill()
            obj.wait()
    else:
        obj.close()


class Result(unittest.TextTestResult):
    """Closes what each test opened and left open (setUpClass's own
    terminals, opened before the first test starts, are left alone)."""

    def startTest(self, test):
        self.before = list(OPEN)
        super().startTest(test)

    def stopTest(self, test):
        for obj in [o for o in OPEN if all(o is not b for b in self.before)]:
            try:
                close_leftover(obj)
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                self.stream.write(f"closing what the test left: {e}\n")
        super().stopTest(test)


class Sshd:
    def __init__(self, bed, name, config, loglevel="VERBOSE"):
        self.bed = bed
        self.name = name
        self.port = free_port()
        self.cfg = os.path.join(bed.dir, name + "_sshd_config")
        self.log = os.path.join(bed.dir, name + "_sshd.log")
        self.pidfile = os.path.join(bed.dir, name + "_sshd.pid")
        self.hostkey = os.path.join(bed.dir, name + "_host_ed25519")
        self.hostpub = keygen(self.hostkey, name + "-host")
        with open(self.cfg, "w") as f:
            f.write(f"Port {self.port}\nListenAddress 127.0.0.1\n"
                    f"HostKey {self.hostkey}\nPidFile {self.pidfile}\n"
                    "UsePAM no\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\n"
                    "PubkeyAuthentication yes\n"
                    f"StrictModes no\nLogLevel {loglevel}\nPrintMotd no\n"
                    "PrintLastLog no\n" + config)
        self.proc = None

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", self.cfg],
                                     stdout=logf, stderr=logf)
        logf.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} sshd exited: " + open(self.log).read())
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} sshd did not listen on {self.port}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Bed:
    """A target, a bastion, a policy and the keys of alice (engineer)."""

    def __init__(self, build="build", policy_extra="", flush="200ms",
                 recordings_kb=None, approval_timeout="30s", raw_limit="10m",
                 idle_timeout="15m", target_config="", target_loglevel="VERBOSE"):
        ensure_accounts()
        self.dir = tempfile.mkdtemp(prefix="tandem-bed-")
        os.chmod(self.dir, 0o755)
        self.bin = os.path.join(self.dir, "bin")
        shutil.copytree(os.path.join(ROOT, build, "bin"), self.bin)
        os.chmod(self.bin, 0o755)
        tandem = pwd.getpwnam("tandem")
        escort = pwd.getpwnam("escort")
        audit = grp.getgrnam("tandem-audit").gr_gid

        self.recordings = os.path.join(self.dir, "recordings")
        os.mkdir(self.recordings)
        os.chown(self.recordings, tandem.pw_uid, audit)
        os.chmod(self.recordings, 0o2750)
        self.mounted = False
        if recordings_kb:
            # A small filesystem of its own, to fill up on purpose.
            run(["mount", "-t", "tmpfs", "-o",
                 f"size={recordings_kb}k,mode=2750,uid={tandem.pw_uid},gid={audit}",
                 "tmpfs", self.recordings])
            self.mounted = True
        self.sessions = os.path.join(self.dir, "sessions")
        os.mkdir(self.sessions)
        os.chown(self.sessions, tandem.pw_uid, escort.pw_gid)
        os.chmod(self.sessions, 0o2750)

        keys = os.path.join(self.dir, "keys")
        os.mkdir(keys)
        os.chmod(keys, 0o750)
        os.chown(keys, 0, tandem.pw_gid)
        self.identity = os.path.join(keys, "db01")
        self.identity_pub = keygen(self.identity, "bastion-to-db01")
        os.chown(self.identity, tandem.pw_uid, tandem.pw_gid)
        os.chmod(self.identity, 0o600)

        # The bastion's signing key: it seals every recording.
        self.signing_key = os.path.join(keys, "signing_ed25519")
        self.signing_pub = keygen(self.signing_key, "bastion-signing")
        os.chown(self.signing_key, tandem.pw_uid, tandem.pw_gid)
        os.chmod(self.signing_key, 0o600)

        self.users = {}
        for name in ("alice", "bob", "mallory", "carol", "carol-escort", "dave"):
            path = os.path.join(self.dir, name + "_ed25519")
            self.users[name] = (path, keygen(path, name + "@test"))

        self.target = Sshd(self, "target", f"AllowUsers {TARGET_USER}\n"
                           f"AuthorizedKeysFile {self.dir}/target_authorized_keys\n"
                           "Subsystem sftp internal-sftp\n" + target_config,
                           loglevel=target_loglevel)
        with open(os.path.join(self.dir, "target_authorized_keys"), "w") as f:
            f.write(self.identity_pub + "\n")
        other = keygen(os.path.join(self.dir, "impostor_host_ed25519"), "impostor")

        self.bastion = Sshd(self, "bastion",
                            "AllowUsers tandem escort\n"
                            f"AuthorizedKeysFile {self.dir}/authkeys/%u\n"
                            "PermitUserEnvironment no\n"
                            "Subsystem sftp internal-sftp\n"
                            # The shipped snippet, exactly as installed.
                            f"Include {ROOT}/systemd/tandem-sshd.conf\n")

        self.policy = os.path.join(self.dir, "policy.conf")
        tp = self.target.port
        with open(self.policy, "w") as f:
            f.write(f"""# tandem test bed policy
recordings        {self.recordings}
sessions          {self.sessions}
signing-key       {self.signing_key}
escort-user       escort
approval-timeout  {approval_timeout}
idle-timeout      {idle_timeout}
flush-interval    {flush}

engineer alice
    key      {self.users['alice'][1]}
    attr     country=US clearance=secret
    targets  db01 db02 web-*

engineer mallory
    key      {self.users['mallory'][1]}
    attr     country=XX
    targets  db01 web-1

engineer carol
    key      {self.users['carol'][1]}
    attr     clearance=secret
    targets  db01

escort bob
    key      {self.users['bob'][1]}
    attr     citizen=US clearance=secret
    targets  db01 web-*

# carol may also escort, but never her own sessions (four-eyes)
escort carol
    key      {self.users['carol-escort'][1]}
    attr     citizen=US
    targets  db01

# dave may escort db01 by his targets, but db01 requires citizen=US
escort dave
    key      {self.users['dave'][1]}
    attr     citizen=XX
    targets  db01

target db01
    address      127.0.0.1
    port         {tp}
    user         {TARGET_USER}
    host-key     {pubkey_body(self.target.hostpub)}
    identity     {self.identity}
    require      engineer clearance=secret
    require      escort citizen=US
    interactive  vim less top
    raw-limit    10m

target db02
    address      127.0.0.1
    port         {tp}
    user         {TARGET_USER}
    host-key     {pubkey_body(other)}
    identity     {self.identity}

target web-1
    address      127.0.0.1
    port         {tp}
    user         {TARGET_USER}
    host-key     {pubkey_body(self.target.hostpub)}
    identity     {self.identity}
    interactive  cat less
    raw-limit    {raw_limit}

target db03
    address      127.0.0.1
    port         {tp}
    user         {TARGET_USER}
    host-key     {pubkey_body(self.target.hostpub)}
    identity     {self.identity}
{policy_extra}""")
        os.chmod(self.policy, 0o644)
        self.render_authorized_keys()

        self.known_hosts = os.path.join(self.dir, "known_hosts")
        with open(self.known_hosts, "w") as f:
            f.write(f"[127.0.0.1]:{self.bastion.port} {pubkey_body(self.bastion.hostpub)}\n")
        self.target.start()
        self.bastion.start()

    def render_authorized_keys(self):
        auth = os.path.join(self.dir, "authkeys")
        os.makedirs(auth, exist_ok=True)
        os.chmod(auth, 0o755)
        for role, user in (("engineers", "tandem"), ("escorts", "escort")):
            out = run([os.path.join(self.bin, "tandem-policy"), "--config",
                       self.policy, "authorized-keys", role],
                      stdout=subprocess.PIPE, text=True).stdout
            path = os.path.join(auth, user)
            with open(path, "w") as f:
                f.write(out)
            os.chmod(path, 0o644)

    def ssh_argv(self, who="alice", user="tandem", tty=False, extra=()):
        key = self.users[who][0]
        argv = ["ssh", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                "-o", "LogLevel=ERROR", "-p", str(self.bastion.port)]
        argv += ["-tt"] if tty else ["-T"]
        argv += list(extra)
        argv.append(f"{user}@127.0.0.1")
        return argv

    def recorder_pids(self):
        """The recorders of this test bed (not their socket reapers)."""
        out = subprocess.run(["pgrep", "-u", "tandem", "-f", self.bin + "/tandem-recorder"],
                             stdout=subprocess.PIPE, text=True).stdout.split()
        pids = []
        for pid in out:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "tandem-recorder":
                        pids.append(pid)
            except OSError:
                pass
        return pids

    def shell(self, who="alice", target="db01", unwatched=False):
        """An engineer's interactive session, waiting at the target's prompt;
        unwatched: the bastion first says that no escort is attached."""
        t = Term(self.ssh_argv(who=who, tty=True) + [target])
        if unwatched:
            t.expect(r"no escort attached")
        t.expect(r"\$ $")
        return t

    def ssh(self, *command, who="alice", stdin=None, timeout=120, **kw):
        """Non-interactive: ssh tandem@bastion COMMAND…; returns CompletedProcess."""
        return subprocess.run(self.ssh_argv(who) + list(command), stdin=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, **kw)

    def escort(self, *args, who="bob", timeout=60, input=None):
        """ssh escort@bastion ARGS… as escort `who`; returns CompletedProcess."""
        # One shell-quoted string, as a person types it: the escort's
        # forced command splits SSH_ORIGINAL_COMMAND like shell words.
        import shlex
        return subprocess.run(self.ssh_argv(who, user="escort") + [shlex.join(args)],
                              input=input, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)

    def pending(self, wait=20, who="bob"):
        """The pending commands an escort sees (pending --json --wait)."""
        p = self.escort("pending", "--json", "--wait", str(wait), who=who)
        if p.returncode != 0:
            raise AssertionError(f"pending failed: {p.stderr!r}")
        return [json.loads(l) for l in p.stdout.decode().split("\n") if l.strip()]

    def pending_with_stdin(self, timeout=20, who="bob"):
        """The pending commands once the first one's stdin has all come
        (its stdin_complete); what there is when timeout runs out."""
        deadline = time.time() + timeout
        items = []
        while time.time() < deadline:
            items = self.pending(wait=2, who=who)
            if items and items[0].get("stdin_complete"):
                break
        return items

    def decide_next(self, verb="approve", who="bob", wait=20, reason=None, expect=None):
        """Waits for a pending command and approves (or denies) it."""
        deadline = time.time() + wait
        while True:
            items = self.pending(wait=max(1, int(deadline - time.time())), who=who)
            if expect is not None:
                items = [i for i in items if i["command"] == expect]
            if items or time.time() >= deadline:
                break
            time.sleep(0.1)
        if not items:
            raise AssertionError("no pending command appeared")
        item = items[0]
        args = [verb, item["session"], str(item["seq"])]
        if reason is not None:
            args += ["--reason", reason]
        p = self.escort(*args, who=who)
        if p.returncode != 0:
            raise AssertionError(f"{verb} failed: {p.stderr!r}")
        return item

    def ssh_approved(self, *command, who="alice", input=None, stdin=None, timeout=600,
                     verb="approve"):
        """ssh tandem@bastion TARGET COMMAND, approved by escort bob (the
        first decision is verb; every later part of its stdin is approved)."""
        import threading
        proc = subprocess.Popen(self.ssh_argv(who) + list(command),
                                stdin=stdin if stdin is not None else subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        result = {}

        def talk():
            out, err = proc.communicate(input=input if stdin is None else None,
                                        timeout=timeout)
            result["out"], result["err"] = out, err

        t = threading.Thread(target=talk)
        t.start()
        try:
            item = self.decide_next(verb)
            # Stdin that came after the command was cut is asked for in
            # parts of its own; the escort approves each as it comes.
            while t.is_alive():
                for more in self.pending(wait=1):
                    if more["session"] == item["session"]:
                        self.escort("approve", more["session"], str(more["seq"]))
        except BaseException:
            proc.kill()
            t.join()
            raise
        t.join()
        cp = subprocess.CompletedProcess(proc.args, proc.returncode,
                                         result.get("out", b""), result.get("err", b""))
        cp.pending = item
        return cp

    def recordings_now(self):
        out = set()
        for root, _dirs, files in os.walk(self.recordings):
            for f in files:
                out.add(os.path.join(root, f))
        return out

    def new_recording(self, before, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            new = self.recordings_now() - before
            if new:
                assert len(new) == 1, new
                return new.pop()
            time.sleep(0.05)
        raise AssertionError("no new recording appeared")

    def stop(self):
        self.bastion.stop()
        self.target.stop()
        # Sessions left behind by a failed test end with their sshd.
        subprocess.run(["pkill", "-KILL", "-u", "tandem", "-f", self.bin],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.mounted:
            subprocess.run(["umount", self.recordings])
        if os.environ.get("TANDEM_KEEP_BED"):
            print("test bed kept in", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Recording:
    """A decoded recording: header and events."""

    def __init__(self, path, allow_truncated=False):
        self.path = path
        p = subprocess.run(["zstd", "-dcq", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if p.returncode != 0 and not allow_truncated:
            raise AssertionError(f"zstd -dc {path}: {p.stderr.decode()}")
        self.zstd_rc = p.returncode
        self.text = p.stdout
        lines = p.stdout.split(b"\n")
        self.header = json.loads(lines[0])
        self.events = [json.loads(l) for l in lines[1:] if l.strip()]

    def stream(self, code):
        """Exact bytes of the o or i stream, using x events where present."""
        import base64
        out = []
        evs = self.events
        i = 0
        while i < len(evs):
            e = evs[i]
            if e[1] == code:
                if i + 1 < len(evs) and evs[i + 1][1] == "x":
                    out.append(base64.b64decode(evs[i + 1][2]))
                    i += 2
                    continue
                out.append(e[2].encode("utf-8"))
            i += 1
        return b"".join(out)

    def markers(self):
        return [e[2] for e in self.events if e[1] == "m"]


class Tmux:
    """A program in a detached tmux pane: keys in, screen out, as a person.

    Each pane has a tmux server of its own: a server still shutting down
    after the last test's kill-server would refuse the next pane."""

    count = 0

    def __init__(self, command, cols=120, rows=40):
        Tmux.count += 1
        self.sock = f"tandem-test-{os.getpid()}-{Tmux.count}"
        self.name = "s%d" % Tmux.count
        self.closed = False
        p = subprocess.run(["tmux", "-L", self.sock, "new-session", "-d", "-s",
                            self.name, "-x", str(cols), "-y", str(rows), command],
                           env=dict(os.environ, TERM="xterm-256color"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            self.close()
            raise AssertionError(f"tmux new-session failed ({p.returncode}): "
                                 f"{p.stdout.strip()}")
        OPEN.append(self)

    def keys(self, text, enter=False):
        run(["tmux", "-L", self.sock, "send-keys", "-t", self.name, "-l", text])
        if enter:
            run(["tmux", "-L", self.sock, "send-keys", "-t", self.name, "Enter"])

    def screen(self):
        return run(["tmux", "-L", self.sock, "capture-pane", "-p", "-t", self.name],
                   stdout=subprocess.PIPE, text=True).stdout

    def wait_for(self, pattern, timeout=15):
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.screen()
            if rx.search(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"screen never showed {pattern!r}:\n{self.screen()}")

    def close(self):
        if self in OPEN:
            OPEN.remove(self)
        if self.closed:
            return
        self.closed = True
        subprocess.run(["tmux", "-L", self.sock, "kill-server"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def asciinema_cat(path):
    """zstd -dc PATH | asciinema cat -, with the terminal asciinema insists on."""
    master, slave = pty.openpty()

    def ctty():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    try:
        return subprocess.run(f"zstd -dcq '{path}' | asciinema cat -", shell=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, preexec_fn=ctty,
                              pass_fds=(slave,), timeout=120)
    finally:
        os.close(master)
        os.close(slave)


class Term:
    """A program on a real PTY, driven as a person would.

    A reader thread drains the terminal all the time, as a real terminal
    does; otherwise a program that prints a lot while the test waits would
    block on its full terminal and stop reading keys."""

    def __init__(self, argv, cols=80, rows=24, env=None):
        import threading
        self.master, slave = pty.openpty()
        self.resize(cols, rows, fd=slave)
        e = dict(os.environ)
        e["TERM"] = "xterm-256color"
        if env:
            e.update(env)
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, env=e,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        # A bytearray: a flood of small reads appends in place, where
        # bytes would be copied whole for each.
        self.out = bytearray()
        self.eof = False
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()
        OPEN.append(self)

    def _pump(self):
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                chunk = b""
            with self.cond:
                if not chunk:
                    self.eof = True
                    self.cond.notify_all()
                    return
                self.out += chunk
                self.cond.notify_all()

    def resize(self, cols, rows, fd=None):
        fcntl.ioctl(self.master if fd is None else fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))
        if fd is None:
            os.killpg(self.proc.pid, signal.SIGWINCH)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        os.write(self.master, data)

    def expect(self, pattern, timeout=15):
        """Waits until the output so far matches pattern (bytes regex)."""
        if isinstance(pattern, str):
            pattern = pattern.encode()
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        searched = 0
        with self.cond:
            while True:
                # All of it once, then what came since (and the 64 KiB
                # before, for a match across the reads): searching all
                # of a flood at every read was quadratic, and a test
                # waiting for the end of 20 MB timed out.
                m = rx.search(self.out, max(0, searched - 65536))
                if m:
                    return m
                searched = len(self.out)
                left = deadline - time.time()
                if left <= 0 or self.eof:
                    raise AssertionError(f"expected {pattern!r}; screen so far: "
                                         f"{self.out[-2000:]!r}")
                self.cond.wait(min(left, 0.5))

    def drain(self, seconds=0.2):
        time.sleep(seconds)

    def wait(self, timeout=15):
        try:
            return self.proc.wait(timeout)
        finally:
            self.reader.join(2)

    def close(self):
        if self in OPEN:
            OPEN.remove(self)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(2)
        if self.master >= 0:
            # Once: a second close could hit a descriptor since reused.
            os.close(self.master)
            self.master = -1
