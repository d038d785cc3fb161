#!/bin/sh
# make demo: see demo.py.
exec python3 "$(dirname "$0")/demo.py" "${1:-build}"
