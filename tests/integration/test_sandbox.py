"""The recorder's seccomp sandbox: forbidden calls kill it, the record stays."""
import os
import shutil
import subprocess
import time
import unittest

from testbed import Bed, Recording, Term, ROOT

bed = None


def setUpModule():
    global bed
    build = os.environ.get("TANDEM_BUILD", "build")
    bed = Bed(build)
    probe = os.path.join(ROOT, build, "probe", "tandem-recorder")
    shutil.copy(probe, os.path.join(bed.bin, "tandem-recorder-probe"))


def tearDownModule():
    if bed:
        bed.stop()


def use_probe(what):
    """alice's forced command: the test build that tries `what` once."""
    line = (f'restrict,pty,command="TANDEM_TEST_PROBE={what} '
            f'{bed.bin}/tandem-recorder-probe --config {bed.policy} --engineer alice" '
            f'{bed.users["alice"][1]}\n')
    with open(os.path.join(bed.dir, "authkeys", "tandem"), "w") as f:
        f.write(line)


class Sandbox(unittest.TestCase):
    def tearDown(self):
        bed.render_authorized_keys()

    def probe(self, what):
        use_probe(what)
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.expect(r"\$ $")
            t.send(f"echo probe-{what}\r")
            item = bed.pending()[0]
            self.assertEqual(item["command"], f"echo probe-{what}")
            # The recorder dies as it acts on the approval: no confirmation.
            p = bed.escort("approve", item["session"], str(item["seq"]))
            self.assertEqual(p.returncode, 1, p.stderr)
            t.wait(15)
            self.assertIsNotNone(t.proc.poll(), "the session should have ended")
            self.assertNotIn(f"probe-{what}\r\n".encode(), t.out.split(b"echo")[-1])
        finally:
            t.close()
        path = bed.new_recording(before)
        v = subprocess.run([os.path.join(bed.bin, "tandem-replay"), "verify", "--key",
                            bed.signing_key + ".pub", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Cut short, so unsealed; but intact, with the decision on disk.
        self.assertEqual(v.returncode, 3, v.stdout + v.stderr)
        labels = [m.split("\t")[0] for m in Recording(path).markers()]
        self.assertIn(f"approved #1 by bob: echo probe-{what}", labels)
        self.assertNotIn(f"echo probe-{what}".encode(), Recording(path).stream("i"))
        deadline = time.time() + 5
        while os.listdir(bed.sessions) and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(os.listdir(bed.sessions), [])

    def test_open_kills_the_sandboxed_recorder(self):
        self.probe("open")

    def test_execve_kills_the_sandboxed_recorder(self):
        self.probe("execve")

    def test_socket_kills_the_sandboxed_recorder(self):
        self.probe("socket")

    def test_connect_kills_the_sandboxed_recorder(self):
        self.probe("connect")

    def test_without_a_probe_the_same_build_runs_normally(self):
        use_probe("none")
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.expect(r"\$ $")
            t.send("echo fine\r")
            bed.decide_next()
            t.expect(r"fine\r\n")
            t.send("exit\r")
            bed.decide_next()
            self.assertEqual(t.wait(), 0)
        finally:
            t.close()


if __name__ == "__main__":
    unittest.main()
