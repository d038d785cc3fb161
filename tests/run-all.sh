#!/bin/sh
# Runs every test suite and ends with one line: N passed, N failed.
# usage: tests/run-all.sh BUILD_DIR [SANITIZER_BUILD_DIR]
build=${1:-build}
asan=${2:-}
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() {
	# cmocka: "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)"
	# tandem's own suites: "NAME: N passed, N failed"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p; s/^[a-z-]*: \([0-9]*\) passed, [0-9]* failed.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p; s/^[a-z-]*: [0-9]* passed, \([0-9]*\) failed.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	passed=$((passed + p))
	failed=$((failed + f))
}

for t in "$build"/tests/test_* ${asan:+"$asan"/tests/test_*}; do
	[ -x "$t" ] || continue
	echo "== unit: $t"
	if ! "$t" >"$log" 2>&1; then
		cat "$log"
		count
		# A crash prints no cmocka summary; count it as one failure.
		grep -q 'FAILED' "$log" || failed=$((failed + 1))
		continue
	fi
	cat "$log"
	count
done

# suite NAME BUILD: a python suite that ends with "NAME: N passed, N failed".
suite() {
	echo "== $1 ($2)"
	python3 "tests/$1/run.py" "$2" >"$log" 2>&1
	cat "$log"
	count
	# A runner that died before its summary counts as a failure.
	grep -q "^$1: [0-9]* passed" "$log" || failed=$((failed + 1))
}

suite integration "$build"
suite faults "$build"

if [ -n "$asan" ]; then
	# Programs built with ASan+UBSan write their reports here (see
	# tests/sanitizer/runtime.c); the bed's accounts must reach it.
	reports="$asan/reports"
	rm -rf "$reports"
	mkdir -p "$reports"
	chmod 1777 "$reports"
	suite integration "$asan"
	suite faults "$asan"
	n=0
	for r in "$reports"/*; do
		[ -s "$r" ] || continue
		echo "== sanitizer report $r"
		cat "$r"
		n=$((n + 1))
	done
	echo "sanitizers: $n reports"
	failed=$((failed + n))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
