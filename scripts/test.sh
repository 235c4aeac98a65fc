#!/usr/bin/env bash
# Runs every suite — C unit tests (cmocka), black-box API tests against a real server over HTTPS,
# browser tests in Chromium, the source checker — and ends with one line "N passed, N failed".
# With --asan: builds into build-asan with AddressSanitizer + UndefinedBehaviorSanitizer and runs
# the unit and black-box suites (browser tests are left to the normal run).
set -uo pipefail
cd "$(dirname "$0")/.."

ASAN=0
[ "${1:-}" = "--asan" ] && ASAN=1
JOBS=${JOBS:-2}
if [ $ASAN -eq 1 ]; then
	export BUILD=build-asan
	MAKEVARS=(BUILD=build-asan CC=clang "SAN=-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" "OPT=-O1 -g")
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
else
	export BUILD=build
	MAKEVARS=()
fi
# each run its own log directory (runs at once must not write the same .tap files); "latest" names
# the newest, and only the five newest are kept
LOG=$BUILD/test-logs/$(date -u +%Y%m%dT%H%M%SZ)-$$
mkdir -p "$LOG"
ln -sfn "$(basename "$LOG")" "$BUILD/test-logs/latest"
ls -1d "$BUILD"/test-logs/*-* 2>/dev/null | sort | head -n -5 | xargs -r rm -rf
passed=0; failed=0
failures=()

add() { passed=$((passed + $1)); failed=$((failed + $2)); }

echo "== build ($BUILD)"
if ! make -s -j"$JOBS" "${MAKEVARS[@]}" "$BUILD/phiportal" $(ls tests/unit/test_*.c | sed "s#tests/unit/\(.*\)\.c#$BUILD/tests/\1#") > "$LOG/build.log" 2>&1; then
	cat "$LOG/build.log" | tail -40
	echo "0 passed, 1 failed"
	exit 1
fi

echo "== unit tests (cmocka)"
for t in "$BUILD"/tests/test_*; do
	name=$(basename "$t")
	"$t" > "$LOG/$name.log" 2>&1
	rc=$?
	p=$(grep -oE '\[  PASSED  \] [0-9]+ test' "$LOG/$name.log" | awk '{s+=$4} END {print s+0}')
	f=$(grep -oE '\[  FAILED  \] [0-9]+ test' "$LOG/$name.log" | awk '{s+=$4} END {print s+0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	add "$p" "$f"
	printf '  %-22s %3d passed, %d failed\n' "$name" "$p" "$f"
	[ "$f" -gt 0 ] && { failures+=("$name"); tail -30 "$LOG/$name.log"; }
done

run_node() {  # label, files...
	local label=$1; shift
	local out="$LOG/$label.tap"
	echo "== $label"
	PP_BIN="$PWD/$BUILD/phiportal" node --test --test-concurrency=1 --test-reporter=tap "$@" > "$out" 2>&1
	local rc=$?
	local p f
	p=$(grep -E '^# pass [0-9]+' "$out" | awk '{print $3}' | tail -1)
	f=$(grep -E '^# fail [0-9]+' "$out" | awk '{print $3}' | tail -1)
	p=${p:-0}; f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	add "$p" "$f"
	printf '  %-22s %3d passed, %d failed\n' "$label" "$p" "$f"
	if [ "$f" -gt 0 ]; then
		failures+=("$label")
		grep -E '^\s*not ok|error:|expected|actual|Error' "$out" | head -40
	fi
}

run_node api tests/api/*.test.mjs $(ls tests/interop/*.test.mjs 2>/dev/null)
if [ $ASAN -eq 0 ]; then
	run_node e2e tests/e2e/*.test.mjs
	echo "== fuzz targets (build + replay committed seeds)"
	if FUZZ_SMOKE=1 scripts/fuzz.sh > "$LOG/fuzz-smoke.log" 2>&1; then
		n=$(grep -c ' ok$' "$LOG/fuzz-smoke.log"); add "$n" 0; echo "  $n fuzz targets ok"
	else
		add "$(grep -c ' ok$' "$LOG/fuzz-smoke.log")" 1; failures+=(fuzz-smoke); tail -20 "$LOG/fuzz-smoke.log"
	fi
	echo "== checksrc"
	if scripts/checksrc.sh > "$LOG/checksrc.log" 2>&1; then add 1 0; echo "  checksrc ok"; else add 0 1; failures+=(checksrc); cat "$LOG/checksrc.log"; fi
fi

[ ${#failures[@]} -gt 0 ] && echo "failed suites: ${failures[*]} (logs in $LOG)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
