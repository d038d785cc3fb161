#!/bin/sh
# Installs the Debian packages tandem builds and tests with, when run as root
# and something is missing.  `apt-get update` runs once, only if needed.
missing=""
for pkg in "$@"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
		grep -q 'install ok installed' || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "tandem: missing Debian packages:$missing" >&2
	echo "tandem: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "tandem: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || { echo "tandem: apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
	{ echo "tandem: apt-get install$missing failed" >&2; exit 1; }
