"""tandem-replay play and cat: pace, keys, a restored terminal, and the
terminal-safe filter on real recordings.

Recordings come from bench/gen_recordings.c (the real writer, chain and
seal), built here against the tree's libtandem.a; play runs on a real PTY.
"""
import fcntl
import os
import pty
import select
import shutil
import signal
import subprocess
import tempfile
import termios
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("TANDEM_BUILD", "build"))
REPLAY = os.path.join(BUILD, "bin", "tandem-replay")
ESCAPES = os.path.join(ROOT, "tests", "data", "escapes")


class Recordings:
    """A temp dir with a signing key and the generator built for it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tdm-replay-")
        self.key = os.path.join(self.dir, "key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        "bastion1", "-f", self.key], check=True)
        self.gen = os.path.join(self.dir, "gen_recordings")
        libs = subprocess.run(["pkg-config", "--libs", "libzstd", "libcrypto",
                               "jansson", "libssh", "libseccomp", "uuid"],
                              check=True, stdout=subprocess.PIPE, text=True).stdout.split()
        # The sanitizer build's library needs its runtime linked in too.
        san = (["-fsanitize=address,undefined"]
               if os.path.basename(os.path.normpath(BUILD)) == "asan" else [])
        subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-I" + os.path.join(ROOT, "common"),
                        os.path.join(ROOT, "bench", "gen_recordings.c"),
                        os.path.join(BUILD, "libtandem.a")] + libs + san +
                       ["-lpthread", "-o", self.gen], check=True)

    def make(self, sub, count=1, seed=1, pace_ms=0, output=None, commands=0,
             no_command_every=0, pad=0):
        argv = [self.gen, os.path.join(self.dir, sub), str(count), self.key,
                "--seed", str(seed)]
        if pad:
            argv += ["--command-pad", str(pad)]
        if commands:
            argv += ["--commands", str(commands)]
        if no_command_every:
            argv += ["--no-command-every", str(no_command_every)]
        if pace_ms:
            argv += ["--pace-ms", str(pace_ms)]
        if output:
            argv += ["--output", output]
        p = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True)
        return p.stdout.split()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def hostile_samples():
    return sorted(f[:-4] for f in os.listdir(ESCAPES)
                  if f.endswith(".txt") and f != "benign.txt")


class Pty:
    """tandem-replay on a PTY; termios is read through the master."""

    def __init__(self, argv):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x18\x00\x50\x00\x00\x00\x00\x00")
        self.before = termios.tcgetattr(slave)
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.out = b""

    def read(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([self.master], [], [], max(0, end - time.time()))
            if not r:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.out += chunk

    def termios_now(self):
        return termios.tcgetattr(self.master)

    def wait(self, timeout=10):
        end = time.time() + timeout
        while self.proc.poll() is None and time.time() < end:
            self.read(0.05)
        return self.proc.wait(max(0.1, end - time.time()))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


class ReplayPlayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rec = Recordings()
        # Events about 0.15 s apart, so pace and pauses can be seen.
        cls.paced = cls.rec.make("paced", pace_ms=150, seed=3, commands=4)[0]

    @classmethod
    def tearDownClass(cls):
        cls.rec.close()

    def play_on_pty(self, *args):
        t = Pty([REPLAY, "play", self.paced] + list(args))
        self.addCleanup(t.close)
        return t

    def assert_restored(self, t):
        self.assertEqual(t.termios_now(), t.before,
                         "play left the terminal changed")

    def test_play_is_raw_while_playing_and_q_restores_the_terminal(self):
        t = self.play_on_pty("--speed", "0.2")
        t.read(0.6)
        lflag = t.termios_now()[3]
        self.assertEqual(lflag & (termios.ICANON | termios.ECHO), 0,
                         "the terminal is not in raw mode during play")
        os.write(t.master, b"q")
        self.assertEqual(t.wait(), 0)
        self.assert_restored(t)

    def test_play_runs_in_the_seccomp_sandbox(self):
        t = self.play_on_pty("--speed", "0.2")
        t.read(0.6)
        self.assertIsNone(t.proc.poll(), t.out)
        with open(f"/proc/{t.proc.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        self.assertEqual(status["Seccomp"].strip(), "2", "play is not in a filter")
        self.assertEqual(status["NoNewPrivs"].strip(), "1")
        os.write(t.master, b"q")
        self.assertEqual(t.wait(), 0)
        self.assert_restored(t)

    def test_space_pauses_and_dot_steps_one_event(self):
        t = self.play_on_pty("--speed", "0.5")
        t.read(0.8)
        os.write(t.master, b" ")
        t.read(0.3)
        held = len(t.out)
        t.read(1.2)
        self.assertEqual(len(t.out), held, "output went on while paused")
        os.write(t.master, b".")
        t.read(0.5)
        stepped = len(t.out)
        self.assertGreater(stepped, held, "'.' showed nothing")
        t.read(0.8)
        self.assertEqual(len(t.out), stepped, "'.' did more than one step")
        os.write(t.master, b" ")
        self.assertEqual(t.wait(30), 0)
        self.assertIn(b"line 1 of the output", t.out)
        self.assert_restored(t)

    def test_signals_end_play_with_the_terminal_restored(self):
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            with self.subTest(signal=sig):
                t = Pty([REPLAY, "play", self.paced, "--speed", "0.2"])
                try:
                    t.read(0.5)
                    t.proc.send_signal(sig)
                    t.wait()
                    self.assert_restored(t)
                finally:
                    t.close()

    def test_ctrl_c_key_quits(self):
        t = self.play_on_pty("--speed", "0.2")
        t.read(0.5)
        os.write(t.master, b"\x03")
        self.assertEqual(t.wait(), 0)
        self.assert_restored(t)

    def test_quitting_early_still_warns_of_tampering(self):
        # The altered part may be just what was shown before 'q'.
        bad = os.path.join(self.rec.dir, "tampered.cast.zst")
        with open(self.paced, "rb") as f:
            data = bytearray(f.read())
        data[-40] ^= 0x01  # inside the seal, read last
        with open(bad, "wb") as f:
            f.write(data)
        for key in (b"q", b"\x03"):
            with self.subTest(key=key):
                t = Pty([REPLAY, "play", bad, "--speed", "0.2"])
                try:
                    t.read(0.5)
                    os.write(t.master, key)
                    self.assertEqual(t.wait(), 0)
                    self.assertIn(b"is TAMPERED", t.out)
                finally:
                    t.close()

    def test_ctrl_z_leaves_play_usable(self):
        # Here play leads its own session, so the kernel discards the stop
        # (an orphaned process group); in a shell it stops.  Either way the
        # terminal is handed back and raw mode comes back after.
        t = self.play_on_pty("--speed", "0.2")
        t.read(0.5)
        os.write(t.master, b"\x1a")
        t.read(0.5)
        self.assertIsNone(t.proc.poll())
        self.assertEqual(t.termios_now()[3] & termios.ICANON, 0)
        os.write(t.master, b"q")
        self.assertEqual(t.wait(), 0)
        self.assert_restored(t)

    def test_pace_follows_speed_and_idle_limit(self):
        def timed(*args):
            t0 = time.time()
            p = subprocess.run([REPLAY, "play", self.paced] + list(args),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            return time.time() - t0, p.stdout

        normal, out1 = timed()
        fast, out2 = timed("--speed", "4")
        capped, out3 = timed("--idle-limit", "0.01")
        self.assertGreater(normal, 0.5, "play did not honour event times")
        self.assertLess(fast, normal / 2)
        self.assertLess(capped, normal / 2)
        # Piped, play writes what cat writes.
        cat = subprocess.run([REPLAY, "cat", self.paced], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, check=True).stdout
        self.assertEqual(out1, cat)
        self.assertEqual(out2, cat)
        self.assertEqual(out3, cat)

    def test_bad_speed_is_a_usage_error_naming_the_fix(self):
        p = subprocess.run([REPLAY, "play", self.paced, "--speed", "fast"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--speed 2", p.stderr)


class ReplayFilterTest(unittest.TestCase):
    """Every sample in tests/data/escapes/, recorded, then cat and play."""

    @classmethod
    def setUpClass(cls):
        cls.rec = Recordings()
        cls.made = {}
        for i, name in enumerate(hostile_samples() + ["benign"]):
            cls.made[name] = cls.rec.make("s-" + name, seed=100 + i,
                                          output=os.path.join(ESCAPES, name + ".txt"))[0]

    @classmethod
    def tearDownClass(cls):
        cls.rec.close()

    def expected(self, name):
        with open(os.path.join(ESCAPES, name + ".expected"), "rb") as f:
            return f.read()

    def sample(self, name):
        with open(os.path.join(ESCAPES, name + ".txt"), "rb") as f:
            return f.read()

    def run_replay(self, *argv):
        p = subprocess.run([REPLAY] + list(argv), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def test_cat_and_play_strip_every_hostile_sample(self):
        for name in hostile_samples():
            with self.subTest(sample=name):
                path = self.made[name]
                for argv in (["cat", path], ["play", path, "--idle-limit", "0"]):
                    p = self.run_replay(*argv)
                    self.assertIn(self.expected(name), p.stdout)
                    for bad in (b"\x1b]", b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX",
                                b"\x9b", b"\x9d", b"\xc2\x9b", b"\x07", b"\x05",
                                b"**\x18", b"\x1b[>", b"\x1b[c", b"\x1b[6n"):
                        self.assertNotIn(bad, p.stdout, f"{argv[0]} let {bad!r} through")
                    self.assertIn(b"left out", p.stderr)

    def test_raw_keeps_the_sequences(self):
        p = self.run_replay("cat", self.made["osc52-clipboard"], "--raw")
        self.assertIn(self.sample("osc52-clipboard"), p.stdout)

    def test_benign_colours_survive_cat(self):
        p = self.run_replay("cat", self.made["benign"])
        self.assertIn(self.expected("benign"), p.stdout)
        self.assertNotIn(b"left out", p.stderr)


if __name__ == "__main__":
    unittest.main()
