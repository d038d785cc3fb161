"""Runs the fault and bypass suites; ends with two lines:

  faults: N scenarios, N decisions lost, N unapproved bytes
  faults: N passed, N failed

usage: python3 run.py BUILD_DIR [PATTERN]   (as root: it starts sshd)
TANDEM_FAULT_SEED=N repeats the random points of an earlier run.
"""
import os
import random
import sys
import time
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
os.environ["TANDEM_BUILD"] = sys.argv[1] if len(sys.argv) > 1 else "build"
pattern = sys.argv[2] if len(sys.argv) > 2 else "test_*.py"
seed = int(os.environ.get("TANDEM_FAULT_SEED", str(int(time.time()))))
os.environ["TANDEM_FAULT_SEED"] = str(seed)

if os.geteuid() != 0:
    print("faults: the test bed creates accounts and starts sshd; run as root")
    print("faults: 0 passed, 1 failed")
    sys.exit(1)

import faultlib  # noqa: E402

print(f"faults: random points from TANDEM_FAULT_SEED={seed}")
random.seed(seed)
import testbed  # noqa: E402
suite = unittest.defaultTestLoader.discover(here, pattern=pattern)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout,
                                 resultclass=testbed.Result).run(suite)
failed = len(result.failures) + len(result.errors)
passed = result.testsRun - failed - len(result.skipped)
L = faultlib.LEDGER
print(f"faults: {L['scenarios']} scenarios, {L['lost']} decisions lost, "
      f"{L['unapproved']} unapproved bytes")
print(f"faults: {passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
