"""The escort gate, through a real bastion sshd, with real ssh clients."""
import base64
import json
import os
import socket
import subprocess
import time
import unittest

from testbed import Bed, Recording, Term, Tmux, TARGET_USER, target_file

bed = None


def setUpModule():
    global bed
    bed = Bed(os.environ.get("TANDEM_BUILD", "build"))


def tearDownModule():
    if bed:
        bed.stop()


def end(t):
    t.send("exit\r")
    bed.decide_next()
    t.wait()
    t.close()


def current_session():
    socks = [f[:-5] for f in os.listdir(bed.sessions) if f.endswith(".sock")]
    assert len(socks) == 1, socks
    return socks[0]


# An escort on the raw session socket that attaches, then until told to on
# stdin reads 16 KiB every half second ("slow") or nothing ("hung"); then it
# reads what came, kills the session and prints what it saw as one JSON
# object.
SLOW_ESCORT = r"""
import json, select, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
buf, pos = bytearray(), 0


def send(kind, obj):
    b = json.dumps(obj).encode()
    s.sendall(bytes([1, kind]) + struct.pack(">I", len(b)) + b)


def message(timeout):
    global buf, pos
    s.settimeout(timeout)
    while True:
        if len(buf) - pos >= 6:
            n = struct.unpack(">I", buf[pos + 2:pos + 6])[0]
            if len(buf) - pos >= 6 + n:
                kind, body = buf[pos + 1], bytes(buf[pos + 6:pos + 6 + n])
                pos += 6 + n
                if pos > (1 << 20):
                    del buf[:pos]
                    pos = 0
                return kind, body
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            return None
        if not chunk:
            return "eof"
        buf += chunk


send(1, {"escort": "bob"})
attach_screen = 0
while True:
    kind, body = message(30)
    if kind == 17:
        attach_screen += len(body)
    if kind == 21:
        break
print("synced", flush=True)
while not select.select([sys.stdin], [], [], 0.5)[0]:
    if sys.argv[2] == "slow":
        s.settimeout(0)
        try:
            buf += s.recv(16384)
        except BlockingIOError:
            pass
sys.stdin.readline()
seen, output, skipped, screen = [], 0, 0, b""
while True:
    m = message(3)
    if m is None or m == "eof":
        seen.append(m or "quiet")
        break
    kind, body = m
    if kind == 18:
        output += len(body)
        if not seen or seen[-1] != "output":
            seen.append("output")
    elif kind == 26:
        skipped += json.loads(body)["bytes"]
        seen.append("skipped")
    elif kind == 17:
        screen = body
        seen.append("screen")
ended = False
try:
    send(4, {"reason": "flood test"})
except OSError:
    pass
while True:
    try:
        m = message(15)
    except OSError:
        break
    if m is None or m == "eof":
        break
    if m[0] == 24:
        ended = True
        break
print(json.dumps({"seen": seen, "attach_screen": attach_screen,
                  "output": output, "skipped": skipped, "ended": ended,
                  "screen": screen.decode("utf-8", "replace")}))
"""


def slow_escort(mode):
    """SLOW_ESCORT attached to the one live session, as the escort account."""
    import pwd
    path = os.path.join(bed.sessions, current_session() + ".sock")
    pw = pwd.getpwnam("escort")
    probe = subprocess.Popen(["/usr/bin/python3", "-c", SLOW_ESCORT, path, mode],
                             user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    if probe.stdout.readline().strip() != b"synced":
        probe.kill()
        raise AssertionError("the escort probe did not attach: " +
                             probe.stderr.read().decode(errors="replace"))
    return probe


class Gate(unittest.TestCase):
    def test_nothing_typed_reaches_target_before_approval(self):
        m = target_file("gate-unapproved")
        t = bed.shell(unwatched=True)
        try:
            t.send(f"touch {m}\r")
            t.expect(r"#1 waiting for escort")
            time.sleep(1.0)
            self.assertFalse(os.path.exists(m))
            item = bed.decide_next()
            self.assertEqual(item["command"], f"touch {m}")
            deadline = time.time() + 10
            while not os.path.exists(m) and time.time() < deadline:
                time.sleep(0.05)
            self.assertTrue(os.path.exists(m))
            end(t)
        finally:
            t.close()

    def test_denied_line_never_reaches_target(self):
        m = target_file("gate-denied")
        before = bed.recordings_now()
        t = bed.shell(unwatched=True)
        try:
            t.send(f"touch {m}\r")
            item = bed.decide_next("deny", reason="not now")
            t.expect(r"#1 denied by bob \(not now\); nothing was sent")
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            end(t)
        finally:
            t.close()
        rec = Recording(bed.new_recording(before))
        self.assertNotIn(b"touch", rec.stream("i"))
        self.assertIn(f"denied #1 by bob (not now): touch {m}",
                      [x.split("\t")[0] for x in rec.markers()])
        detail = [json.loads(x.split("\t", 1)[1]) for x in rec.markers()
                  if x.startswith("denied #1")][0]
        self.assertEqual(detail["decision"], "denied")
        self.assertEqual(detail["escort"], "bob")
        self.assertEqual(detail["escort_attrs"], {"citizen": "US", "clearance": "secret"})
        self.assertEqual(detail["reason"], "not now")
        self.assertEqual(detail["command"], f"touch {m}")
        self.assertEqual(item["session"], rec.header["tandem"]["session"])

    def test_line_typed_while_pending_never_reaches_target(self):
        m = target_file("gate-typed-ahead")
        t = bed.shell(unwatched=True)
        try:
            t.send("echo first-line\r")
            t.expect(r"#1 waiting for escort")
            t.send(f"touch {m}\r")
            first = bed.decide_next()
            self.assertEqual(first["command"], "echo first-line")
            t.expect(r"first-line\r\n")
            # The typed-ahead line is now its own pending command: not sent.
            second = bed.pending()
            self.assertEqual([(p["seq"], p["command"]) for p in second],
                             [(2, f"touch {m}")])
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            bed.decide_next("deny")
            time.sleep(0.3)
            self.assertFalse(os.path.exists(m))
            end(t)
        finally:
            t.close()

    def test_approved_line_reaches_target_once_byte_for_byte_and_shows_once(self):
        out = target_file("gate-exact")
        line = f"printf '%s\\n' 'αβγ \"q\" $HOME \\ x' >> {out}; echo done-$((3*5))"
        before = bed.recordings_now()
        tm = Tmux(" ".join(bed.ssh_argv(tty=True)) + " db01")
        try:
            tm.wait_for(r"\$ $|\$\s*$")
            tm.keys(line, enter=True)
            tm.wait_for("waiting for escort")
            bed.decide_next()
            screen = tm.wait_for(r"done-15")
            # Once on the screen: tandem's rendering gave way to the echo.
            self.assertEqual(screen.count("done-$((3*5))"), 1, screen)
            self.assertNotIn("waiting for escort", screen)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), "αβγ \"q\" $HOME \\ x\n".encode())
            tm.keys("exit", enter=True)
            bed.decide_next()
        finally:
            tm.close()
        rec = Recording(bed.new_recording(before))
        self.assertEqual(rec.stream("i").count(line.encode() + b"\r"), 1)

    def test_bracketed_paste_is_one_pending_unit(self):
        ms = [target_file(f"gate-paste-{i}") for i in range(3)]
        t = bed.shell(unwatched=True)
        try:
            t.send("\x1b[200~" + "\r".join(f"touch {m}" for m in ms) + "\x1b[201~")
            t.send("\r")
            items = bed.pending()
            self.assertEqual(len(items), 1, items)
            self.assertEqual(items[0]["command"], "\r".join(f"touch {m}" for m in ms))
            self.assertIn("\\r", items[0]["visible"])
            for m in ms:
                self.assertFalse(os.path.exists(m))
            bed.decide_next()
            deadline = time.time() + 10
            while not all(map(os.path.exists, ms)) and time.time() < deadline:
                time.sleep(0.05)
            self.assertTrue(all(map(os.path.exists, ms)))
            end(t)
        finally:
            t.close()

    def test_ctrl_c_passes_without_approval(self):
        t = bed.shell(unwatched=True)
        try:
            t.send("sleep 60; echo not-interrupted\r")
            bed.decide_next()
            time.sleep(0.5)
            t.send("\x03")
            t.expect(r"\$ $", timeout=5)
            self.assertNotIn(b"\r\nnot-interrupted", t.out)
            self.assertEqual(bed.pending(wait=1), [])
            end(t)
        finally:
            t.close()

    def test_deleting_keys_first_thing_at_the_prompt_do_no_harm(self):
        # Ctrl-U, Ctrl-W and Ctrl-K before any other key once killed the
        # recorder: its line had no memory yet.
        t = bed.shell(unwatched=True)
        try:
            t.send("\x15\x17\x0b")
            time.sleep(0.5)
            self.assertIsNone(t.proc.poll())
            t.send("echo still-here\r")
            item = bed.decide_next()
            self.assertEqual(item["command"], "echo still-here")
            t.expect(r"\r\nstill-here\r\n")
            end(t)
        finally:
            t.close()

    def test_ctrl_d_needs_approval(self):
        t = bed.shell(unwatched=True)
        try:
            # The text "^D" typed as a line, and Ctrl-D itself, look
            # different to the escort, and each names its exact bytes.
            t.send("^D\r")
            typed = bed.decide_next("deny")
            self.assertEqual((typed["kind"], typed["visible"], typed["command_b64"]),
                             ("line", "^D", "XkQ="))
            t.send("\x04")
            items = bed.pending()
            self.assertEqual(items[0]["command"], "^D")
            self.assertEqual(items[0]["kind"], "eof")
            self.assertEqual(items[0]["command_b64"], "BA==")
            self.assertTrue(items[0]["visible"].startswith("Ctrl-D, the end of input"),
                            items[0]["visible"])
            self.assertIsNone(t.proc.poll())
            bed.decide_next()
            self.assertEqual(t.wait(), 0)
        finally:
            t.close()

    def test_four_eyes_engineer_cannot_escort_own_session(self):
        m = target_file("gate-four-eyes")
        before = bed.recordings_now()
        t = bed.shell(who="carol", unwatched=True)
        try:
            t.send(f"touch {m}\r")
            t.expect(r"#1 waiting for escort")
            sid = current_session()
            self.assertEqual(bed.pending(wait=1, who="carol-escort"), [])
            p = bed.escort("approve", sid, "1", who="carol-escort")
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"four-eyes", p.stderr)
            time.sleep(0.3)
            self.assertFalse(os.path.exists(m))
            bed.decide_next("deny")
            end(t)
        finally:
            t.close()
        rec = Recording(bed.new_recording(before))
        self.assertTrue(any(x.startswith("escort refused: carol") for x in rec.markers()))

    def test_escort_the_policy_does_not_allow_is_refused(self):
        m = target_file("gate-policy-escort")
        t = bed.shell(unwatched=True)
        try:
            t.send(f"touch {m}\r")
            t.expect(r"#1 waiting for escort")
            sid = current_session()
            self.assertEqual(bed.pending(wait=1, who="dave"), [])
            p = bed.escort("approve", sid, "1", who="dave")
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"requires escorts with citizen=US", p.stderr)
            time.sleep(0.3)
            self.assertFalse(os.path.exists(m))
            bed.decide_next("deny")
            end(t)
        finally:
            t.close()

    def test_socket_refuses_processes_of_other_users(self):
        t = bed.shell(unwatched=True)
        try:
            path = os.path.join(bed.sessions, current_session() + ".sock")
            st = os.stat(path)
            self.assertEqual(st.st_mode & 0o777, 0o660)
            # root may open the file, but SO_PEERCRED shows it is not escort.
            hello = b'{"escort":"bob"}'
            msg = bytes([1, 1]) + len(hello).to_bytes(4, "big") + hello
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.settimeout(5)
                c.connect(path)
                try:
                    c.sendall(msg)
                    got = c.recv(65536)
                except (BrokenPipeError, ConnectionResetError):
                    got = b""
                self.assertEqual(got, b"")
            # Another user cannot even connect.
            p = subprocess.run(["su", TARGET_USER, "-s", "/bin/sh", "-c",
                                f"python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect(\"{path}\")'"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b"Permission denied", p.stderr)
            end(t)
        finally:
            t.close()

    def test_pending_json_fields_and_decision_errors(self):
        t = bed.shell(unwatched=True)
        try:
            t.send("echo json-fields\r")
            items = bed.pending()
            self.assertEqual(len(items), 1)
            p = items[0]
            for k in ("session", "seq", "engineer", "target", "command", "risks"):
                self.assertIn(k, p)
            self.assertEqual((p["seq"], p["engineer"], p["target"], p["command"], p["risks"]),
                             (1, "alice", "db01", "echo json-fields", []))
            bad = bed.escort("approve", p["session"], "99")
            self.assertEqual(bad.returncode, 1)
            self.assertIn(b"no command #99 is pending", bad.stderr)
            bad = bed.escort("approve", "00000000-0000-0000-0000-000000000000", "1")
            self.assertEqual(bad.returncode, 1)
            self.assertIn(b"no live session", bad.stderr)
            # Malformed, not merely unknown: a usage error (SPEC, man page).
            bad = bed.escort("approve", "../../etc/passwd", "1")
            self.assertEqual(bad.returncode, 2)
            self.assertIn(b"not a session id", bad.stderr)
            bad = bed.escort("approve", p["session"])
            self.assertEqual(bad.returncode, 2)
            ok = bed.escort("deny", p["session"], "1", "--reason", "not today, thanks")
            self.assertEqual(ok.returncode, 0, ok.stderr)
            t.expect(r"denied by bob \(not today, thanks\)")
            lst = bed.escort("list", "--json")
            rows = [json.loads(l) for l in lst.stdout.decode().splitlines()]
            self.assertEqual(len(rows), 1)
            for k in ("session", "engineer", "target", "started", "pending", "escorts", "raw"):
                self.assertIn(k, rows[0])
            self.assertRegex(rows[0]["started"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            end(t)
        finally:
            t.close()

    def test_escort_can_kill_a_session(self):
        t = bed.shell(unwatched=True)
        try:
            sid = current_session()
            p = bed.escort("kill", sid, "--reason", "end of shift")
            self.assertEqual(p.returncode, 0, p.stderr)
            t.expect(r"escort bob ended this session: end of shift")
            self.assertEqual(t.wait(), 255)
        finally:
            t.close()

    def test_an_escort_too_slow_for_a_flood_is_caught_up_not_dropped(self):
        # An escort who cannot keep up with the output stops getting it
        # live, then gets the screen again, and stays attached (so can
        # still kill the session); the recording says how much they did
        # not see, and every byte is accounted for.
        before = bed.recordings_now()
        t = bed.shell(unwatched=True)
        probe = None
        try:
            probe = slow_escort("slow")
            # 12 MB while that escort reads 32 KiB a second: more than the
            # recorder queues for an escort (it used to drop one 8 MiB behind).
            t.send("yes flood-line | head -c 12000000; echo flood-$((1+1))done\r")
            bed.decide_next()
            t.expect(r"flood-2done\r\n", timeout=120)
            out, err = probe.communicate(b"go\n", timeout=120)
            self.assertEqual(probe.returncode, 0, err)
            got = json.loads(out)
            t.expect(r"escort bob ended this session: flood test")
            self.assertEqual(t.wait(), 255)
        finally:
            if probe and probe.poll() is None:
                probe.kill()
            t.close()
        self.assertNotIn("eof", got["seen"])
        self.assertTrue(got["ended"], got["seen"])
        self.assertGreater(got["skipped"], 8_000_000)
        i = got["seen"].index("skipped")
        self.assertEqual(got["seen"][i + 1], "screen")
        self.assertIn("flood-2done", got["screen"])
        marks = Recording(bed.new_recording(before)).markers()
        skip = [m for m in marks if m.startswith("escort skipped: bob")]
        self.assertEqual(len(skip), 1, marks)
        detail = json.loads(skip[0].split("\t", 1)[1])
        self.assertEqual((detail["action"], detail["bytes"]), ("skipped", got["skipped"]))
        self.assertGreaterEqual(detail["gaps"], 1)
        endm = json.loads([m for m in marks if m.startswith("session end")][0].split("\t", 1)[1])
        self.assertEqual(got["attach_screen"] + got["output"] + got["skipped"],
                         endm["bytes_out"])

    def test_an_escort_who_reads_nothing_for_15_s_is_dropped(self):
        # A hung console (or the network under it) must not count as an
        # escort watching: raw mode and "watching" would go on without
        # anyone seeing the screen.
        before = bed.recordings_now()
        t = bed.shell(unwatched=True)
        probe = None
        try:
            probe = slow_escort("hung")
            t.expect(r"escort bob is watching")
            t.send("yes stall-line | head -c 3000000; echo stall-$((1+1))done\r")
            started = time.time()
            bed.decide_next()
            t.expect(r"stall-2done\r\n", timeout=60)
            t.expect(r"no escort attached: nothing is sent", timeout=40)
            self.assertGreater(time.time() - started, 10)
            out, err = probe.communicate(b"go\n", timeout=60)
            self.assertIn("eof", json.loads(out)["seen"])
            end(t)
        finally:
            if probe and probe.poll() is None:
                probe.kill()
            t.close()
        marks = Recording(bed.new_recording(before)).markers()
        self.assertIn("escort left: bob (read nothing for 15 s)",
                      [m.split("\t")[0] for m in marks])

    def test_noninteractive_command_and_stdin_wait_for_approval(self):
        m = target_file("gate-exec")
        dest = target_file("gate-exec-upload")
        data = b"#!/bin/sh\necho patched\n" + os.urandom(10000)
        proc = subprocess.Popen(bed.ssh_argv() + ["db01", f"touch {m}; cat > {dest}"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            proc.stdin.write(data)
            proc.stdin.close()
            items = bed.pending_with_stdin(timeout=10)
            p = items[0]
            self.assertEqual(p["command"], f"touch {m}; cat > {dest}")
            self.assertEqual(p["stdin_bytes"], len(data))
            self.assertTrue(p["stdin_preview"].startswith("#!/bin/sh\necho patched\n"))
            self.assertFalse(os.path.exists(m))
            self.assertFalse(os.path.exists(dest))
            self.assertEqual(bed.escort("deny", p["session"], str(p["seq"])).returncode, 0)
            self.assertEqual(proc.wait(20), 255)
            self.assertIn(b"denied by bob", proc.stderr.read())
            self.assertFalse(os.path.exists(m))
            self.assertFalse(os.path.exists(dest))
        finally:
            proc.kill()
            proc.wait()

    def test_pending_shows_the_stdin_past_a_nul(self):
        # A NUL once ended what `pending` showed of the stdin: the escort
        # read "echo harmless" and nothing of what followed it.
        data = b"echo harmless\0\ntouch /tmp/hidden-past-nul\n"
        proc = subprocess.Popen(bed.ssh_argv() + ["db01", "sh"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            proc.stdin.write(data)
            proc.stdin.close()
            items = bed.pending_with_stdin(timeout=10)
            shown = bed.escort("pending").stdout.decode()
            self.assertIn("echo harmless\\x00", shown)
            self.assertIn("touch /tmp/hidden-past-nul", shown)
            p = items[0]
            self.assertEqual(bed.escort("deny", p["session"], str(p["seq"])).returncode, 0)
            self.assertEqual(proc.wait(20), 255)
        finally:
            proc.kill()
            proc.wait()

    def test_stdin_after_approval_waits_for_its_own_approval(self):
        # A command that reads commands from stdin: the escort approves
        # `sh` with what had come; each later part is asked for again.
        m = target_file("gate-late-stdin")
        before = bed.recordings_now()
        proc = subprocess.Popen(bed.ssh_argv() + ["db01", "sh"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def next_part(want_seq=None):
            deadline = time.time() + 20
            while time.time() < deadline:
                items = [i for i in bed.pending(wait=2)
                         if want_seq is None or i["seq"] > want_seq]
                if items:
                    return items[0]
            raise AssertionError("no pending part appeared")

        try:
            proc.stdin.write(b"echo first-$((1+1))\n")
            proc.stdin.flush()
            first = next_part()
            self.assertEqual((first["kind"], first["command"]), ("exec", "sh"))
            self.assertEqual(first["stdin_preview"], "echo first-$((1+1))\n")
            self.assertEqual(first["stdin_bytes"], 20)
            self.assertFalse(first["stdin_complete"])
            bed.escort("approve", first["session"], str(first["seq"]))
            # More input after the approval is held, shown, and judged.
            proc.stdin.write(f"touch {m}; rm -rf {m}.d\n".encode())
            proc.stdin.flush()
            second = next_part(first["seq"])
            self.assertEqual(second["kind"], "input")
            self.assertEqual(second["stdin_preview"], f"touch {m}; rm -rf {m}.d\n")
            self.assertIn("its input: ", " ".join(r["why"] for r in second["risks"]))
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            bed.escort("deny", second["session"], str(second["seq"]))
            # Denied input is dropped; the command goes on and asks again.
            proc.stdin.write(b"echo third-$((1+2))\n")
            proc.stdin.flush()
            third = next_part(second["seq"])
            self.assertEqual(third["stdin_preview"], "echo third-$((1+2))\n")
            bed.escort("approve", third["session"], str(third["seq"]))
            # The end of input is a part too: sh ends only once it is approved.
            proc.stdin.close()
            last = next_part(third["seq"])
            self.assertEqual((last["kind"], last["stdin_bytes"], last["stdin_complete"]),
                             ("input", 0, True))
            self.assertIsNone(proc.poll())
            bed.escort("approve", last["session"], str(last["seq"]))
            self.assertEqual(proc.wait(20), 0)
            out = proc.stdout.read()
            self.assertEqual(out, b"first-2\nthird-3\n")
            self.assertFalse(os.path.exists(m))
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        rec = Recording(bed.new_recording(before))
        self.assertEqual(rec.stream("i"), b"echo first-$((1+1))\necho third-$((1+2))\n")
        labels = [l.split("\t")[0] for l in rec.markers()]
        self.assertIn(f"denied #{second['seq']} by bob: {len(second['stdin_preview'])} bytes "
                      f"of input to: sh", labels)
        self.assertIn(f"approved #{last['seq']} by bob: the end of input to: sh", labels)
        # The record keeps what was denied, exactly as the escort saw it.
        pend = [json.loads(l.split("\t")[1]) for l in rec.markers()
                if l.startswith(f"pending #{second['seq']}:")][0]
        self.assertEqual(base64.b64decode(pend["stdin_preview_b64"]),
                         second["stdin_preview"].encode())
        # The audit list tells a decision on input from one on the command.
        c = subprocess.run([os.path.join(bed.bin, "tandem-replay"), "commands", "--json",
                            rec.path], stdout=subprocess.PIPE, text=True, timeout=60)
        kinds = [(e["seq"], e.get("kind"), e["decision"])
                 for e in map(json.loads, c.stdout.splitlines())]
        self.assertEqual(kinds, [(first["seq"], "exec", "approved"),
                                 (second["seq"], "input", "denied"),
                                 (third["seq"], "input", "approved"),
                                 (last["seq"], "input", "approved")])

    def test_shell_without_terminal_is_refused_not_fed_from_stdin(self):
        m = target_file("gate-piped-shell")
        p = bed.ssh("db01", stdin=None, input=f"touch {m}\n".encode())
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"no terminal and no command", p.stderr)
        time.sleep(0.3)
        self.assertFalse(os.path.exists(m))

    def test_malformed_message_closes_only_that_connection(self):
        import pwd
        t = bed.shell(unwatched=True)
        try:
            path = os.path.join(bed.sessions, current_session() + ".sock")
            pw = pwd.getpwnam("escort")
            probe = ("import socket,sys\n"
                     "s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])\n"
                     "s.sendall(bytes([1,1,0,0,0,1])+b'{')\n"
                     "print(len(s.recv(65536)))\n")
            p = subprocess.run(["/usr/bin/python3", "-c", probe, path], user=pw.pw_uid,
                               group=pw.pw_gid, extra_groups=[], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=20)
            self.assertEqual(p.stdout.strip(), b"0", p.stderr)
            # The session goes on; a real escort still decides.
            t.send("echo still-alive\r")
            bed.decide_next()
            t.expect(r"still-alive\r\n")
            end(t)
        finally:
            t.close()

    def test_every_attached_escort_sees_each_decision(self):
        t = bed.shell(unwatched=True)
        watcher = Term(bed.ssh_argv("bob", user="escort", tty=True), cols=100, rows=30)
        try:
            watcher.expect(r"alice@db01")
            t.send("echo seen-by-all\r")
            watcher.expect(r"#1 alice wants to run:")
            bed.decide_next()
            watcher.expect(r"#1 approved by bob")
            end(t)
        finally:
            watcher.close()
            t.close()


if __name__ == "__main__":
    unittest.main()
