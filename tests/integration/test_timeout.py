"""approval-timeout: a command no escort decides on in time is denied."""
import os
import time
import unittest

from testbed import Bed, Recording, Term, TARGET_USER

bed = None


def setUpModule():
    global bed
    bed = Bed(os.environ.get("TANDEM_BUILD", "build"), approval_timeout="2s",
              idle_timeout="4s")


def tearDownModule():
    if bed:
        bed.stop()


class Timeout(unittest.TestCase):
    def test_timed_out_line_never_reaches_target(self):
        m = os.path.join("/home", TARGET_USER, "gate-timeout")
        if os.path.exists(m):
            os.unlink(m)
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.expect(r"\$ $")
            t.send(f"touch {m}\r")
            t.expect(r"#1 was not approved in time; nothing was sent", timeout=10)
            self.assertEqual(bed.pending(wait=1), [])
            time.sleep(0.5)
            self.assertFalse(os.path.exists(m))
        finally:
            t.close()
        rec = Recording(bed.new_recording(before))
        self.assertTrue(any(x.startswith(f"timeout #1: touch {m}") for x in rec.markers()))
        self.assertNotIn(b"touch", rec.stream("i"))

    def test_idle_session_ends(self):
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.expect(r"\$ $")
            t.expect(r"idle for 4 s; the session ends", timeout=15)
            self.assertEqual(t.wait(), 255)
        finally:
            t.close()
        rec = Recording(bed.new_recording(before))
        self.assertTrue(rec.markers()[-1].startswith("session end: idle"), rec.markers())


if __name__ == "__main__":
    unittest.main()
