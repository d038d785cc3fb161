"""Long sessions: the sandboxed recorder survives many rekeys by the target."""
import hashlib
import os
import time
import unittest

from testbed import Bed, Recording, Term

bed = None


def setUpModule():
    global bed
    # Rekey after every 64 KiB or every second: a 30-minute session's
    # worth of rekeys (and more) in well under a minute.
    bed = Bed(os.environ.get("TANDEM_BUILD", "build"),
              target_config="RekeyLimit 64K 1s\n", target_loglevel="DEBUG")


def tearDownModule():
    if bed:
        bed.stop()


class Rekey(unittest.TestCase):
    def test_interactive_session_across_many_rekeys(self):
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.expect(r"\$ $")
            for i in range(12):
                t.send(f"seq 1 {2000 + i}; echo round-{i}-done\r")
                bed.decide_next()
                t.expect(rf"\r\nround-{i}-done\r\n", timeout=30)
                time.sleep(1.1)   # past the time limit: one more rekey
            t.send("exit\r")
            bed.decide_next()
            self.assertEqual(t.wait(), 0)
        finally:
            t.close()
        rec = Recording(bed.new_recording(before))
        self.assertTrue(rec.markers()[-1].startswith("session end: target closed"))
        with open(bed.target.log, errors="replace") as f:
            log = f.read()
        # The target really did rekey, many times, in this session.
        self.assertGreater(log.count("SSH2_MSG_KEXINIT sent"), 12)

    def test_bulk_transfer_across_rekeys_is_exact(self):
        data = os.urandom(8 << 20)
        p = bed.ssh_approved("db01", "cat", input=data)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(hashlib.sha256(p.stdout).hexdigest(),
                         hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    unittest.main()
