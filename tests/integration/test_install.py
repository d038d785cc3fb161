"""make install: the tree it makes, and the units it installs, as systemd sees them."""
import os
import re
import subprocess
import tempfile
import unittest

from testbed import ROOT

EXPECTED = """\
etc/ssh/sshd_config.d/tandem.conf
etc/systemd/system/tandem-verify.service
etc/systemd/system/tandem-verify.timer
etc/sysusers.d/tandem.conf
etc/tandem/policy.conf.example
etc/tmpfiles.d/tandem.conf
opt/tandem/bin/tandem-escort
opt/tandem/bin/tandem-policy
opt/tandem/bin/tandem-recorder
opt/tandem/bin/tandem-replay
opt/tandem/share/man/man1/tandem-escort.1
opt/tandem/share/man/man1/tandem-policy.1
opt/tandem/share/man/man1/tandem-recorder.1
opt/tandem/share/man/man1/tandem-replay.1
opt/tandem/share/man/man5/tandem-policy.conf.5
"""


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="tandem-install-")
        cls.install()

    @classmethod
    def install(cls):
        build = os.environ.get("TANDEM_BUILD", "build")
        # An admin's umask of 000 must not leave anything writable by
        # others (a unit anyone may edit runs as whoever they write in).
        p = subprocess.run(["make", "-s", "-C", ROOT, f"BUILD={build}", "install",
                            f"DESTDIR={cls.dest}", "PREFIX=/opt/tandem"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           preexec_fn=lambda: os.umask(0))
        assert p.returncode == 0, p.stdout

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.dest])

    def tree(self):
        out = []
        for root, _dirs, files in os.walk(self.dest):
            for f in files:
                out.append(os.path.relpath(os.path.join(root, f), self.dest))
        return "".join(p + "\n" for p in sorted(out))

    def test_install_makes_exactly_the_expected_tree(self):
        self.assertEqual(self.tree(), EXPECTED)
        st = os.stat(os.path.join(self.dest, "opt/tandem/bin/tandem-recorder"))
        self.assertEqual(st.st_mode & 0o777, 0o755)
        for f in EXPECTED.split():
            mode = os.stat(os.path.join(self.dest, f)).st_mode
            self.assertEqual(mode & 0o022, 0, f"{f} is mode {mode & 0o777:o}")

    def test_installed_unit_runs_the_installed_replay(self):
        with open(os.path.join(self.dest, "etc/systemd/system/tandem-verify.service")) as f:
            unit = f.read()
        self.assertIn("/opt/tandem/bin/tandem-replay --config "
                      "/etc/tandem/policy.conf verify", unit)
        self.assertNotIn("@BINDIR@", unit)

    def test_units_verify_clean(self):
        units = [os.path.join(self.dest, "etc/systemd/system", u)
                 for u in ("tandem-verify.service", "tandem-verify.timer")]
        p = subprocess.run(["systemd-analyze", "verify", "--man=no"] + units,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(p.stdout.strip(), "", p.stdout)

    def test_verify_service_exposure_is_at_most_2(self):
        unit = os.path.join(self.dest, "etc/systemd/system/tandem-verify.service")
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", unit],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
        self.assertIsNotNone(m, p.stdout[-2000:])
        self.assertLessEqual(float(m.group(1)), 2.0, p.stdout[-2000:])

    def test_sshd_snippet_is_valid_sshd_configuration(self):
        cfg = os.path.join(self.dest, "sshd_test_config")
        key = os.path.join(self.dest, "hostkey")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        with open(cfg, "w") as f:
            f.write(f"HostKey {key}\nInclude {self.dest}/etc/ssh/sshd_config.d/tandem.conf\n")
        p = subprocess.run(["/usr/sbin/sshd", "-t", "-f", cfg], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_uninstall_removes_what_install_put(self):
        p = subprocess.run(["make", "-s", "-C", ROOT, "uninstall", f"DESTDIR={self.dest}",
                            "PREFIX=/opt/tandem"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)
        left = [x for x in self.tree().splitlines()
                if not x.startswith(("hostkey", "sshd_test_config"))]
        self.assertEqual(left, [])
        # Reinstall for any test that runs after this one, in the same
        # place (a new one would leave this one behind in /tmp).
        self.install()


if __name__ == "__main__":
    unittest.main()
