#!/usr/bin/env bash
# Installs what phiportal needs to build, run and test, only where it is missing (idempotent, quiet
# when everything is present): Debian packages via apt-get, then the npm packages of the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential pkg-config clang python3 libmicrohttpd-dev libgnutls28-dev gnutls-bin
      libjansson-dev libargon2-dev liboath-dev oathtool libqrencode-dev libsqlite3-dev sqlite3
      libmagic-dev libcurl4-openssl-dev libcmocka-dev nodejs npm chromium nginx wrk
      libclang-rt-14-dev xxd librhonabwy-dev clamav-daemon python3-aiosmtpd
      faketime)   # faketime: tests that move the clock (retention)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere on the machine (e.g. a preinstalled Node): accept those
if command -v node >/dev/null && command -v npm >/dev/null; then
	tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
	missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing Debian packages: ${missing[*]}"
	SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -f package.json ]; then
	if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
		echo "deps: installing npm packages for the test tools"
		# not `npm ci`: npm 11 refuses this lock file because an optional dependency of
		# isomorphic-webcrypto (expo-random) drags in peers it never records; `install` with the
		# lock file present installs the locked versions and tolerates that
		npm install --no-audit --no-fund --no-save --loglevel=error >/dev/null
	fi
fi
