#!/usr/bin/env bash
# `make run`: initialise the demo data directory on first use, then serve on https://localhost:8443.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/phiportal}
DATA=${PHIPORTAL_DATA:-./data}
if [ ! -e "$DATA/phiportal.conf" ]; then
	if [ -e "$DATA" ] && [ -n "$(ls -A "$DATA" 2>/dev/null)" ]; then
		echo "run: $DATA exists but holds no phiportal.conf (a failed init?); move it away and retry" >&2
		exit 1
	fi
	"$BIN" --data "$DATA" init --demo
	echo
fi
echo "phiportal: open https://localhost:8443 (self-signed development certificate)."
echo "The demo accounts and their passwords were printed by the first 'make run' (init --demo)."
echo "To start over with new demo accounts: rm -rf $DATA && make run"
exec "$BIN" --data "$DATA" serve
