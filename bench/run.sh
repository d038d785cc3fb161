#!/bin/sh
# make bench: tandem against direct ssh, ssh -J, script, tlog and asciinema,
# on loopback, in one run.  Results go to bench/results.md.
#
# usage: sh bench/run.sh [BUILD_DIR] [--quick]
#
# Runs as root: the test bed creates accounts and starts sshd.  Installs the
# benchmark-only Debian packages when they are missing (one apt-get update,
# then apt-get install -y).  BENCH_REPS, BENCH_BULK_REPS, BENCH_BULK_BYTES,
# BENCH_KEYS, BENCH_MANY, BENCH_SEARCH_COUNT, BENCH_APPROVALS and BENCH_ONLY
# (bulk,keys,judged,approval,many,search) change what runs; see
# bench/bench.py.
set -eu
build=${1:-build}
shift || true

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: run as root (it starts sshd and creates the test" \
		"bed's accounts)" >&2
	exit 1
fi

# Package -> a file it installs; the recorders compared, and what the
# scripts use (bc for search.sh, perf for profiling, setpriv and tmux for
# the escort).
need=""
for pair in tlog:/usr/bin/tlog-rec-session asciinema:/usr/bin/asciinema \
	bsdutils:/usr/bin/script util-linux:/usr/bin/setpriv bc:/usr/bin/bc \
	zstd:/usr/bin/zstd linux-perf:/usr/bin/perf tmux:/usr/bin/tmux \
	openssh-server:/usr/sbin/sshd openssh-client:/usr/bin/ssh; do
	[ -e "${pair#*:}" ] || need="$need ${pair%%:*}"
done
if [ -n "$need" ]; then
	echo "bench: installing$need"
	apt-get update -q >/dev/null
	# shellcheck disable=SC2086 # one word per package
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null
fi

# Many concurrent sessions need more descriptors than a login shell gets.
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true
exec python3 bench/bench.py "$build" "$@"
