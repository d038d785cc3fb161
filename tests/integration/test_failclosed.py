"""The recording fails closed: when it cannot be written, nothing more is relayed."""
import base64
import os
import subprocess
import time
import unittest

from testbed import Bed, Recording, Term, TARGET_USER

bed = None


def setUpModule():
    global bed
    # 1 MiB for recordings: the header fits, a flood of output does not.
    bed = Bed(os.environ.get("TANDEM_BUILD", "build"), recordings_kb=1024)


def tearDownModule():
    if bed:
        bed.stop()


class FailClosed(unittest.TestCase):
    def test_full_disk_freezes_session_and_tells_engineer(self):
        before = bed.recordings_now()
        # ~40 MB of base64 noise compresses to ~30 MB: far past 1 MiB.
        p = bed.ssh_approved("db01", "for i in 1 2 3; do echo slow-line-$i; sleep 0.3; done; "
                    "head -c 30000000 /dev/urandom | base64 -w 76; "
                    "echo SHOULD-NOT-ARRIVE")
        self.assertEqual(p.returncode, 255)
        err = p.stderr.decode()
        self.assertIn("recording cannot be written", err)
        self.assertIn("No space left on device", err)
        self.assertNotIn(b"SHOULD-NOT-ARRIVE", p.stdout)
        self.assertLess(len(p.stdout), 40000000)

        path = bed.new_recording(before)
        # Only whole frames were written: the file decompresses cleanly,
        # and what it holds is what the engineer saw, from the start.
        z = subprocess.run(["zstd", "-tq", path], stderr=subprocess.PIPE)
        self.assertEqual(z.returncode, 0, z.stderr)
        rec = Recording(path)
        recorded = rec.stream("o")
        self.assertIn(b"slow-line-3", recorded)
        self.assertTrue(p.stdout.startswith(recorded))

    def test_decision_that_cannot_be_recorded_is_never_sent(self):
        m = os.path.join("/home", TARGET_USER, "failclosed-marker")
        if os.path.exists(m):
            os.unlink(m)
        filler = os.path.join(bed.recordings, "filler")
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.expect(r"\$ $")
            noise = base64.b64encode(os.urandom(6000)).decode()
            t.send(f"touch {m}; : {noise}\r")
            t.expect(r"#1 waiting for escort")
            # The recordings filesystem fills up before the escort decides.
            # (The decision repeats the long command, so it needs new pages
            # on the filesystem, not just the slack of the file's last one.)
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while os.write(fd, b"\0" * 4096) > 0:
                    pass
            except OSError:
                pass
            os.close(fd)
            p = bed.escort("approve", bed.pending()[0]["session"], "1")
            self.assertNotEqual(p.returncode, 0)
            t.expect(r"recording cannot be written")
            self.assertEqual(t.wait(), 255)
            time.sleep(0.5)
            # Write-ahead: without its decision on disk, nothing was sent.
            self.assertFalse(os.path.exists(m))
        finally:
            t.close()
            if os.path.exists(filler):
                os.unlink(filler)


if __name__ == "__main__":
    unittest.main()
