#!/usr/bin/env bash
# FHIR read/search throughput against nginx serving the same bytes over TLS, in the same run.
#
# Starts phiportal on a fresh demo data set, gets a bearer token for a registered backend-service
# client (private_key_jwt, signed with jose), fetches the two responses once, writes those exact bytes
# as static files for nginx (same certificate, TLS 1.3, keep-alive), then drives both with wrk at
# 64 connections and at 1 connection. Prints requests/s, p99 and the ratio to nginx.
# The machine is shared and its load changes from second to second, so the 64-connection runs
# alternate phiportal and nginx for a few rounds and the medians are reported (each round's
# numbers are printed too); the 1-connection latency is measured once for each.
#   BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (5), BENCH_CONNECTIONS (64)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/phiportal}
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-5}
CONNS=${BENCH_CONNECTIONS:-64}
work=$(mktemp -d /var/tmp/pp-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

data=$work/data
"$BIN" --data "$data" init --demo --json > "$work/demo.json" 2>/dev/null
port=$(free_port)
printf 'server.public_url = https://127.0.0.1:%s\nlog.level = warn\nlimits.ip_rate_per_min = 0\n' "$port" >> "$data/phiportal.conf"

# a backend-service client with its own key pair (JWKS by value) and a BAA on file
node bench/fhir_token.mjs keygen "$work" >/dev/null
client=bench-backend
"$BIN" --data "$data" client add --client-id "$client" --name "bench backend" --type backend \
	--scopes "system/Patient.rs system/Observation.rs" --jwks "$work/jwks.json" \
	--baa-vendor "Bench Vendor" --baa-signed 2026-01-01 --baa-expires 2099-12-31 \
	--rate-limit 0 >/dev/null 2>"$work/client.log" || { cat "$work/client.log" >&2; exit 1; }

"$BIN" --data "$data" serve --port "$port" > "$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
base="https://127.0.0.1:$port"
token=$(node bench/fhir_token.mjs token "$work" "$base" "$client")
patient=$(node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(d.accounts.find(a=>a.role==="patient").patient_id)' "$work/demo.json")

paths=("/fhir/Patient/$patient" "/fhir/Observation?patient=$patient&_count=20")
mkdir -p "$work/www"
for i in 0 1; do
	curl -sf --cacert "$data/tls/cert.pem" -H "Authorization: Bearer $token" "$base${paths[$i]}" > "$work/www/r$i.json"
done

chmod 755 "$work" "$work/www"; chmod 644 "$work"/www/*   # nginx workers run unprivileged
nport=$(free_port)
cat > "$work/nginx.conf" <<NGX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
	access_log off;
	server {
		listen 127.0.0.1:$nport ssl;
		ssl_certificate $data/tls/cert.pem;
		ssl_certificate_key $data/tls/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		keepalive_requests 1000000;
		root $work/www;
		default_type application/fhir+json;
	}
}
NGX
nginx -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
sleep 0.5

run_wrk() {  # url conns -> "rps p50ms p99ms"
	local out
	local t=2; [ "$2" -lt 2 ] && t=1
	out=$(wrk -t$t -c"$2" -d"${SECS}s" --latency -H "Authorization: Bearer $token" "$1" 2>&1)
	local rps p50 p99 non2xx
	ms() { awk -v k="$1" '$1==k {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}'; }
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	p50=$(echo "$out" | ms "50%")
	p99=$(echo "$out" | ms "99%")
	non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
	if [ -n "$non2xx" ] || [ -z "$rps" ]; then   # the caller stops: this runs in a subshell
		echo "fhir bench: ${non2xx:-no} non-2xx answers from $1 (or wrk failed)" >&2
		echo "ERR ERR ERR"
		return
	fi
	echo "$rps $p50 $p99"
}
check() { for v in "$@"; do [ "$v" != ERR ] || exit 1; done; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

for i in 0 1; do
	label=$([ $i -eq 0 ] && echo "GET /fhir/Patient/X" || echo "GET /fhir/Observation?patient=X&_count=20")
	purl="$base${paths[$i]}"; nurl="https://127.0.0.1:$nport/r$i.json"
	printf '%s (%s bytes), %s connections, %s rounds of %s s alternating\n' "$label" \
		"$(stat -c %s "$work/www/r$i.json")" "$CONNS" "$ROUNDS" "$SECS"
	prs=""; pps=""; nrs=""; nps=""; ratios=""
	for round in $(seq "$ROUNDS"); do
		read -r prps _ pp99 < <(run_wrk "$purl" "$CONNS")
		read -r nrps _ np99 < <(run_wrk "$nurl" "$CONNS")
		check "$prps" "$nrps"
		ratio=$(awk -v a="$prps" -v b="$nrps" 'BEGIN { printf "%.0f", 100*a/b }')
		printf '  round %s: phiportal %8.0f req/s p99 %6.2f ms | nginx %8.0f req/s p99 %6.2f ms | %s %%\n' \
			"$round" "$prps" "$pp99" "$nrps" "$np99" "$ratio"
		prs="$prs $prps"; pps="$pps $pp99"; nrs="$nrs $nrps"; nps="$nps $np99"; ratios="$ratios $ratio"
	done
	read -r _ p50 p1 < <(run_wrk "$purl" 1)
	read -r _ n50 n1 < <(run_wrk "$nurl" 1)
	check "$p50" "$n50"
	printf '  phiportal: %8.0f req/s  p99 %6.2f ms   1 conn p50 %5.2f ms p99 %6.2f ms\n' \
		"$(echo "$prs" | median)" "$(echo "$pps" | median)" "$p50" "$p1"
	printf '  nginx:     %8.0f req/s  p99 %6.2f ms   1 conn p50 %5.2f ms p99 %6.2f ms\n' \
		"$(echo "$nrs" | median)" "$(echo "$nps" | median)" "$n50" "$n1"
	printf '  ratio to nginx: %s %% of its requests/s (median of the rounds; target >= 50 %%, p99 <= 25 ms)\n' \
		"$(echo "$ratios" | median)"
done
