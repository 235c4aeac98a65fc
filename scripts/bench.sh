#!/usr/bin/env bash
# Benchmarks. Each section builds its program through the Makefile (so with the same flags as every
# other build) and prints its result lines. Sections are independent; append new ones at the end.
#   BUILD=dir      build directory (default: build)
#   ONLY=name      run only the section with that name (e.g. ONLY=audit)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ONLY=${ONLY:-}

want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
section() { printf '\n== %s ==\n' "$1"; }
build() { make --no-print-directory -j2 BUILD="$BUILD" "$@" >/dev/null; }

# ---- audit: group commit against one transaction per event --------------------------------------
# 64 client threads record events in a loop, first with group commit, then with one transaction (and
# one fsync) per event; the modes alternate for a few rounds so both see the same machine load.
# The files go to $TMPDIR (default /var/tmp): it must be a real file system, not tmpfs, or fsync is
# free and the comparison means nothing.
#   AUDIT_EVENTS (per thread, default 200), AUDIT_THREADS (64), AUDIT_ROUNDS (3)
if want audit; then
	section "audit: group commit vs per-record commit"
	build "$BUILD/bench/audit_bench"
	"$BUILD/bench/audit_bench" "${AUDIT_EVENTS:-200}" "${AUDIT_THREADS:-64}" "${AUDIT_ROUNDS:-3}"
fi

# ---- fhir: authenticated, authorized, audited FHIR reads against nginx serving the same bytes ----
# See bench/fhir_bench.sh. Needs nginx and wrk (scripts/deps.sh installs them).
if want fhir; then
	section "fhir: phiportal vs nginx (same bytes, TLS, keep-alive)"
	build "$BUILD/phiportal"
	BIN="$BUILD/phiportal" bench/fhir_bench.sh
fi

# ---- files: the encrypted file store's chunked AES-256-GCM vs raw GnuTLS AES-256-GCM ----
# See bench/files_bench.c. FILES_MB (default 256) per direction; the blob lives in /dev/shm.
if want files; then
	section "files: chunked encrypt/decrypt vs raw AES-256-GCM (same run)"
	build "$BUILD/bench/files_bench"
	"$BUILD/bench/files_bench" "${FILES_MB:-256}"
fi
