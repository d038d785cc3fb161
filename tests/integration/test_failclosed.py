"""The recording fails closed: when it cannot be written, nothing more is relayed."""
import os
import subprocess
import unittest

from testbed import Bed, Recording

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


if __name__ == "__main__":
    unittest.main()
