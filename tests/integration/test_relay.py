"""The relay and the recording, through a real bastion sshd to a real target."""
import hashlib
import json
import os
import re
import socket
import subprocess
import time
import unittest

from testbed import Bed, Recording, Term, TARGET_USER, asciinema_cat, free_port

bed = None


def setUpModule():
    global bed
    bed = Bed(os.environ.get("TANDEM_BUILD", "build"))


def tearDownModule():
    if bed:
        bed.stop()


def target_home(name):
    return os.path.join("/home", TARGET_USER, name)


class Relay(unittest.TestCase):
    def test_interactive_session_reaches_target_and_returns_output(self):
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.send("echo reached-$((6*7)) $(id -un)\r")
            bed.decide_next()
            t.expect(rf"reached-42 {TARGET_USER}")
            t.send("exit 7\r")
            bed.decide_next()
            self.assertEqual(t.wait(), 7)
        finally:
            t.close()
        rec = Recording(bed.new_recording(before))
        h = rec.header
        self.assertEqual(h["version"], 2)
        self.assertEqual(h["title"], "alice@db01")
        self.assertEqual(h["env"]["TERM"], "xterm-256color")
        tdm = h["tandem"]
        self.assertEqual(tdm["engineer"], "alice")
        self.assertEqual(tdm["target"], "db01")
        self.assertEqual(tdm["address"], "127.0.0.1")
        self.assertEqual(tdm["attrs"], {"country": "US", "clearance": "secret"})
        self.assertIsNone(tdm["command"])
        self.assertIn(os.path.basename(rec.path), tdm["session"] + ".cast.zst")
        self.assertIn(b"reached-42", rec.stream("o"))
        self.assertIn(b"echo reached-$((6*7))", rec.stream("i"))
        marks = rec.markers()
        self.assertTrue(marks[0].startswith("session start: alice@db01"), marks)
        self.assertTrue(marks[-1].startswith("session end:"), marks)
        self.assertIn("exit 7", marks[-1])

    def test_recording_path_modes_and_group(self):
        before = bed.recordings_now()
        p = bed.ssh_approved("db01", "true")
        self.assertEqual(p.returncode, 0, p.stderr)
        path = bed.new_recording(before)
        rel = os.path.relpath(path, bed.recordings).split(os.sep)
        t = time.gmtime()
        self.assertEqual(rel[:3], [time.strftime("%Y", t), time.strftime("%m", t),
                                   time.strftime("%d", t)])
        self.assertRegex(rel[3], r"^[0-9a-f-]{36}\.cast\.zst$")
        st = os.stat(path)
        self.assertEqual(st.st_mode & 0o7777, 0o640)
        import grp
        self.assertEqual(grp.getgrgid(st.st_gid).gr_name, "tandem-audit")
        d = os.stat(os.path.dirname(path))
        self.assertEqual(d.st_mode & 0o7777, 0o2750)

    def test_noninteractive_stdin_arrives_intact_and_is_recorded(self):
        data = os.urandom(300 * 1024) + "Grüße\n".encode() + bytes(range(256))
        dest = target_home("upload.bin")
        if os.path.exists(dest):
            os.unlink(dest)
        before = bed.recordings_now()
        p = bed.ssh_approved("db01", f"cat > {dest}", input=data)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), data)
        rec = Recording(bed.new_recording(before))
        self.assertEqual(rec.header["tandem"]["command"], f"cat > {dest}")
        self.assertEqual(rec.stream("i"), data)

    def test_remote_exit_status_is_returned(self):
        p = bed.ssh_approved("db01", "exit 42")
        self.assertEqual(p.returncode, 42)

    def test_wrong_pinned_host_key_refuses_and_records_attempt(self):
        before = bed.recordings_now()
        p = bed.ssh("db02", "touch " + target_home("db02-marker"))
        self.assertEqual(p.returncode, 255)
        err = p.stderr.decode()
        self.assertIn("host key", err)
        self.assertIn("db02", err)
        self.assertEqual(err.strip().count("\n"), 0, err)
        self.assertFalse(os.path.exists(target_home("db02-marker")))
        rec = Recording(bed.new_recording(before))
        self.assertTrue(any(m.startswith("refused:") and "host key" in m
                            for m in rec.markers()), rec.markers())

    def test_ungranted_target_is_refused_with_255(self):
        before = bed.recordings_now()
        p = bed.ssh("db03", "touch " + target_home("db03-marker"))
        self.assertEqual(p.returncode, 255)
        self.assertIn("does not grant", p.stderr.decode())
        self.assertFalse(os.path.exists(target_home("db03-marker")))
        self.assertEqual(bed.recordings_now(), before)

    def test_unknown_target_is_refused_with_255(self):
        p = bed.ssh("nosuch", "true")
        self.assertEqual(p.returncode, 255)
        self.assertIn("no target nosuch", p.stderr.decode())

    def test_engineer_without_required_attribute_is_refused(self):
        p = bed.ssh("db01", "touch " + target_home("mallory-marker"), who="mallory")
        self.assertEqual(p.returncode, 255)
        self.assertIn("clearance=secret", p.stderr.decode())
        self.assertFalse(os.path.exists(target_home("mallory-marker")))

    def test_no_target_lists_granted_targets(self):
        p = bed.ssh()
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        for name in ("db01", "db02", "web-1"):
            self.assertIn(f"  {name}\n", out)
        self.assertNotIn("db03", out)

    def test_sftp_and_scp_are_refused(self):
        p = subprocess.run(["sftp", "-F", "/dev/null", "-b", "-",
                            "-i", bed.users["alice"][0], "-o", "IdentitiesOnly=yes",
                            "-o", f"UserKnownHostsFile={bed.known_hosts}",
                            "-o", "BatchMode=yes", "-P", str(bed.bastion.port),
                            "tandem@127.0.0.1"], input=b"ls\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        src = os.path.join(bed.dir, "scp-src")
        with open(src, "w") as f:
            f.write("x")
        p = subprocess.run(["scp", "-O", "-F", "/dev/null", "-i", bed.users["alice"][0],
                            "-o", "IdentitiesOnly=yes",
                            "-o", f"UserKnownHostsFile={bed.known_hosts}",
                            "-o", "BatchMode=yes", "-P", str(bed.bastion.port),
                            src, "tandem@127.0.0.1:db01/scp-dst"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"file transfer", p.stderr)

    def test_remote_forwarding_is_refused(self):
        port = free_port()
        p = subprocess.run(bed.ssh_argv(extra=["-o", "ExitOnForwardFailure=yes",
                                               "-R", f"127.0.0.1:{port}:127.0.0.1:22"])
                           + ["db01", "true"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(p.returncode, 255, p.stderr)
        self.assertIn(b"forwarding", p.stderr)

    def test_local_forwarding_carries_nothing(self):
        port = free_port()
        t = Term(bed.ssh_argv(tty=True, extra=["-L", f"127.0.0.1:{port}:127.0.0.1:"
                                               f"{bed.target.port}"]) + ["db01"])
        try:
            t.send("echo forwarding-$((2*3))\r")
            bed.decide_next()
            t.expect("forwarding-6")
            with socket.create_connection(("127.0.0.1", port), 5) as c:
                c.settimeout(5)
                # A real forward would bring the target's SSH banner.
                self.assertEqual(c.recv(100), b"")
            t.send("exit\r")
            bed.decide_next()
            t.wait()
        finally:
            t.close()

    def test_asciinema_cat_reproduces_output_byte_for_byte(self):
        script = ("printf '\\033[1;31mred\\033[0m plain\\r\\n'; "
                  "printf 'Grüße, 世界 — done\\n'; seq 1 2000; "
                  "printf 'tail without newline'")
        before = bed.recordings_now()
        p = bed.ssh_approved("db01", script)
        self.assertEqual(p.returncode, 0, p.stderr)
        path = bed.new_recording(before)
        cat = asciinema_cat(path)
        self.assertEqual(cat.returncode, 0, cat.stderr)
        self.assertEqual(cat.stdout, p.stdout)

    def test_asciinema_cat_reproduces_interactive_session(self):
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.send("printf '\\033[32mgreen\\033[0m %s\\n' ünïcode; exit\r")
            bed.decide_next()
            self.assertEqual(t.wait(), 0)
        finally:
            t.close()
        rec = bed.new_recording(before)
        cat = asciinema_cat(rec)
        self.assertEqual(cat.returncode, 0, cat.stderr)
        self.assertIn("\x1b[32mgreen\x1b[0m ünïcode".encode(), cat.stdout)
        # The engineer's screen also shows tandem's own line editor; what
        # the target sent is exactly what asciinema reproduces.
        self.assertEqual(cat.stdout, Recording(rec).stream("o"))
        self.assertIn("\x1b[32mgreen\x1b[0m ünïcode\r\n".encode(), t.out)

    def test_the_banner_reaches_the_engineer_with_plain_line_ends(self):
        t = bed.shell(unwatched=True)
        try:
            banner = t.out[:t.out.index(b"no escort attached")]
            self.assertIn(b"is recorded; each command waits", banner)
            # Written after the bastion's terminal is raw: its CR LF is not
            # turned into CR CR LF.
            self.assertNotIn(b"\r\r\n", t.out)
            self.assertIn(b"approval.\r\n", banner)
        finally:
            t.close()

    def test_resize_is_forwarded_and_recorded(self):
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"], cols=80, rows=24)
        try:
            t.send("stty size\r")
            bed.decide_next()
            t.expect(r"24 80")
            t.resize(100, 30)
            time.sleep(0.5)
            t.send("stty size\r")
            bed.decide_next()
            t.expect(r"30 100")
            t.send("exit\r")
            bed.decide_next()
            t.wait()
        finally:
            t.close()
        rec = Recording(bed.new_recording(before))
        self.assertEqual((rec.header["width"], rec.header["height"]), (80, 24))
        self.assertIn("100x30", [e[2] for e in rec.events if e[1] == "r"])

    def test_kill_9_of_recorder_leaves_recording_decompressible(self):
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.send("echo before-the-crash-$((1+1))\r")
            bed.decide_next()
            t.expect(r"before-the-crash-2")
            time.sleep(0.8)  # past the test bed's 200ms flush interval
            pids = bed.recorder_pids()
            self.assertEqual(len(pids), 1, pids)
            os.kill(int(pids[0]), 9)
            t.wait()
        finally:
            t.close()
        path = bed.new_recording(before)
        z = subprocess.run(["zstd", "-dcq", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        self.assertEqual(z.returncode, 0, z.stderr)
        rec = Recording(path)
        self.assertIn(b"before-the-crash-2", rec.stream("o"))
        self.assertFalse(any(m.startswith("session end") for m in rec.markers()))

    def kill_and_see_it_recorded(self, path, reason):
        """Escort bob kills the one live session; its recording, at path,
        must then say so within 20 s, whatever the engineer is doing."""
        sid = [f[:-5] for f in os.listdir(bed.sessions) if f.endswith(".sock")]
        self.assertEqual(len(sid), 1, sid)
        k = bed.escort("kill", sid[0], "--reason", reason, timeout=30)
        self.assertEqual(k.returncode, 0, k.stderr)
        deadline = time.time() + 20
        while time.time() < deadline:
            if b"session end: killed" in Recording(path, allow_truncated=True).text:
                break
            time.sleep(0.5)
        self.assertIn(b"session end: killed", Recording(path, allow_truncated=True).text)

    def test_an_engineer_who_stops_reading_holds_up_only_their_output(self):
        # The engineer's ssh is stopped mid-flood (as ~^Z or a stalled
        # network would): the escort can still kill the session, and the
        # recording is finished and sealed without waiting for them.
        import signal
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        stopped = False
        try:
            t.expect(r"\$ $")
            t.send("yes stalled-line | head -c 200000000\r")
            bed.decide_next()
            t.expect(r"stalled-line\r\n")
            os.kill(t.proc.pid, signal.SIGSTOP)
            stopped = True
            time.sleep(2)  # the terminal, sshd and the socket fill up
            path = bed.new_recording(before)
            self.kill_and_see_it_recorded(path, "stalled")
            self.assertIsNone(t.proc.poll())  # still stopped all along
            # Resumed within the recorder's 5 s give-up, the engineer gets
            # what was held for them, still in the relay's raw mode (no
            # newline turned into CR LF by the bastion's PTY), and then
            # the notice of the kill.
            os.kill(t.proc.pid, signal.SIGCONT)
            stopped = False
            t.expect(r"escort bob ended this session: stalled", timeout=30)
            t.wait(30)
            flood = t.out[t.out.index(b"stalled-line\r\n"):]
            self.assertGreater(flood.count(b"stalled-line\r\n"), 1000)
            # tandem's own notices start with CR LF, and one that falls
            # between a line's CR and its LF makes CR CR LF of its own:
            # only the target's bytes are looked at.
            bare = re.sub(rb"\r\n\x1b\[1m\[tandem\]\x1b\[0m [^\r\n]*\r\n", b"", flood)
            self.assertEqual(bare.count(b"\r\r\n"), 0, "a newline became CR CR LF")
            rec = Recording(path)
            self.assertIn("killed by bob (stalled)", [m.split("\t")[0] for m in rec.markers()])
            # The target was held back, not read into the bastion's memory.
            end = [m for m in rec.markers() if m.startswith("session end")][0]
            self.assertLess(json.loads(end.split("\t", 1)[1])["bytes_out"], 50_000_000)
            v = subprocess.run([os.path.join(bed.bin, "tandem-replay"), "verify", "--key",
                                bed.signing_key + ".pub", path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        finally:
            if stopped:
                os.kill(t.proc.pid, signal.SIGCONT)
            t.close()

    def test_without_a_terminal_an_engineer_who_reads_nothing_cannot_stall_it(self):
        # Output on stdout and stderr, read by nobody: the escort can still
        # kill the session, and it ends without waiting for them.
        before = bed.recordings_now()
        p = subprocess.Popen(bed.ssh_argv() + ["db01", "yes out-line & yes err-line >&2"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            bed.decide_next()
            path = bed.new_recording(before)
            time.sleep(3)  # both pipes, sshd and the socket fill up
            self.kill_and_see_it_recorded(path, "unread")
        finally:
            p.kill()
            p.communicate()

    def test_output_waits_for_a_reader_who_pauses_after_the_command_ends(self):
        # The target finishes long before the engineer's side reads on
        # (a pager, a paused pipe): every byte still arrives, and the
        # command's status with it, 255 (which tandem uses for its own
        # failures too) as well as 0.
        procs = []
        try:
            for status in (0, 255):
                cmd = (f"head -c 3000000 /dev/zero | tr '\\0' x; "
                       f"echo; echo done-$((1+1)); exit {status}")
                procs.append((status, subprocess.Popen(
                    bed.ssh_argv() + ["db01", cmd], stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
                bed.decide_next(expect=cmd)
            time.sleep(8)  # longer than any give-up the recorder has
            for status, p in procs:
                out, err = p.communicate(timeout=60)
                self.assertEqual(p.returncode, status, err)
                self.assertEqual(out, b"x" * 3000000 + b"\ndone-2\n")
        finally:
            for _, p in procs:
                if p.poll() is None:
                    p.kill()
                    p.communicate()

    def test_100mb_random_bytes_through_cat_keep_their_sha256(self):
        src = os.path.join(bed.dir, "random.bin")
        with open(src, "wb") as f:
            for _ in range(100):
                f.write(os.urandom(1 << 20))
        with open(src, "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        before = bed.recordings_now()
        with open(src, "rb") as f:
            p = bed.ssh_approved("db01", "cat", stdin=f)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(p.stdout), 100 << 20)
        self.assertEqual(hashlib.sha256(p.stdout).hexdigest(), want)
        rec = Recording(bed.new_recording(before))
        self.assertEqual(hashlib.sha256(rec.stream("o")).hexdigest(), want)
        self.assertEqual(hashlib.sha256(rec.stream("i")).hexdigest(), want)
        os.unlink(src)


if __name__ == "__main__":
    unittest.main()
