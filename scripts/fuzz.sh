#!/bin/sh
# Builds every fuzz/fuzz_*.c as a libFuzzer target (clang, ASan + UBSan) and runs each for a
# bounded time. The committed seeds in fuzz/corpus/<target>/ are read-only inputs; new inputs go
# to build-fuzz/corpus/<target>/ and crashes to build-fuzz/artifacts/.
#
# A target names the src/ modules it needs in a comment line "fuzz-modules: core http";
# without one it links every module.
#
#   FUZZ_SECONDS=30   time per target
#   FUZZ_TARGETS="fuzz_http_query ..."   only these targets
#   FUZZ_JOBS=1       parallel libFuzzer jobs per target
#   FUZZ_SMOKE=1      build every target and only replay the committed seeds (used by make test)
set -eu

cd "$(dirname "$0")/.."
OUT=build-fuzz
SECONDS_PER=${FUZZ_SECONDS:-30}
JOBS=${FUZZ_JOBS:-1}
CC=${FUZZ_CC:-clang}
ALL_MODULES="core store crypto audit auth policy oauth fhir http portal"
PKGS="libmicrohttpd gnutls jansson sqlite3 liboath libqrencode librhonabwy libcurl"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -Wshadow \
 -Wno-missing-field-initializers -Isrc -I$OUT/gen $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -largon2 -lmagic -lpthread -lm"

command -v "$CC" >/dev/null || { echo "fuzz: $CC not found" >&2; exit 1; }
mkdir -p "$OUT/obj" "$OUT/bin" "$OUT/corpus" "$OUT/artifacts" "$OUT/gen"

# generated sources some modules need
if [ ! -f "$OUT/gen/web_assets.c" ] || [ -n "$(find web scripts/embed_web.py -newer "$OUT/gen/web_assets.c" 2>/dev/null | head -1)" ]; then
	python3 scripts/embed_web.py web "$OUT/gen/web_assets.c"
fi

# compile one source into build-fuzz/obj unless up to date; prints the object path
obj() {
	src=$1
	o="$OUT/obj/$(echo "$src" | sed 's|^src/||; s|^build-fuzz/gen/|gen/|; s|\.c$|.o|')"
	mkdir -p "$(dirname "$o")"
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find src -name '*.h' -newer "$o" | head -1)" ]; then
		# shellcheck disable=SC2086
		$CC $CFLAGS -fsanitize=fuzzer-no-link $SAN -c "$src" -o "$o" >&2
	fi
	echo "$o"
}

targets=${FUZZ_TARGETS:-$(ls fuzz/fuzz_*.c 2>/dev/null | sed 's|fuzz/||; s|\.c$||')}
[ -n "$targets" ] || { echo "fuzz: no targets" >&2; exit 1; }

status=0
for t in $targets; do
	src="fuzz/$t.c"
	[ -f "$src" ] || { echo "fuzz: $src missing" >&2; status=1; continue; }
	mods=$(sed -n 's/.*fuzz-modules:[[:space:]]*\([a-z ]*\).*/\1/p' "$src" | head -1)
	[ -n "$mods" ] || mods=$ALL_MODULES
	objs=""
	for m in $mods; do
		for f in src/"$m"/*.c; do
			[ -f "$f" ] || continue
			objs="$objs $(obj "$f")"
		done
		case " $m " in
		*" http "*|*" portal "*) objs="$objs $(obj "$OUT/gen/web_assets.c")" ;;
		esac
	done
	echo "fuzz: building $t (modules: $mods)"
	# shellcheck disable=SC2086
	$CC $CFLAGS -fsanitize=fuzzer $SAN "$src" $objs -o "$OUT/bin/$t" $LIBS

	work="$OUT/corpus/$t"
	seeds="fuzz/corpus/$t"
	mkdir -p "$work" "$seeds"
	echo "fuzz: running $t for ${SECONDS_PER}s"
	par=""
	[ "$JOBS" -gt 1 ] && par="-jobs=$JOBS -workers=$JOBS"
	if [ -n "${FUZZ_SMOKE:-}" ]; then
		# make test: build every target and replay its committed seeds once (no fuzzing)
		set -- -runs=0 "$seeds"
	else
		set -- -max_total_time="$SECONDS_PER" $par -print_final_stats=1 "$work" "$seeds"
	fi
	# shellcheck disable=SC2086
	if ! "$OUT/bin/$t" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$OUT/artifacts/$t-" "$@" \
		>"$OUT/$t.log" 2>&1; then
		echo "fuzz: $t FAILED — see $OUT/$t.log and $OUT/artifacts/" >&2
		tail -40 "$OUT/$t.log" >&2
		status=1
	else
		grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$OUT/$t.log" | tail -1 || true
		echo "fuzz: $t ok"
	fi
done
exit $status
