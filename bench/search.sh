#!/bin/sh
# Measures tandem-replay index and search over many synthetic recordings,
# and verify/cat throughput.
#
# usage: sh bench/search.sh [BUILD_DIR] [COUNT]     (defaults: build 10000)
#
# Recordings are made by bench/gen_recordings.c with the real writer,
# chain and seal, in a temp dir that is removed at the end.  Prints one
# line per figure.
set -eu
build=${1:-build}
count=${2:-10000}
replay=$build/bin/tandem-replay
work=$(mktemp -d /tmp/tandem-bench-search.XXXXXX)
trap 'rm -rf "$work"' EXIT

cc -std=c11 -D_GNU_SOURCE -O2 -Icommon bench/gen_recordings.c \
	"$build/libtandem.a" $(pkg-config --libs libzstd libcrypto jansson \
	libssh libseccomp uuid) -lpthread -o "$work/gen"
ssh-keygen -q -t ed25519 -N '' -C bench -f "$work/key"

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

t0=$(now)
"$work/gen" "$work/rec" "$count" "$work/key" >/dev/null
t1=$(now)
bytes=$(find "$work/rec" -name '*.cast.zst' -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "generate: $count recordings, $bytes bytes, $(secs "$t0" "$t1") s"

t0=$(now); "$replay" index "$work/rec" >/dev/null; t1=$(now)
echo "index (first run): $(secs "$t0" "$t1") s"
t0=$(now); "$replay" index "$work/rec" >/dev/null; t1=$(now)
echo "index (nothing changed): $(secs "$t0" "$t1") s"
echo "index size: $(stat -c %s "$work/rec/.tandem-index.sqlite") bytes"

query() {
	label=$1
	shift
	t0=$(now); n=$("$replay" search "$work/rec" "$@" | wc -l); t1=$(now)
	t2=$(now); m=$("$replay" search "$work/rec" --no-index "$@" | wc -l); t3=$(now)
	[ "$n" = "$m" ] || { echo "MISMATCH: $label: $n with index, $m without"; exit 1; }
	echo "search $label: $n matches, $(secs "$t0" "$t1") s with the index, $(secs "$t2" "$t3") s scanning"
}
query "--command 'rm -rf'" --command 'rm -rf'
query "--command 'iptables|shadow'" --command 'iptables|shadow'
query "--engineer alice --target db01" --engineer alice --target db01
query "--escort bob --since 2024-06-01" --escort bob --since 2024-06-01
query "--attr country=UK --command curl" --attr country=UK --command curl
query "(everything)"

t0=$(now); "$replay" verify "$work/rec" >/dev/null; t1=$(now)
s=$(secs "$t0" "$t1")
echo "verify: $s s, $(echo "scale=1; $bytes / 1048576 / $s" | bc) MB/s of recordings"
