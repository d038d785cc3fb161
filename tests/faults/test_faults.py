"""Faults: processes killed at random points, a full or read-only disk, a
failing fdatasync, a slow escort and floods of input and output.  After
each, faultlib.check proves what the recording and the target hold.

Covered elsewhere, not repeated here: a full disk during a flood and a
decision that cannot be written (integration/test_failclosed.py), the
recorder killed by its sandbox right after an approval
(integration/test_sandbox.py), an escort console killed mid-approval
(integration/test_console.py).
"""
import json
import os
import secrets
import random
import signal
import subprocess
import threading
import time
import unittest

from faultlib import (Escort, FaultBed, SANITIZED, assert_promises, descendants,
                      kill9, load_events, one_recorder, recorder_pids, rss_kb,
                      shell, wait_gone)
from testbed import Recording, Term

bed = None
rng = random.Random(int(os.environ.get("TANDEM_FAULT_SEED", "1")))


def setUpModule():
    global bed
    # A filesystem of its own for the recordings, to fill and to make
    # read-only; 16 MiB holds every scenario's recordings.
    bed = FaultBed(recordings_kb=16384)


def tearDownModule():
    if bed:
        bed.stop()


def echoed(word):
    """What `echo WORD` prints, not the command line that shows it."""
    return rf"(?<!echo ){word}\r\n"


def tapped(text):
    """True if any terminal on the target received `text`."""
    return any(text.encode() in bed.tap(n) for n in bed.taps() if n.startswith("tty."))


class Kill9(unittest.TestCase):
    def tearDown(self):
        bed.render_authorized_keys()

    def session_under_fire(self, victim, rounds=3):
        """Lines typed and approved while `victim()` is killed at a random
        moment; `victim` returns the PID to kill."""
        for rnd in range(rounds):
            snap = bed.snapshot()
            esc = Escort(bed)
            t = shell(bed)
            rec_pid = one_recorder(bed)
            pid = victim(t)
            delay = rng.uniform(0.2, 4.0)
            killer = threading.Timer(delay, kill9, (pid,))
            killer.start()
            try:
                for i in range(30):
                    if t.proc.poll() is not None or not os.path.exists(f"/proc/{rec_pid}"):
                        break
                    try:
                        t.send(f"echo fire-{rnd}-{i}\r")
                    except OSError:
                        break
                    esc.next(wait=3)
            finally:
                killer.join()
                wait_gone([rec_pid])
                t.close()
            yield snap, esc, delay

    def test_kill9_recorder_at_random_points(self):
        for snap, esc, delay in self.session_under_fire(lambda t: one_recorder(bed)):
            with self.subTest(delay=delay):
                assert_promises(self, bed, snap, escort=esc, sealed=False,
                                expect_recordings=1)
                # Its reaper removes the escort socket it left.
                deadline = time.time() + 5
                while os.listdir(bed.sessions) and time.time() < deadline:
                    time.sleep(0.05)
                self.assertEqual(os.listdir(bed.sessions), [])

    def test_kill9_engineer_ssh_at_random_points(self):
        for snap, esc, delay in self.session_under_fire(lambda t: t.proc.pid):
            with self.subTest(delay=delay):
                # The recorder outlives its engineer and seals the record.
                v = assert_promises(self, bed, snap, escort=esc, sealed=True,
                                    expect_recordings=1)
                _h, events, _rc = load_events(v.recordings[0][0])
                self.assertIn("engineer left", events[-1][2])

    def test_kill9_between_decision_and_send(self):
        """The decision is on disk; the recorder dies before a byte is sent."""
        bed.use_probe("stall")
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            pid = one_recorder(bed)
            t.send("echo stalled-line\r")
            item = esc.pending()[0]
            approve = subprocess.Popen(
                bed.ssh_argv("bob", user="escort") +
                [f"approve {item['session']} {item['seq']}"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            path = bed.new_recording(snap.recordings)
            deadline = time.time() + 20
            while time.time() < deadline:
                labels = [m.split("\t")[0] for m in
                          Recording(path, allow_truncated=True).markers()]
                if "approved #1 by bob: echo stalled-line" in labels:
                    break
                time.sleep(0.05)
            else:
                self.fail("the approval never reached the disk")
            kill9(pid)
            approve.communicate(timeout=30)
            # The escort was never told it was done: it can tell.
            self.assertNotEqual(approve.returncode, 0)
            wait_gone([pid])
        finally:
            t.close()
        v = assert_promises(self, bed, snap, escort=esc, sealed=False, expect_recordings=1)
        rec = Recording(v.recordings[0][0], allow_truncated=True)
        self.assertNotIn(b"stalled-line", rec.stream("i"))
        self.assertFalse(tapped("stalled-line"))

    def test_kill9_escort_ssh_at_random_points(self):
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        console = Term(bed.ssh_argv("bob", user="escort", tty=True), cols=100, rows=30)
        try:
            console.expect(r"alice@db01")
            for i in range(6):
                line = f"echo escort-fire-{i}"
                t.send(line + "\r")
                item = esc.pending()[0]
                self.assertEqual(item["command"], line)
                argv = bed.ssh_argv("bob", user="escort") + [
                    f"approve {item['session']} {item['seq']}"]
                p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                time.sleep(rng.uniform(0.0, 0.6))
                kill9(p.pid)
                p.communicate()
                if p.returncode == 0:
                    esc.confirmed.append((item["session"], item["seq"], line))
                # Killed before or after it was done: either it is still
                # pending and nothing was sent, or it ran once.
                left = esc.pending(wait=1)
                if left:
                    self.assertEqual(left[0]["seq"], item["seq"])
                    self.assertFalse(tapped(line))
                    esc.decide(left[0])
                t.expect(echoed(f"escort-fire-{i}"))
            kill9(console.proc.pid)
            console.close()
            t.send("exit\r")
            esc.next()
            self.assertEqual(t.wait(), 0)
        finally:
            console.close()
            t.close()
        assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)

    def kill_target_sshd(self):
        master = bed.target.proc.pid
        for p in descendants(master) + [master]:
            kill9(p)
        bed.target.proc.wait()

    def test_kill9_target_sshd_at_random_points(self):
        for rnd in range(2):
            snap = bed.snapshot()
            esc = Escort(bed)
            t = shell(bed)
            try:
                pid = one_recorder(bed)
                t.send(f"echo before-{rnd}\r")
                esc.next()
                t.expect(echoed(f"before-{rnd}"))
                if rnd == 0:
                    # A command pending when the target goes away.
                    t.send(f"echo never-{rnd}\r")
                    esc.pending()
                    time.sleep(rng.uniform(0.0, 1.0))
                else:
                    # The target dies while it floods the session.
                    t.send("seq 1 3000000\r")
                    esc.next()
                    time.sleep(rng.uniform(0.2, 1.5))
                self.kill_target_sshd()
                t.expect(r"connection to target db01 failed|target closed|"
                         r"session ends|Connection", timeout=30)
                self.assertEqual(t.wait(30), 255)
                wait_gone([pid])
            finally:
                t.close()
                bed.target.start()
            assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)
            self.assertFalse(tapped(f"never-{rnd}"))


class Disk(unittest.TestCase):
    def tearDown(self):
        bed.render_authorized_keys()
        subprocess.run(["mount", "-o", "remount,rw", bed.recordings])
        filler = os.path.join(bed.recordings, "filler")
        if os.path.exists(filler):
            os.unlink(filler)

    def fill(self):
        fd = os.open(os.path.join(bed.recordings, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 65536) > 0:
                pass
        except OSError:
            pass
        try:
            while os.write(fd, b"\0" * 512) > 0:
                pass
        except OSError:
            pass
        os.close(fd)

    def test_disk_full_mid_session(self):
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            pid = one_recorder(bed)
            for i in range(3):
                t.send(f"echo full-{i}\r")
                esc.next()
                t.expect(echoed(f"full-{i}"))
            self.fill()
            # Output, a new pending line and its decision all need room:
            # more than the slack left in the recording's last block, so
            # the line's text is random (8000 z's compressed to a few
            # bytes, and its pending marker and decision could still fit
            # there, be approved and run: correctly, but not this test).
            noise = secrets.token_urlsafe(6000)
            t.send(f"seq 1 200000; echo after-full {noise}\r")
            esc.next(wait=5)
            t.expect(r"recording cannot be written", timeout=30)
            self.assertEqual(t.wait(30), 255)
            wait_gone([pid])
        finally:
            t.close()
            os.unlink(os.path.join(bed.recordings, "filler"))
        assert_promises(self, bed, snap, escort=esc, expect_recordings=1)
        self.assertFalse(tapped("after-full"))

    def test_read_only_recordings_at_start(self):
        snap = bed.snapshot()
        subprocess.run(["mount", "-o", "remount,ro", bed.recordings], check=True)
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.expect(r"cannot create a recording")
            self.assertEqual(t.wait(20), 255)
        finally:
            t.close()
        p = bed.ssh("db01", "echo ran-without-record")
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"no session runs unrecorded", p.stderr)
        # The target was never even contacted.
        self.assertEqual(bed.taps() - snap.taps, set())
        assert_promises(self, bed, snap, expect_recordings=0)

    def test_fdatasync_failure_at_the_decision(self):
        # The pending line's sync succeeds; the decision's fails.
        bed.use_probe("fdatasync1")
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            t.send("echo synced-never\r")
            item = esc.pending()[0]
            self.assertFalse(esc.decide(item))
            t.expect(r"recording cannot be written")
            self.assertEqual(t.wait(20), 255)
        finally:
            t.close()
        assert_promises(self, bed, snap, escort=esc, sealed=False, expect_recordings=1)
        self.assertFalse(tapped("synced-never"))

    def test_fdatasync_failure_at_the_first_line(self):
        bed.use_probe("fdatasync0")
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            t.send("echo not-even-pending\r")
            t.expect(r"recording cannot be written")
            self.assertEqual(t.wait(20), 255)
            self.assertEqual(esc.pending(wait=1), [])
        finally:
            t.close()
        assert_promises(self, bed, snap, escort=esc, sealed=False, expect_recordings=1)
        self.assertFalse(tapped("not-even-pending"))


class Floods(unittest.TestCase):
    def watch_rss(self, pid, stop, peak):
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.1)

    def count_stream(self, proc, byte):
        """Reads a session's stdout to the end; returns (length, all `byte`)."""
        total, only = 0, True
        while True:
            chunk = proc.stdout.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if only and chunk.strip(byte):
                only = False
        return total, only

    def test_escort_that_stops_reading_while_output_floods(self):
        snap = bed.snapshot()
        esc = Escort(bed)
        console = Term(bed.ssh_argv("bob", user="escort", tty=True), cols=100, rows=30)
        size = 300 << 20
        proc = subprocess.Popen(bed.ssh_argv() + ["db01", f"head -c {size} /dev/zero | tr '\\0' z"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            pid = one_recorder(bed)
            console.expect(r"alice@db01")
            # The escort's ssh stops reading; its terminal and sockets fill.
            os.kill(console.proc.pid, signal.SIGSTOP)
            self.assertIsNotNone(esc.next(wait=20))
            stop, peak = threading.Event(), [0]
            w = threading.Thread(target=self.watch_rss, args=(pid, stop, peak))
            w.start()
            started = time.time()
            total, only = self.count_stream(proc, b"z")
            took = time.time() - started
            stop.set()
            w.join()
            self.assertEqual(proc.wait(60), 0, proc.stderr.read())
            self.assertEqual((total, only), (size, True))
            # Not held back by the escort, and memory stays bounded.
            self.assertLess(took, 300)
            self.assertLess(peak[0], (768 if SANITIZED else 120) * 1024, "recorder RSS kB")
        finally:
            os.kill(console.proc.pid, signal.SIGCONT)
            console.close()
            proc.kill()
            proc.wait()
        v = assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)
        marks = Recording(v.recordings[0][0]).markers()
        labels = [m.split("\t")[0] for m in marks]
        self.assertTrue(any(l.startswith("escort left: bob") for l in labels), labels)
        # The stopped console stayed attached but did not see the flood,
        # and the record says so.
        skipped = [json.loads(m.split("\t", 1)[1])["bytes"] for m in marks
                   if m.startswith("escort skipped: bob ")]
        self.assertEqual(len(skipped), 1, labels)
        self.assertGreater(skipped[0], size // 2)

    def test_10000_lines_typed_as_fast_as_possible(self):
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            pid = one_recorder(bed)
            burst = "".join(f"echo burst-{i:05d}\r" for i in range(10000)).encode()
            started = time.time()
            t.send(burst)
            first = esc.pending(wait=20)
            self.assertEqual(first[0]["command"], "echo burst-00000")
            for i in range(3):
                item = esc.next(expect=f"echo burst-{i:05d}")
                self.assertIsNotNone(item, f"burst-{i:05d} never pending")
                t.expect(echoed(f"burst-{i:05d}"))
            # Typed-ahead lines wait in order, one pending at a time.
            nxt = esc.pending()
            self.assertEqual([(n["seq"], n["command"]) for n in nxt],
                             [(4, "echo burst-00003")])
            self.assertLess(time.time() - started, 120)
            self.assertLess(rss_kb(pid), (768 if SANITIZED else 64) * 1024)
            esc.decide(nxt[0], "deny")
            p = bed.escort("kill", nxt[0]["session"], "--reason", "burst over")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(t.wait(30), 255)
        finally:
            t.close()
        assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)
        self.assertFalse(tapped("burst-00003"))
        self.assertFalse(tapped("burst-09999"))

    def test_target_printing_1gb_without_a_newline(self):
        snap = bed.snapshot()
        esc = Escort(bed)
        size = 1 << 30
        proc = subprocess.Popen(bed.ssh_argv() + ["db01", f"head -c {size} /dev/zero | tr '\\0' x"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            pid = one_recorder(bed)
            self.assertIsNotNone(esc.next(wait=20))
            stop, peak = threading.Event(), [0]
            w = threading.Thread(target=Floods.watch_rss, args=(self, pid, stop, peak))
            w.start()
            total, only = self.count_stream(proc, b"x")
            stop.set()
            w.join()
            self.assertEqual(proc.wait(60), 0, proc.stderr.read())
            self.assertEqual((total, only), (size, True))
            self.assertLess(peak[0], (768 if SANITIZED else 120) * 1024, "recorder RSS kB")
        finally:
            proc.kill()
            proc.wait()
        v = assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)
        # The record holds every byte of it.
        z = subprocess.Popen(["zstd", "-dcq", v.recordings[0][0]], stdout=subprocess.PIPE)
        import json
        recorded = 0
        z.stdout.readline()
        for line in z.stdout:
            e = json.loads(line)
            if e[1] == "o":
                recorded += len(e[2])
                self.assertEqual(e[2].strip("x"), "")
        z.wait()
        self.assertEqual(recorded, size)

    def test_64kib_single_line(self):
        # Typed: the longest line the editor takes reaches the escort and
        # the target byte for byte.
        snap = bed.snapshot()
        esc = Escort(bed)
        t = shell(bed)
        try:
            line = "echo " + "".join(chr(ord("a") + i % 26) for i in range(65536 - 5))
            t.send(line)
            t.send("\r")
            item = esc.pending(wait=60)[0]
            self.assertEqual(item["command"], line)
            esc.decide(item)
            t.expect(r"\$ $", timeout=60)
            t.send("exit\r")
            esc.next()
            t.wait(30)
        finally:
            t.close()
        assert_promises(self, bed, snap, escort=esc, sealed=True, expect_recordings=1)
        self.assertTrue(tapped(line + "\r"))
        # Printed: one 64 KiB line of output, exact on both sides.
        snap = bed.snapshot()
        esc = Escort(bed)
        out = bed.ssh_approved("db01", "head -c 65536 /dev/zero | tr '\\0' y; echo")
        self.assertEqual(out.returncode, 0)
        self.assertEqual(out.stdout, b"y" * 65536 + b"\n")
        v = assert_promises(self, bed, snap, sealed=True, expect_recordings=1)
        self.assertEqual(Recording(v.recordings[0][0]).stream("o"), out.stdout)
        # As a command: the longest one tandem takes runs as approved.
        snap = bed.snapshot()
        cmd = ": " + "q" * (65536 - len("db01 ") - 2)
        out = bed.ssh_approved("db01", cmd)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.pending["command"], cmd)
        assert_promises(self, bed, snap, sealed=True, expect_recordings=1)
        self.assertIn(cmd.encode(), [bed.tap(n) for n in bed.taps() if n.startswith("exec.")])


if __name__ == "__main__":
    unittest.main()
