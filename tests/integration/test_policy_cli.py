"""tandem-policy as an admin runs it: check on every malformed example in
tests/data/policy-bad/ prints exactly the expected FILE:LINE: message lines,
and explain shows what an escort would see, hidden characters made
visible and flagged."""
import glob
import json
import os
import subprocess
import unittest

from testbed import ROOT

BUILD = os.environ.get("TANDEM_BUILD", "build")
POLICY = os.path.join(ROOT, BUILD, "bin", "tandem-policy")
EXAMPLE = os.path.join(ROOT, "docs", "policy.conf.example")
BAD = os.path.join("tests", "data", "policy-bad")


def policy(*args, cwd=ROOT):
    return subprocess.run([POLICY] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=cwd, timeout=60)


def explain(*command, json_out=True, target="db01"):
    args = ["--config", EXAMPLE, "explain", "--target", target]
    if json_out:
        args.append("--json")
    p = policy(*(args + ["--"] + list(command)))
    if json_out and p.returncode == 0:
        return p, json.loads(p.stdout)
    return p, None


class Check(unittest.TestCase):
    def test_every_malformed_example_gives_its_expected_messages(self):
        confs = sorted(glob.glob(os.path.join(ROOT, BAD, "*.conf")))
        self.assertGreaterEqual(len(confs), 20)
        for conf in confs:
            rel = os.path.relpath(conf, ROOT)
            with self.subTest(file=rel):
                with open(conf[:-5] + ".expect", "rb") as f:
                    want = f.read()
                p = policy("check", rel)
                self.assertEqual(p.returncode, 1, p.stdout)
                self.assertEqual(p.stdout, b"")
                self.assertEqual(p.stderr, want)
                for line in p.stderr.decode(errors="replace").splitlines():
                    self.assertTrue(line.startswith(rel + ":"), line)

    def test_the_example_policy_is_valid(self):
        p = policy("check", EXAMPLE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, rb": ok \(2 engineers, 2 escorts, 3 targets, \d+ rules\)")


class Explain(unittest.TestCase):
    def test_bidi_override_is_shown_and_flagged(self):
        p, out = explain("ls \u202egnp.exe")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out["command"], "ls \u202egnp.exe")
        self.assertEqual(out["visible"], "ls \\u202egnp.exe")
        self.assertEqual(out["verdict"], "flag")
        self.assertEqual(out["risks"][0]["level"], "high")
        self.assertIn("invisible or control characters", out["risks"][0]["why"])
        # The JSON itself is ASCII: the override cannot act on a terminal.
        self.assertTrue(p.stdout.isascii())

    def test_zero_width_space_is_shown_and_flagged_in_the_human_form(self):
        p, _ = explain("r\u200bm -rf /tmp/x", json_out=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        text = p.stdout.decode()
        self.assertIn("command: r\\u200bm -rf /tmp/x\n", text)
        self.assertIn("verdict: flag", text)
        self.assertRegex(text, r"\n  high +contains invisible or control characters")
        self.assertNotIn("\u200b", text)

    def test_verdicts_deny_flag_none(self):
        _, out = explain("mkfs.ext4 /dev/sda1")
        self.assertEqual(out["verdict"], "deny")
        self.assertEqual(out["risks"][0]["level"], "critical")
        _, out = explain("sudo", "r''m", "-rf", "/srv/data")
        self.assertEqual(out["command"], "sudo r''m -rf /srv/data")
        self.assertEqual(out["verdict"], "flag")
        self.assertEqual(out["risks"][0]["level"], "high")
        _, out = explain("ls -l /srv")
        self.assertEqual((out["verdict"], out["risks"]), ("none", []))
        # Exactly the keys SPEC.md pins.
        self.assertEqual(sorted(out), ["command", "risks", "verdict", "visible"])

    def test_errors_name_the_problem_and_the_fix(self):
        p = policy("--config", EXAMPLE, "explain", "--", "ls")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"explain needs --target NAME", p.stderr)
        p = policy("--config", EXAMPLE, "explain", "--target", "db01")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"explain needs the command after --", p.stderr)
        p = policy("--config", EXAMPLE, "explain", "--target", "nowhere", "--", "ls")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'has no target "nowhere"', p.stderr)
        p = policy("--config", EXAMPLE, "explain", "--bogus", "--", "ls")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"unknown explain option", p.stderr)

    def test_help_lists_explain(self):
        p = policy("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"explain --target T [--json] -- COMMAND", p.stdout)


if __name__ == "__main__":
    unittest.main()
