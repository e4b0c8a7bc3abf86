#!/usr/bin/env bash
# Load script: measures Portcullis against a bare poem handler on this
# machine, /healthz latency during a login storm, and idle memory.
# Traffic goes to 127.0.0.1 only; every run is bounded in time.
#
#   bash scripts/load.sh            # prints a Markdown report
#
# Needs wrk (installed from Debian's packages when missing) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
PORT=${PORT:-18080}
BARE_PORT=${BARE_PORT:-18081}
CONNECTIONS=${CONNECTIONS:-32}

if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --quiet --bin portcullis --example bare_poem
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_for() {
  for _ in $(seq 1 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; cat "$work/portcullis.log" >&2; exit 1
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

./target/release/examples/bare_poem "127.0.0.1:$BARE_PORT" >/dev/null 2>&1 &
pids+=($!)

PORTCULLIS_BIND="127.0.0.1:$PORT" \
DATABASE_URL="sqlite://$work/load.db" \
PORTCULLIS_JWT_KEYS="load-test-signing-key-0123456789-abcdefghijkl" \
PORTCULLIS_BCRYPT_COST="${BCRYPT_COST:-12}" \
PORTCULLIS_LIMITS__API__PER_MINUTE=10000000 \
PORTCULLIS_LIMITS__AUTH__PER_MINUTE=1000000 \
PORTCULLIS_LIMITS__AUTH__BURST=1000000 \
RUST_LOG=warn \
  ./target/release/portcullis >"$work/portcullis.log" 2>&1 &
server=$!
pids+=($server)
wait_for "http://127.0.0.1:$PORT/healthz"
wait_for "http://127.0.0.1:$BARE_PORT/"
sleep 1
idle_rss=$(rss_kib "$server")

email="load-$(date +%s)@example.com"
password="correct-Horse-battery-staple-42"
curl -fsS -X POST "http://127.0.0.1:$PORT/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" >/dev/null
token=$(curl -fsS -X POST "http://127.0.0.1:$PORT/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

rps() { awk '/Requests\/sec/ {print $2}'; }
p() { awk -v q="$1" '$1 == q {print $2}'; }

bare=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$BARE_PORT/" | rps)
verify_out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/v1/auth/verify")
verify=$(echo "$verify_out" | rps)
healthz=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$PORT/healthz" | rps)
loaded_rss=$(rss_kib "$server")

healthz_idle=$(wrk -t1 -c4 -d"$DURATION" --latency "http://127.0.0.1:$PORT/healthz")
cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"$email","password":"$password"}'
LUA
wrk -t1 -c64 -d"$DURATION" -s "$work/login.lua" "http://127.0.0.1:$PORT/v1/auth/login" >"$work/storm.txt" &
storm=$!
sleep 1
healthz_storm=$(wrk -t1 -c4 -d"$DURATION" --latency "http://127.0.0.1:$PORT/healthz")
wait "$storm"
storm_rss=$(rss_kib "$server")

ratio=$(awk -v a="$verify" -v b="$bare" 'BEGIN { printf "%.2f", a / b }')
cat <<REPORT
## Load ($(date -u +%Y-%m-%d), $(nproc) cores, wrk -t1 -c$CONNECTIONS -d$DURATION, release build, server and wrk on one machine)

| what | requests/s |
|---|---|
| bare poem handler \`GET /\` | $bare |
| Portcullis \`GET /v1/auth/verify\` (valid token) | $verify |
| Portcullis \`GET /healthz\` | $healthz |
| **verify / bare** | **$ratio** |

| \`/healthz\` latency (wrk -c4) | p50 | p90 | p99 |
|---|---|---|---|
| idle | $(echo "$healthz_idle" | p 50%) | $(echo "$healthz_idle" | p 90%) | $(echo "$healthz_idle" | p 99%) |
| during a login storm (64 connections, bcrypt cost ${BCRYPT_COST:-12}) | $(echo "$healthz_storm" | p 50%) | $(echo "$healthz_storm" | p 90%) | $(echo "$healthz_storm" | p 99%) |

Login storm: $(awk '/Requests\/sec/ {printf "%s logins/s", $2}' "$work/storm.txt") (bcrypt-bound: $(nproc) hashing workers)

| resident memory | KiB |
|---|---|
| idle after start | $idle_rss |
| after the verify/healthz load | $loaded_rss |
| after the login storm | $storm_rss |
REPORT
