"""Runs the integration tests and ends with 'integration: N passed, N failed'.

usage: python3 run.py BUILD_DIR [PATTERN]
"""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
os.environ["TANDEM_BUILD"] = sys.argv[1] if len(sys.argv) > 1 else "build"
pattern = sys.argv[2] if len(sys.argv) > 2 else "test_*.py"

if os.geteuid() != 0:
    print("integration: the test bed creates accounts and starts sshd; run as root")
    print("integration: 0 passed, 1 failed")
    sys.exit(1)

import testbed  # noqa: E402
suite = unittest.defaultTestLoader.discover(here, pattern=pattern)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout,
                                 resultclass=testbed.Result).run(suite)
failed = len(result.failures) + len(result.errors)
passed = result.testsRun - failed - len(result.skipped)
print(f"integration: {passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
