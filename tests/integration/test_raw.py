"""Supervised raw mode: granted by a watching escort, time-boxed, escapable."""
import os
import time
import unittest

from testbed import Bed, Recording, Term

bed = None


def setUpModule():
    global bed
    bed = Bed(os.environ.get("TANDEM_BUILD", "build"), raw_limit="3s")


def tearDownModule():
    if bed:
        bed.stop()


def session_id():
    socks = [f[:-5] for f in os.listdir(bed.sessions) if f.endswith(".sock")]
    assert len(socks) == 1, socks
    return socks[0]


class Raw(unittest.TestCase):
    def setUp(self):
        self.before = bed.recordings_now()
        self.t = Term(bed.ssh_argv(tty=True) + ["web-1"])
        self.t.expect(r"\$ $")
        # Someone must watch for raw mode to exist at all.
        self.esc = Term(bed.ssh_argv("bob", user="escort", tty=True))
        self.t.expect(r"escort bob is watching")

    def tearDown(self):
        self.esc.close()
        self.t.close()

    def start_cat(self):
        self.t.send("cat\r")
        bed.decide_next()
        time.sleep(0.3)

    def test_raw_mode_passes_keys_unapproved_and_records_every_one(self):
        self.start_cat()
        p = bed.escort("raw", session_id(), "on")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.t.expect(r"raw mode granted by bob")
        self.esc.expect(r"RAW MODE")
        self.t.send("typed-raw-1\r")
        self.t.expect(r"typed-raw-1\r\ntyped-raw-1\r\n")
        self.assertEqual(bed.pending(wait=1), [])
        self.t.send("\x04")          # Ctrl-D ends cat, still in raw mode
        self.t.expect(r"\$ $")
        self.t.send("\x1d")          # Ctrl-]: back to line mode
        self.t.expect(r"raw mode ended \(engineer pressed Ctrl-\]\)")
        self.t.send("echo line-again\r")
        self.assertEqual(bed.pending()[0]["command"], "echo line-again")
        bed.decide_next("deny")
        self.t.close()
        rec = Recording(bed.new_recording(self.before))
        labels = [x.split("\t")[0] for x in rec.markers()]
        self.assertIn("raw mode on by bob for cat", labels)
        self.assertIn("raw mode off (engineer pressed Ctrl-])", labels)
        self.assertIn(b"typed-raw-1\r\x04", rec.stream("i"))
        self.assertNotIn(b"line-again", rec.stream("i"))

    def test_raw_mode_refused_for_programs_not_listed(self):
        self.t.send("sleep 0\r")
        bed.decide_next()
        p = bed.escort("raw", session_id(), "on")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"only for the programs", p.stderr)
        self.t.send("cat; touch x\r")
        bed.decide_next()
        p = bed.escort("raw", session_id(), "on")
        self.assertEqual(p.returncode, 1)
        # A first word that ends in "cat" but runs something else first.
        for line in ("/$(echo)/cat /dev/null", "x`true`/cat /dev/null"):
            self.t.send(line + "\r")
            bed.decide_next(expect=line)
            p = bed.escort("raw", session_id(), "on")
            self.assertEqual(p.returncode, 1, line)
            self.assertIn(b"runs none of them", p.stderr)
        self.t.send("\x03")

    def test_raw_mode_is_for_the_program_approved_just_before(self):
        # Ctrl-C may have ended it: no raw mode on that approval.
        self.start_cat()
        self.t.send("\x03")
        self.t.expect(r"\$ $")
        p = bed.escort("raw", session_id(), "on")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"runs none of them", p.stderr)
        # Another line since, even one denied: nor on that one.
        self.start_cat()
        self.t.send("a line for cat\r")
        bed.decide_next("deny")
        p = bed.escort("raw", session_id(), "on")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"runs none of them", p.stderr)
        self.t.send("\x03")

    def test_raw_limit_ends_raw_mode(self):
        self.start_cat()
        self.assertEqual(bed.escort("raw", session_id(), "on").returncode, 0)
        self.t.expect(r"raw mode granted")
        self.t.expect(r"raw mode ended \(raw-limit reached\)", timeout=10)
        self.t.send("after-limit\r")
        self.assertEqual(bed.pending()[0]["command"], "after-limit")
        bed.decide_next("deny")

    def test_keys_read_after_the_raw_limit_wait_for_an_escort(self):
        # Keys that were typed while the recorder was held up (stopped
        # here), and are read only after the time raw mode was granted
        # for, are line mode's: the loop must not pass them before it
        # looks at the clock.
        import signal
        self.start_cat()
        self.assertEqual(bed.escort("raw", session_id(), "on").returncode, 0)
        self.t.expect(r"raw mode granted")
        pid = int(bed.recorder_pids()[0])
        os.kill(pid, signal.SIGSTOP)
        try:
            self.t.send("late-key\r")
            time.sleep(3.5)
        finally:
            os.kill(pid, signal.SIGCONT)
        self.t.expect(r"raw mode ended \(raw-limit reached\)", timeout=10)
        items = bed.pending()
        self.assertEqual([i["command"] for i in items], ["late-key"])
        bed.decide_next("deny")
        self.t.send("\x03")
        self.t.close()
        rec = Recording(bed.new_recording(self.before))
        self.assertNotIn(b"late-key", rec.stream("i"))

    def test_escort_revokes_raw_mode(self):
        self.start_cat()
        sid = session_id()
        self.assertEqual(bed.escort("raw", sid, "on").returncode, 0)
        self.t.expect(r"raw mode granted")
        self.assertEqual(bed.escort("raw", sid, "off").returncode, 0)
        self.t.expect(r"raw mode ended \(revoked by bob\)")

    def test_last_escort_leaving_ends_raw_mode(self):
        self.start_cat()
        self.assertEqual(bed.escort("raw", session_id(), "on").returncode, 0)
        self.t.expect(r"raw mode granted")
        self.esc.proc.kill()
        self.t.expect(r"raw mode ended \(no escort attached\)")
        self.t.send("x\r")
        self.assertEqual(bed.pending()[0]["command"], "x")
        bed.decide_next("deny")


if __name__ == "__main__":
    unittest.main()
