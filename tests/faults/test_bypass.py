"""Bypass attempts: an engineer trying to get bytes past the gate, or to make
the escort approve something other than what runs.  Each attempt asserts
its outcome: refused, or shown to the escort exactly (control and invisible
characters escaped and flagged) and then sent exactly as shown, checked on
the target by tap.py.

Covered elsewhere, not repeated here:
  integration/test_gate.py     typed-ahead lines, Ctrl-C/Ctrl-D, a pasted
                               multi-line unit, a shell without a terminal,
                               escort socket peer checks, four-eyes
  integration/test_console.py  a Ctrl-V CR and U+202E in the console view;
                               title, clipboard and query escapes in the
                               target's output never reach the escort
  integration/test_relay.py    sftp and scp refused; -R refused; -L carries
                               nothing; a wrong pinned host key
  integration/test_raw.py      raw mode only when granted, and its ends
  integration/test_replay_play.py  replay strips hostile sequences
"""
import json
import os
import shlex
import socket
import subprocess
import time
import unicodedata
import unittest

from faultlib import (Escort, FaultBed, assert_promises, one_recorder, shell,
                      wait_gone)
from testbed import Recording, Term, TARGET_USER, free_port

bed = None

# The risk an escort sees for any hidden character (recorder/gate.c).
HIDDEN = "invisible or control characters"


def setUpModule():
    global bed
    bed = FaultBed()


def tearDownModule():
    if bed:
        bed.stop()


def marker(name):
    path = os.path.join("/home", TARGET_USER, "bypass-" + name)
    if os.path.exists(path):
        os.unlink(path)
    return path


def shows_nothing_hidden(text):
    """True if `text` (an escort's view) has no character that does not show."""
    return not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn")
                   or c in "\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0"
                   or 0xfe00 <= ord(c) <= 0xfe0f or 0xe0100 <= ord(c) <= 0xe01ef
                   for c in text)


class Attempt:
    """One engineer session: keys typed, the pending command inspected,
    decided, and what the target received compared with it."""

    def __init__(self, test, keys, command, flagged=True):
        self.test = test
        self.keys = keys
        self.command = command
        self.flagged = flagged

    def run(self, verb="deny"):
        test = self.test
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            tty = self.new_tty(snap)
            t.send(self.keys)
            item = esc.pending()[0]
            # The escort is shown exactly the bytes that would be sent...
            test.assertEqual(item["command"], self.command)
            test.assertTrue(shows_nothing_hidden(item["visible"]), ascii(item["visible"]))
            whys = [r["why"] for r in item["risks"]]
            if self.flagged:
                test.assertTrue(any(HIDDEN in w for w in whys), whys)
            esc.decide(item, verb)
            if verb == "approve":
                t.expect(r"\$ $")
            time.sleep(0.3)
            got = bed.tap(tty)
            # ...and the target got exactly that, or nothing at all.
            test.assertEqual(got, (self.command + "\r").encode() if verb == "approve" else b"")
            t.send("exit\r")
            esc.next(expect="exit")
            t.wait(30)
        finally:
            t.close()
        assert_promises(test, bed, snap, escort=esc, sealed=True, expect_recordings=1)
        return item

    @staticmethod
    def new_tty(snap, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            new = [n for n in bed.taps() - snap.taps if n.startswith("tty.")]
            if new:
                return new[0]
            time.sleep(0.05)
        raise AssertionError("the target never opened a terminal")


class Line(unittest.TestCase):
    def test_control_characters_are_escaped_flagged_and_sent_exactly(self):
        # Ctrl-V makes the next key literal: ESC, BEL, NUL, DEL, Ctrl-U.
        keys = "echo a\x16\x1b[8mb\x16\x07c\x16\x00d\x16\x7fe\x16\x15f\r"
        item = Attempt(self, keys, "echo a\x1b[8mb\x07c\x00d\x7fe\x15f").run("approve")
        for shown in ("\\x1b", "\\x07", "\\x00", "\\x7f", "\\x15"):
            self.assertIn(shown, item["visible"])
        # The audit lists it too, NUL and all (a NUL once hid it there).
        rec = [r for r in bed.recordings_now() if item["session"] in r][0]
        rows = [json.loads(l) for l in subprocess.run(
            [os.path.join(bed.bin, "tandem-replay"), "commands", "--json", rec],
            stdout=subprocess.PIPE).stdout.decode().splitlines()]
        self.assertIn(("approved", "echo a\x1b[8mb\x07c\x00d\x7fe\x15f"),
                      [(r["decision"], r["command"]) for r in rows])

    def test_carriage_return_overwrite_is_shown_not_hidden(self):
        m = marker("cr")
        # On a terminal "echo harmless" would be all that shows.
        keys = f"touch {m}; \x16\recho harmless\r"
        item = Attempt(self, keys, f"touch {m}; \recho harmless").run("deny")
        self.assertIn("\\r", item["visible"])
        self.assertFalse(os.path.exists(m))

    def test_backspace_overwrite_is_shown_not_hidden(self):
        m = marker("bs")
        keys = f"touch {m}" + "\x16\x08" * 30 + "echo harmless\r"
        item = Attempt(self, keys, f"touch {m}" + "\x08" * 30 + "echo harmless").run("deny")
        self.assertIn("\\x08", item["visible"])
        self.assertFalse(os.path.exists(m))

    def test_plain_backspace_edits_the_line_and_never_reaches_the_target(self):
        Attempt(self, "echo AAAA\x7f\x7f\x7f\x7fBBBB\x08\x08BB\r", "echo BBBB",
                flagged=False).run("approve")

    def test_ctrl_v_literal_newline_shows_both_commands_and_runs_only_them(self):
        m = marker("lnext")
        keys = f"echo one\x16\ntouch {m}\r"
        item = Attempt(self, keys, f"echo one\ntouch {m}").run("approve")
        self.assertIn("\\n", item["visible"])
        # What the escort saw, both lines, is what ran.
        self.assertTrue(os.path.exists(m))

    def test_bidi_and_zero_width_characters_are_escaped_and_flagged(self):
        for ch in ("\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\u00ad",
                   "\u2028", "\U000e0041", "\u061c", "\u3164"):
            with self.subTest(ch=ascii(ch)):
                item = Attempt(self, f"echo sa{ch}fe\r", f"echo sa{ch}fe").run("deny")
                self.assertIn("\\u", item["visible"])

    def test_every_default_ignorable_character_is_flagged(self):
        # Unicode's Default_Ignorable_Code_Point characters render as
        # nothing: the combining grapheme joiner, Khmer inherent vowels,
        # variation selectors, the half-width Hangul filler and the rest.
        for ch in ("\u034f", "\u17b4", "\u180b", "\ufe0f", "\uffa0", "\ufff0",
                   "\U0001bca0", "\U0001d173", "\U000e0100"):
            with self.subTest(ch=ascii(ch)):
                Attempt(self, f"echo sa{ch}fe\r", f"echo sa{ch}fe").run("deny")


class Paste(unittest.TestCase):
    def test_embedded_paste_end_marker_cannot_split_the_unit(self):
        m = marker("paste-end")
        # The first end marker ends the paste; what follows is typed text
        # of the same line, and a stray end marker is no key at all.
        keys = f"\x1b[200~echo one\x1b[201~; touch {m}\x1b[201~\r"
        Attempt(self, keys, f"echo one; touch {m}", flagged=False).run("deny")
        self.assertFalse(os.path.exists(m))

    def test_paste_start_marker_inside_a_paste_is_text(self):
        m = marker("paste-nested")
        keys = f"\x1b[200~echo \x1b[200~x\rtouch {m}\x1b[201~\r"
        item = Attempt(self, keys, f"echo \x1b[200~x\rtouch {m}").run("deny")
        self.assertIn("\\x1b[200~", item["visible"])
        self.assertFalse(os.path.exists(m))

    def test_ctrl_c_a_second_into_an_unclosed_paste_drops_it(self):
        m = marker("paste-stuck")
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            tty = Attempt.new_tty(snap)
            t.send(f"\x1b[200~touch {m}\r")
            time.sleep(1.5)
            # Now the engineer's Ctrl-C is a key: the paste is dropped and
            # only the interrupt reaches the target.
            t.send("\x03")
            t.send("echo after\r")
            item = esc.pending()[0]
            self.assertEqual(item["command"], "echo after")
            self.assertEqual(bed.tap(tty), b"\x03")
            esc.decide(item, "deny")
            p = bed.escort("kill", item["session"])
            self.assertEqual(p.returncode, 0)
            t.wait(30)
        finally:
            t.close()
        assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)
        self.assertFalse(os.path.exists(m))

    def test_unterminated_paste_submits_nothing(self):
        m = marker("paste-open")
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            tty = Attempt.new_tty(snap)
            t.send(f"\x1b[200~touch {m}\r\x03\x04")
            # Enter, Ctrl-C and Ctrl-D inside a paste are text: nothing is
            # pending and nothing was sent.
            self.assertEqual(esc.pending(wait=2), [])
            self.assertEqual(bed.tap(tty), b"")
            t.send("\x1b[201~\r")
            item = esc.pending()[0]
            self.assertEqual(item["command"], f"touch {m}\r\x03\x04")
            self.assertTrue(any(HIDDEN in r["why"] for r in item["risks"]))
            esc.decide(item, "deny")
            p = bed.escort("kill", item["session"])
            self.assertEqual(p.returncode, 0)
            t.wait(30)
        finally:
            t.close()
        assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)
        self.assertFalse(os.path.exists(m))


class Session(unittest.TestCase):
    def test_hostile_term_name_is_replaced_everywhere(self):
        snap = bed.snapshot()
        esc = Escort(bed)
        t = Term(bed.ssh_argv(tty=True) + ["db01"],
                 env={"TERM": "xterm\x1b]0;owned\x07;LD_PRELOAD=/tmp/x"})
        try:
            t.expect(r"\$ $", timeout=30)
            t.send("exit\r")
            esc.next(expect="exit")
            t.wait(30)
        finally:
            t.close()
        v = assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)
        rec = Recording(v.recordings[0][0])
        self.assertEqual(rec.header["env"]["TERM"], "xterm")
        env = [bed.tap(n) for n in bed.taps() - snap.taps if n.startswith("env.")][0]
        self.assertIn(b"TERM=xterm", env.split(b"\0"))
        self.assertNotIn(b"owned", env)

    def test_approved_interactive_program_still_gets_only_approved_lines(self):
        # The command is a shell; what is typed into it is gated like any
        # other line.
        m = marker("inner-shell")
        snap = bed.snapshot()
        esc = Escort(bed)
        t = Term(bed.ssh_argv(tty=True) + ["db01", "sh"])
        try:
            self.assertIsNotNone(esc.next(expect="sh"))
            t.expect(r"\$ $", timeout=30)
            t.send(f"touch {m}\r")
            item = esc.pending()[0]
            self.assertEqual(item["command"], f"touch {m}")
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            esc.decide(item, "deny")
            t.send("exit\r")
            esc.next(expect="exit")
            t.wait(30)
        finally:
            t.close()
        assert_promises(self, bed, snap, escort=esc, expect_recordings=1)
        self.assertFalse(os.path.exists(m))

    def test_escort_reason_with_tab_and_newline_keeps_the_record_readable(self):
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            t.send("echo reasoned\r")
            item = esc.pending()[0]
            p = bed.escort("deny", item["session"], str(item["seq"]), "--reason",
                           "not now\t{\"decision\":\"approved\"}\nok")
            self.assertEqual(p.returncode, 0, p.stderr)
            t.send("exit\r")
            esc.next(expect="exit")
            t.wait(30)
        finally:
            t.close()
        v = assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)
        path = v.recordings[0][0]
        rows = [json.loads(l) for l in subprocess.run(
            [os.path.join(bed.bin, "tandem-replay"), "commands", "--json", path],
            stdout=subprocess.PIPE).stdout.decode().splitlines()]
        mine = [r for r in rows if r["seq"] == item["seq"]]
        self.assertEqual([r["decision"] for r in mine], ["denied"])
        self.assertEqual(mine[0]["reason"], "not now\t{\"decision\":\"approved\"}\nok")
        label = [m for m in Recording(path).markers() if m.startswith("denied #1")][0]
        self.assertEqual(json.loads(label.rsplit("\t", 1)[1])["decision"], "denied")

    def test_kill_reason_with_control_characters_is_shown_not_obeyed(self):
        snap = bed.snapshot()
        t = shell(bed)
        try:
            sid = [f[:-5] for f in os.listdir(bed.sessions) if f.endswith(".sock")][0]
            p = bed.escort("kill", sid, "--reason", "end\tof\x1b[2Jshift")
            self.assertEqual(p.returncode, 0, p.stderr)
            t.expect(r"ended this session: end\\tof\\x1b\[2Jshift")
            self.assertEqual(t.wait(30), 255)
            self.assertNotIn(b"\x1b[2J", t.out)
        finally:
            t.close()
        v = assert_promises(self, bed, snap, sealed=True, expect_recordings=1)
        label = [m for m in Recording(v.recordings[0][0]).markers()
                 if m.startswith("killed by")][0]
        readable, details = label.split("\t", 1)
        self.assertEqual(readable, "killed by bob (end\\tof\\x1b[2Jshift)")
        self.assertEqual(json.loads(details)["reason"], "end\tof\x1b[2Jshift")

    def test_escort_reason_never_puts_a_raw_tab_in_the_readable_label(self):
        # docs/recording.md: the readable part never holds a raw TAB, so the
        # first TAB starts the JSON: the escort's reason is shown there with
        # control characters made visible, and kept exact in the details.
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            t.send("echo tabbed\r")
            item = esc.pending()[0]
            p = bed.escort("deny", item["session"], str(item["seq"]), "--reason", "a\tb")
            self.assertEqual(p.returncode, 0, p.stderr)
            t.send("exit\r")
            esc.next(expect="exit")
            t.wait(30)
        finally:
            t.close()
        path = sorted(bed.recordings_now() - snap.recordings)[0]
        label = [m for m in Recording(path).markers() if m.startswith("denied #1")][0]
        readable, details = label.split("\t", 1)
        self.assertEqual(readable, "denied #1 by bob (a\\tb): echo tabbed")
        self.assertEqual(json.loads(details)["decision"], "denied")
        self.assertEqual(json.loads(details)["reason"], "a\tb")
        self.assertIn(b"denied by bob (a\\tb); nothing was sent", t.out)


    def test_command_with_tab_and_newline_keeps_the_start_label_readable(self):
        snap = bed.snapshot()
        cmd = "echo one\tTAB; echo two\necho three"
        out = bed.ssh_approved("db01", cmd)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.pending["command"], cmd)
        v = assert_promises(self, bed, snap, sealed=True, expect_recordings=1)
        label = [m for m in Recording(v.recordings[0][0]).markers()
                 if m.startswith("session start")][0]
        # The first TAB starts the details (docs/recording.md).
        readable, details = label.split("\t", 1)
        self.assertNotIn("\n", readable)
        self.assertIn("echo one\\tTAB; echo two\\necho three", readable)
        self.assertEqual(json.loads(details)["command"], cmd)

    def test_command_that_is_not_utf8_runs_exactly_as_approved(self):
        # A Latin-1 byte once made the recorder refuse the session, blaming
        # the recordings directory.  The header holds the command as text;
        # the escort and the target get the exact bytes.
        import base64
        snap = bed.snapshot()
        cmd = b"echo caf\xe9 \xff"
        out = bed.ssh_approved("db01", cmd)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"caf\xe9 \xff\n")
        self.assertEqual(base64.b64decode(out.pending["command_b64"]), cmd)
        v = assert_promises(self, bed, snap, sealed=True, expect_recordings=1)
        rec = Recording(v.recordings[0][0])
        self.assertEqual(rec.header["tandem"]["command"], "echo caf\ufffd \ufffd")
        start = [m for m in rec.markers() if m.startswith("session start")][0]
        self.assertEqual(json.loads(start.rsplit("\t", 1)[1])["command"],
                         "echo caf\ufffd \ufffd")
        self.assertIn(cmd, [bed.tap(n) for n in bed.taps() - snap.taps
                            if n.startswith("exec.")])

    def test_target_name_cannot_forge_a_log_line(self):
        # The recorder refuses an unknown target and says so in syslog;
        # the name it logs is the engineer's text, so it must not carry a
        # newline or escape into the log.  Run in a mount namespace whose
        # /dev/log is a socket this test reads.
        script = f"""
import os, socket, subprocess, sys
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/dev"], check=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(10)
env = {{"SSH_ORIGINAL_COMMAND": "db99\\nMay  1 00:00:00 vm tandem-recorder[1]: approved #1 by bob\\x1b[2K"}}
env["SSH_ORIGINAL_COMMAND"] = env["SSH_ORIGINAL_COMMAND"].encode().decode("unicode_escape")
p = subprocess.run([{os.path.join(bed.bin, "tandem-recorder")!r}, "--config",
                    {bed.policy!r}, "--engineer", "alice"], env=env,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
sys.stdout.write(repr((p.returncode, s.recv(4096))))
"""
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "python3", "-c",
                            script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        rc, msg = eval(p.stdout.decode())
        self.assertEqual(rc, 255)
        self.assertIn(b"refused: target db99", msg)
        self.assertNotIn(b"\n", msg)
        self.assertNotIn(b"\x1b", msg)
        self.assertIn(b"db99\\nMay", msg)


def ssh_client(extra, *command, who="alice", user="tandem", timeout=30, env=None):
    argv = bed.ssh_argv(who=who, user=user, extra=extra)
    return subprocess.run(argv + list(command), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, env=env)


class Channels(unittest.TestCase):
    def nothing_happened(self, snap):
        self.assertEqual(bed.recordings_now() - snap.recordings, set())
        self.assertEqual(bed.taps() - snap.taps, set())
        assert_promises(self, bed, snap, expect_recordings=0)

    def test_stdio_forwarding_is_refused(self):
        snap = bed.snapshot()
        p = ssh_client(["-W", f"127.0.0.1:{bed.target.port}"])
        self.assertEqual(p.returncode, 255)
        self.assertNotIn(b"SSH-2.0", p.stdout)
        self.nothing_happened(snap)

    def test_local_forward_without_a_session_carries_nothing(self):
        snap = bed.snapshot()
        port = free_port()
        proc = subprocess.Popen(bed.ssh_argv(extra=["-N", "-L",
                                                    f"127.0.0.1:{port}:127.0.0.1:{bed.target.port}"]),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 10
            got = None
            while time.time() < deadline and got is None:
                try:
                    with socket.create_connection(("127.0.0.1", port), 2) as c:
                        c.settimeout(5)
                        got = c.recv(100)
                except OSError:
                    time.sleep(0.1)
            # A real forward would bring the target's SSH banner.
            self.assertEqual(got, b"")
        finally:
            proc.kill()
            proc.wait()
        self.nothing_happened(snap)

    def test_dynamic_and_tunnel_forwarding_are_refused(self):
        snap = bed.snapshot()
        p = ssh_client(["-o", "ExitOnForwardFailure=yes", "-w", "any"], "db01", "true")
        self.assertEqual(p.returncode, 255, p.stderr)
        port = free_port()
        proc = subprocess.Popen(bed.ssh_argv(extra=["-N", "-D", f"127.0.0.1:{port}"]),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 10
            reply = None
            while time.time() < deadline and reply is None:
                try:
                    with socket.create_connection(("127.0.0.1", port), 2) as c:
                        c.settimeout(5)
                        tp = bed.target.port
                        c.sendall(b"\x04\x01" + tp.to_bytes(2, "big") + bytes([127, 0, 0, 1]) + b"\0")
                        reply = c.recv(100)
                except OSError:
                    time.sleep(0.1)
            # SOCKS4 "granted" is 0x5a; anything else, or nothing, is no.
            self.assertTrue(reply is not None and (len(reply) < 2 or reply[1] != 0x5a), reply)
        finally:
            proc.kill()
            proc.wait()
        self.nothing_happened(snap)

    def test_agent_and_x11_forwarding_are_refused(self):
        import pwd
        snap = bed.snapshot()
        esc = Escort(bed)
        agent = subprocess.run(["ssh-agent", "-s"], stdout=subprocess.PIPE, text=True).stdout
        env = dict(os.environ, DISPLAY="127.0.0.1:93")
        for part in agent.split(";"):
            k, _, v = part.strip().partition("=")
            if k in ("SSH_AUTH_SOCK", "SSH_AGENT_PID"):
                env[k] = v
        tandem = pwd.getpwnam("tandem").pw_uid
        try:
            proc = subprocess.Popen(
                bed.ssh_argv(extra=["-A", "-X", "-o", "ForwardX11Trusted=yes"])
                + ["db01", "echo forwarded"], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            self.assertTrue(esc.pending())
            # While the session runs: no agent socket for the tandem
            # account, no X11 display listening on the bastion.
            agents = [d for d in os.listdir("/tmp") if d.startswith("ssh-")
                      and os.stat(os.path.join("/tmp", d)).st_uid == tandem]
            self.assertEqual(agents, [])
            ss = subprocess.run(["ss", "-ltn"], stdout=subprocess.PIPE, text=True).stdout
            self.assertNotRegex(ss, r":60[1-9][0-9]\s")
            self.assertIsNotNone(esc.next(expect="echo forwarded"))
            out, err = proc.communicate(timeout=30)
            self.assertEqual((proc.returncode, out), (0, b"forwarded\n"), err)
            self.assertIn(b"X11 forwarding request failed", err)
        finally:
            subprocess.run(["kill", env["SSH_AGENT_PID"]])
        assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)
        target_env = [bed.tap(n) for n in bed.taps() - snap.taps if n.startswith("env.")][0]
        self.assertNotIn(b"SSH_AUTH_SOCK=", target_env)
        self.assertNotIn(b"DISPLAY=", target_env)

    def test_unknown_subsystem_is_refused(self):
        snap = bed.snapshot()
        for name in ("netconf", "db01"):
            with self.subTest(subsystem=name):
                p = ssh_client(["-s"], name)
                self.assertNotEqual(p.returncode, 0)
        self.nothing_happened(snap)

    def test_second_channel_on_a_multiplexed_connection_is_its_own_gated_session(self):
        m = marker("mux")
        ctl = os.path.join(bed.dir, "mux-%r@%h:%p")
        mux = ["-o", "ControlMaster=auto", "-o", f"ControlPath={ctl}",
               "-o", "ControlPersist=no"]
        snap = bed.snapshot()
        esc = Escort(bed)
        t = Term(bed.ssh_argv(tty=True, extra=mux) + ["db01"])
        try:
            t.expect(r"\$ $", timeout=30)
            first = one_recorder(bed)
            # A second session channel on the same connection: another
            # recorder, another recording, and its command waits.
            second = subprocess.Popen(bed.ssh_argv(extra=mux) + ["db01", f"touch {m}"],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
            item = esc.pending()[0]
            self.assertEqual(item["command"], f"touch {m}")
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
            esc.decide(item, "deny")
            self.assertEqual(second.wait(30), 255)
            # Forwarding over the master's connection is refused too.
            p = ssh_client(mux + ["-W", f"127.0.0.1:{bed.target.port}"])
            self.assertNotEqual(p.returncode, 0)
            self.assertNotIn(b"SSH-2.0", p.stdout)
            port = free_port()
            subprocess.run(bed.ssh_argv(extra=mux + ["-O", "forward", "-L",
                                                     f"127.0.0.1:{port}:127.0.0.1:{bed.target.port}"]),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            try:
                with socket.create_connection(("127.0.0.1", port), 5) as c:
                    c.settimeout(5)
                    self.assertEqual(c.recv(100), b"")
            except OSError:
                pass        # not even listening: refused outright
            t.send("exit\r")
            esc.next(expect="exit")
            self.assertEqual(t.wait(30), 0)
            wait_gone([first])
        finally:
            t.close()
        assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=2)
        self.assertFalse(os.path.exists(m))

    def test_environment_requests_reach_neither_bastion_nor_target(self):
        work = os.path.join(bed.dir, "preload")
        os.makedirs(work, exist_ok=True)
        os.chmod(work, 0o755)
        hit = os.path.join("/tmp", f"tandem-preload-hit-{os.getpid()}")
        if os.path.exists(hit):
            os.unlink(hit)
        src = os.path.join(work, "evil.c")
        lib = os.path.join(work, "evil.so")
        with open(src, "w") as f:
            f.write('#include <fcntl.h>\n#include <unistd.h>\n'
                    '__attribute__((constructor)) static void hit(void)\n'
                    f'{{ close(open("{hit}", O_WRONLY | O_CREAT, 0666)); }}\n')
        subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, src], check=True)
        os.chmod(lib, 0o755)
        snap = bed.snapshot()
        esc = Escort(bed)
        env = dict(os.environ, LD_PRELOAD=lib, TANDEM_TEST_PROBE="open", BASH_ENV=lib)
        sendenv = ["-o", "SendEnv=LD_PRELOAD TANDEM_TEST_PROBE BASH_ENV",
                   "-o", f"SetEnv=LD_PRELOAD={lib} LD_LIBRARY_PATH={work} FOO=bar"]
        # The client itself must not load it: only the requests travel.
        env_client = dict(env)
        env_client.pop("LD_PRELOAD")
        argv = bed.ssh_argv(extra=sendenv) + ["db01", "env"]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env_client)
        item = esc.next(expect="env")
        self.assertIsNotNone(item)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        # An escort's requests go nowhere either.
        p = ssh_client(sendenv, "list", user="escort", who="bob", env=env_client)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(hit), "a preloaded library ran")
        for name in (b"LD_PRELOAD", b"LD_LIBRARY_PATH", b"FOO", b"TANDEM_TEST_PROBE",
                     b"BASH_ENV"):
            self.assertNotIn(name + b"=", out)
        assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)


if __name__ == "__main__":
    unittest.main()
