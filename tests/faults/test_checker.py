"""The check itself: each promise it proves, broken on purpose, is caught.

A real session is recorded, then the evidence is altered the way each fault
would alter it.  These runs do not count in the suite's totals."""
import os
import shutil
import unittest

from faultlib import Escort, FaultBed, check, shell

bed = None


def setUpModule():
    global bed
    bed = FaultBed()


def tearDownModule():
    if bed:
        bed.stop()


class Checker(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.snap = bed.snapshot()
        cls.esc = Escort(bed)
        t = shell(bed)
        try:
            t.send("echo checked\r")
            cls.esc.next()
            t.expect(r"(?<!echo )checked\r\n")
            t.send("exit\r")
            cls.esc.next()
            t.wait(30)
        finally:
            t.close()
        cls.tty = [n for n in bed.taps() - cls.snap.taps if n.startswith("tty.")][0]
        cls.rec = sorted(bed.recordings_now() - cls.snap.recordings)[0]

    def test_untouched_evidence_passes(self):
        v = check(bed, self.snap, escort=self.esc, sealed=True, expect_recordings=1,
                  count=False)
        self.assertEqual(v.problems, [])

    def test_bytes_the_target_got_without_approval_are_counted(self):
        path = os.path.join(bed.tap_dir, self.tty)
        saved = bed.tap(self.tty)
        try:
            with open(path, "ab") as f:
                f.write(b"rm -rf /srv\r")
            v = check(bed, self.snap, escort=self.esc, count=False)
            self.assertEqual(v.unapproved, len(b"rm -rf /srv\r"))
            # Smuggled before an approved line, not after it.
            with open(path, "wb") as f:
                f.write(b"x" + saved)
            v = check(bed, self.snap, escort=self.esc, count=False)
            self.assertEqual(v.unapproved, len(saved) + 1)
        finally:
            with open(path, "wb") as f:
                f.write(saved)

    def test_command_run_without_approval_is_counted(self):
        path = os.path.join(bed.tap_dir, "exec.999999")
        try:
            with open(path, "wb") as f:
                f.write(b"touch /srv/owned")
            v = check(bed, self.snap, count=False)
            self.assertEqual(v.unapproved, len(b"touch /srv/owned"))
        finally:
            os.unlink(path)

    def test_confirmed_approval_missing_from_the_record_is_a_lost_decision(self):
        esc = Escort(bed)
        esc.confirmed = list(self.esc.confirmed) + [(self.esc.confirmed[0][0], 99, "ls")]
        v = check(bed, self.snap, escort=esc, count=False)
        self.assertEqual(v.lost, 1)

    def test_tampered_recording_fails_and_sealed_is_enforced(self):
        saved = self.rec + ".saved"
        shutil.copy(self.rec, saved)
        try:
            with open(self.rec, "r+b") as f:
                data = bytearray(f.read())
                data[len(data) // 2] ^= 0x20
                f.seek(0)
                f.write(data)
            v = check(bed, self.snap, count=False)
            self.assertTrue(any("exit 4" in p for p in v.problems), v.problems)
            # Cut off: a clean prefix, but not the sealed record expected.
            with open(self.rec, "wb") as f:
                f.write(open(saved, "rb").read()[:-200])
            v = check(bed, self.snap, sealed=True, count=False)
            self.assertTrue(any("expected sealed" in p for p in v.problems), v.problems)
        finally:
            os.replace(saved, self.rec)

    def test_approval_seen_in_decisions_is_what_allows_bytes(self):
        # The same tap, checked as though the escort had denied the line:
        # without an approval in the record, its bytes are unapproved.
        from faultlib import approved_bytes, load_events
        _h, events, _ = load_events(self.rec)
        allowed = b"".join(approved_bytes(events, True))
        self.assertEqual(allowed, b"echo checked\rexit\r")
        got = bed.tap(self.tty)
        self.assertEqual(got, allowed)
        denied = [e for e in events if not (e[1] == "m" and e[2].startswith("approved #1"))]
        self.assertEqual(b"".join(approved_bytes(denied, True)), b"exit\r")


if __name__ == "__main__":
    unittest.main()
