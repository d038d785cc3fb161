"""Recordings made through the real bastion: sealed, verifiable, auditable."""
import json
import os
import re
import subprocess
import time
import unittest

from testbed import Bed, Recording, Term

bed = None


def setUpModule():
    global bed
    bed = Bed(os.environ.get("TANDEM_BUILD", "build"))


def tearDownModule():
    if bed:
        bed.stop()


def replay(*args):
    return subprocess.run([os.path.join(bed.bin, "tandem-replay")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)


def policy_with_another_key():
    """A copy of the bed's policy naming a signing key that sealed nothing."""
    other = os.path.join(bed.dir, "other-bastion")
    for f in (other, other + ".pub"):
        if os.path.exists(f):
            os.unlink(f)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other],
                   check=True)
    with open(bed.policy) as f:
        text = f.read()
    conf = os.path.join(bed.dir, "other-policy.conf")
    with open(conf, "w") as f:
        f.write(re.sub(r"(?m)^signing-key .*$", f"signing-key {other}", text))
    return conf


class Record(unittest.TestCase):
    def test_session_recording_is_sealed_and_verifies_with_the_bastion_key(self):
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.expect(r"\$ $")
            t.send("echo sealed\r")
            bed.decide_next()
            t.expect(r"sealed\r\n")
            t.send("rm -rf /tmp/nothing-here\r")
            bed.decide_next("deny", reason="not on my watch")
            t.expect("nothing was sent")
            t.send("exit\r")
            bed.decide_next()
            self.assertEqual(t.wait(), 0)
        finally:
            t.close()
        path = bed.new_recording(before)
        rec = Recording(path)
        self.assertEqual(rec.header["tandem"]["pubkey"].split()[:2],
                         bed.signing_pub.split()[:2])
        v = replay("verify", "--key", bed.signing_key + ".pub", path)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        # An auditor's own tool agrees: stock ssh-keygen checks the seal.
        sig = os.path.join(bed.dir, "seal.sig")
        signers = os.path.join(bed.dir, "allowed_signers")
        with open(signers, "w") as f:
            f.write(f"{rec.header['tandem']['bastion']} namespaces=\"tandem-recording\" "
                    f"{' '.join(bed.signing_pub.split()[:2])}\n")
        s = replay("seal", path, "-o", sig)
        self.assertEqual(s.returncode, 0, s.stderr)
        k = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", signers, "-I",
                            rec.header["tandem"]["bastion"], "-n", "tandem-recording",
                            "-s", sig], input=s.stdout, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        self.assertEqual(k.returncode, 0, k.stdout + k.stderr)
        # The audit list has every decision with its escort and command.
        c = replay("commands", "--json", path)
        self.assertEqual(c.returncode, 0, c.stderr)
        rows = [json.loads(l) for l in c.stdout.decode().splitlines()]
        self.assertEqual([(r["seq"], r["decision"], r["escort"], r["command"]) for r in rows],
                         [(1, "approved", "bob", "echo sealed"),
                          (2, "denied", "bob", "rm -rf /tmp/nothing-here"),
                          (3, "approved", "bob", "exit")])
        self.assertEqual(rows[1]["reason"], "not on my watch")
        for r in rows:
            self.assertEqual((r["engineer"], r["target"]), ("alice", "db01"))

    def test_verify_trusts_the_key_the_policy_names(self):
        before = bed.recordings_now()
        p = bed.ssh_approved("db01", "echo pinned")
        self.assertEqual(p.returncode, 0, p.stderr)
        path = bed.new_recording(before)
        # --config: the policy's signing key is the one trusted.
        v = replay("--config", bed.policy, "verify", path)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn(f"the bastion key in {bed.signing_key}.pub".encode(), v.stdout)
        # A policy naming another bastion key: the seal is not trusted.
        conf = policy_with_another_key()
        v = replay("--config", conf, "verify", path)
        self.assertEqual(v.returncode, 4, v.stdout + v.stderr)
        self.assertIn(b"not the bastion key in", v.stdout)
        # A policy that cannot be read is an error, never a silent fallback.
        v = replay("--config", os.path.join(bed.dir, "no-such.conf"), "verify", path)
        self.assertEqual(v.returncode, 1, v.stdout + v.stderr)
        self.assertIn(b"no-such.conf", v.stderr)
        os.unlink(conf)

    def test_every_subcommand_judges_the_seal_by_the_bastion_key(self):
        # A recording sealed by a key the policy does not name is as
        # TAMPERED in the audit list, a search (with and without an index
        # made under the right key), cat and info as it is to verify.
        import shutil
        import tempfile
        before = bed.recordings_now()
        p = bed.ssh_approved("db01", "echo judged-everywhere")
        self.assertEqual(p.returncode, 0, p.stderr)
        src = bed.new_recording(before)
        conf = policy_with_another_key()
        d = tempfile.mkdtemp(prefix="tdm-judged-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, os.path.basename(src))
        shutil.copy(src, path)
        for policy, verdict, intact in ((bed.policy, "sealed", True),
                                        (conf, "tampered", False)):
            with self.subTest(policy=policy):
                c = replay("--config", policy, "commands", "--json", path)
                self.assertEqual(c.returncode, 0, c.stderr)
                rows = [json.loads(l) for l in c.stdout.splitlines()]
                self.assertEqual(len(rows), 1)
                self.assertEqual((rows[0]["verify"], rows[0]["intact"]),
                                 (verdict, intact))
                if verdict == "tampered":
                    self.assertIn(b"TAMPERED", c.stderr)
                    self.assertIn(b"not the bastion key in", c.stderr)
                    for sub in (["cat", path], ["info", path]):
                        out = replay("--config", policy, *sub)
                        self.assertIn(b"not the bastion key in",
                                      out.stdout + out.stderr, sub)
        replay("--config", bed.policy, "index", d)
        for args in ([], ["--no-index"]):
            with self.subTest(search=args):
                s = replay("--config", conf, "search", d, *args)
                self.assertEqual(s.returncode, 0, s.stderr)
                self.assertIn(b"echo judged-everywhere  (NOT VERIFIED)", s.stdout)
                self.assertIn(b"not the bastion key in", s.stderr)
                s = replay("--config", bed.policy, "search", d, *args)
                self.assertIn(b"echo judged-everywhere\n", s.stdout)
                self.assertNotIn(b"TAMPERED", s.stderr)
        os.unlink(conf)

    def test_a_nul_in_a_command_hides_nothing_from_search(self):
        # The line editor takes a NUL as typed; what follows it is in the
        # command the escort approved, and search must find it there.
        import shutil
        import tempfile
        before = bed.recordings_now()
        t = bed.shell()
        try:
            t.send("echo nul-before\x00; echo zz-after-nul\r")
            bed.decide_next()
            t.send("exit\r")
            bed.decide_next()
            t.wait()
        finally:
            t.close()
        d = tempfile.mkdtemp(prefix="tdm-nul-")
        self.addCleanup(shutil.rmtree, d, True)
        shutil.copy(bed.new_recording(before), d)
        c = replay("commands", "--json", d)
        rows = [json.loads(l) for l in c.stdout.splitlines()]
        self.assertIn("echo nul-before\x00; echo zz-after-nul",
                      [r["command"] for r in rows])
        scanned = replay("search", d, "--command", "zz-after-nul", "--no-index")
        self.assertEqual(scanned.returncode, 0, scanned.stderr)
        self.assertIn(b"nul-before\\x00; echo zz-after-nul", scanned.stdout)
        self.assertEqual(replay("index", d).returncode, 0)
        indexed = replay("search", d, "--command", "zz-after-nul")
        self.assertEqual(indexed.stdout, scanned.stdout)
        for_json = [replay("search", d, "--json", "--command", "zz-after-nul", *a).stdout
                    for a in (["--no-index"], [])]
        self.assertEqual(for_json[0], for_json[1])
        self.assertEqual(len(for_json[0].splitlines()), 1)

    def test_a_key_others_can_read_is_not_used(self):
        # The identity logs in to the target past every escort; the
        # signing key seals recordings: neither may be open to others,
        # nor readable by a group other than tandem's own.
        for key, what in ((bed.identity, "identity"), (bed.signing_key, "signing key")):
            st = os.stat(key)
            try:
                for mode, gid, says in ((0o644, st.st_gid, "is open to others (mode 0644)"),
                                        (0o640, 65534, "is readable by group 65534")):
                    with self.subTest(key=what, mode=oct(mode)):
                        os.chown(key, st.st_uid, gid)
                        os.chmod(key, mode)
                        p = bed.ssh("db01", "echo must-not-run")
                        self.assertEqual(p.returncode, 255, p.stderr)
                        self.assertIn(f"{what} {key} {says}".encode(), p.stderr)
                        self.assertNotIn(b"must-not-run", p.stdout)
            finally:
                os.chown(key, st.st_uid, st.st_gid)
                os.chmod(key, st.st_mode & 0o7777)
        p = bed.ssh_approved("db01", "echo keys-restored")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_verify_catches_a_recording_put_in_another_place(self):
        import shutil
        import uuid
        before = bed.recordings_now()
        p = bed.ssh_approved("db01", "echo placed")
        self.assertEqual(p.returncode, 0, p.stderr)
        path = bed.new_recording(before)
        session = Recording(path).header["tandem"]["session"]
        key = bed.signing_key + ".pub"
        root = os.path.join(bed.dir, "moved")
        shutil.rmtree(root, ignore_errors=True)
        day = os.path.join(root, "2001", "01", "01")
        os.makedirs(day)
        # Over another session's name: the header says otherwise.
        other = os.path.join(day, f"{uuid.uuid4()}.cast.zst")
        shutil.copy(path, other)
        v = replay("verify", "--key", key, other)
        self.assertEqual(v.returncode, 4, v.stdout + v.stderr)
        self.assertIn(f"header says {session}".encode(), v.stdout)
        # Its own name, another day's folder.
        moved = os.path.join(day, f"{session}.cast.zst")
        shutil.copy(path, moved)
        v = replay("verify", "--key", key, moved)
        self.assertEqual(v.returncode, 4, v.stdout + v.stderr)
        self.assertIn(b"filed under 2001/01/01", v.stdout)
        # A copy named otherwise (an export) is judged by its content.
        plain = os.path.join(root, "evidence.cast.zst")
        shutil.copy(path, plain)
        v = replay("verify", "--key", key, plain)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        # A name that carries an escape sequence reaches no terminal.
        odd = os.path.join(root, "odd\x1b]0;owned\x07.cast.zst")
        shutil.copy(path, odd)
        v = replay("verify", "--key", key, odd)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertNotIn(b"\x1b", v.stdout)
        self.assertIn(b"odd\\x1b]0;owned\\x07.cast.zst", v.stdout)
        # And in place it is what it always was.
        v = replay("verify", "--key", key, path)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        shutil.rmtree(root)

    def test_killed_recorder_leaves_an_unsealed_but_intact_recording(self):
        before = bed.recordings_now()
        t = Term(bed.ssh_argv(tty=True) + ["db01"])
        try:
            t.expect(r"\$ $")
            t.send("echo crash-soon\r")
            bed.decide_next()
            t.expect(r"crash-soon\r\n")
            time.sleep(0.6)
            pids = subprocess.run(["pgrep", "-u", "tandem", "-f", bed.bin + "/tandem-recorder"],
                                  stdout=subprocess.PIPE, text=True).stdout.split()
            pids = [p for p in pids if open(f"/proc/{p}/comm").read().strip() == "tandem-recorder"]
            self.assertEqual(len(pids), 1)
            os.kill(int(pids[0]), 9)
            t.wait()
        finally:
            t.close()
        path = bed.new_recording(before)
        v = replay("verify", "--key", bed.signing_key + ".pub", path)
        self.assertEqual(v.returncode, 3, v.stdout + v.stderr)
        # The socket is gone too: its reaper outlived the recorder.
        deadline = time.time() + 5
        while os.listdir(bed.sessions) and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(os.listdir(bed.sessions), [])

    def test_session_socket_is_removed_when_the_session_ends(self):
        p = bed.ssh_approved("db01", "true")
        self.assertEqual(p.returncode, 0)
        deadline = time.time() + 5
        while os.listdir(bed.sessions) and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(os.listdir(bed.sessions), [])


if __name__ == "__main__":
    unittest.main()
