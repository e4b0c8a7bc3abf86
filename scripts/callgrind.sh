#!/usr/bin/env bash
# Instructions per request, route by route, counted by callgrind: the
# figure that does not move with machine noise. For each route the server
# (a release build) runs twice under `valgrind --tool=callgrind`, once
# answering SMALL keep-alive requests and once LARGE, on one connection
# from scripts/bench_client.py; start-up, set-up and shutdown are the same
# in both runs, so (large - small) / (LARGE - SMALL) is the cost of one
# request. Readiness is awaited on the listening socket, not with requests,
# so no probe enters the count.
#
#   bash scripts/callgrind.sh                  # every route
#   bash scripts/callgrind.sh bare healthz verify
#   SMALL=500 LARGE=2500 bash scripts/callgrind.sh verify
#   REPEAT=1 bash scripts/callgrind.sh healthz      # one pair of runs, not three
#   KEEP=/tmp/cg REPEAT=1 bash scripts/callgrind.sh healthz
#       # keeps each run's callgrind.out there (ROUTE-COUNT.out), so that
#       # callgrind_annotate on the two shows where a request's cost goes
#
# The smaller run is held open as long as the larger one took, so the work
# the service does on timers (the revocation feed is read every second, in
# SQL) is alike in both and is not counted as the requests'. What is left
# varies by up to about 1k a request: the runtime's two worker threads and
# glibc's malloc arenas do a little more or less work depending on how the
# client's requests interleave with them. Each route is therefore measured
# REPEAT times (3) and the median printed, with every run's figure beside
# it.
#
# Routes: bare (the bare poem handler, examples/bare_poem.rs), bare-healthz
# and bare-verify (the bare poem's copies of Portcullis's /healthz and
# verify answers, from constants, sent the same requests), healthz,
# verify (one token again and again), verify-fresh (every token checked for
# the first time; its set-up refreshes LARGE times, so it takes minutes and
# is not in the default list), me (SQLite), me-postgres (needs TEST_DATABASE_URL), refresh,
# register, login. Register and login hash with bcrypt, so they run at cost
# 4 with BCRYPT_SMALL/BCRYPT_LARGE (50/250) requests: their figure is the
# service's own work around the hash plus a cost-4 hash.
set -euo pipefail
cd "$(dirname "$0")/.."

SMALL=${SMALL:-500}
LARGE=${LARGE:-2500}
REPEAT=${REPEAT:-3}
BCRYPT_SMALL=${BCRYPT_SMALL:-50}
BCRYPT_LARGE=${BCRYPT_LARGE:-250}
PORT=${PORT:-18090}
PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
routes=("$@")
[ ${#routes[@]} -gt 0 ] || routes=(bare bare-healthz bare-verify healthz verify me me-postgres refresh register login)

if [ "${SKIP_BUILD:-}" != 1 ]; then
  cargo build --release --quiet --features postgres --bin portcullis --example bare_poem
fi
work=$(mktemp -d)
server=
cleanup() { [ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

listening() { ss -Hltn "sport = :$PORT" | grep -q .; }

# Runs the server for `route` under callgrind, sends `count` requests,
# keeps the server running until `hold` seconds after its start, and prints
# the program's total instruction count; the seconds it ran go to
# $work/elapsed.
count_run() {
  local route=$1 count=$2 hold=$3 out="$work/callgrind.out"
  rm -f "$out"
  local database="sqlite://$work/cg-$count.db"
  if [ "$route" = me-postgres ]; then
    local base=${PG_URL%/*}
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS portcullis_callgrind" -c "CREATE DATABASE portcullis_callgrind" >/dev/null
    database="$base/portcullis_callgrind"
  fi
  local program=(./target/release/portcullis)
  case $route in bare | bare-healthz | bare-verify) program=(./target/release/examples/bare_poem "127.0.0.1:$PORT") ;; esac
  PORTCULLIS_BIND="127.0.0.1:$PORT" \
  DATABASE_URL="$database" \
  PORTCULLIS_JWT_KEYS="callgrind-signing-key-0123456789-abcdefghijkl" \
  PORTCULLIS_BCRYPT_COST=4 \
  PORTCULLIS_LIMITS__API__PER_MINUTE=1000000 \
  PORTCULLIS_LIMITS__AUTH__PER_MINUTE=1000000 \
  PORTCULLIS_LIMITS__AUTH__BURST=1000000 \
  PORTCULLIS_SHUTDOWN_DRAIN_SECONDS=0 \
  RUST_LOG=warn \
    valgrind --tool=callgrind --callgrind-out-file="$out" "${program[@]}" >"$work/server.log" 2>&1 &
  server=$!
  local started=$EPOCHREALTIME
  for _ in $(seq 1 600); do listening && break; sleep 0.2; done
  listening || { echo "$route: the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
  local client_route=$route
  [ "$route" = me-postgres ] && client_route=me
  [ "$route" = bare-healthz ] && client_route=healthz
  FRESH_TOKENS=$LARGE python3 scripts/bench_client.py "127.0.0.1:$PORT" "$client_route" "$count"
  local left
  left=$(awk -v hold="$hold" -v started="$started" -v now="$EPOCHREALTIME" 'BEGIN { print hold - (now - started) }')
  awk -v left="$left" 'BEGIN { exit !(left > 0) }' && sleep "$left"
  awk -v started="$started" -v now="$EPOCHREALTIME" 'BEGIN { print now - started }' >"$work/elapsed"
  kill -TERM "$server"
  wait "$server" || true
  server=
  [ -z "${KEEP:-}" ] || { mkdir -p "$KEEP"; cp "$out" "$KEEP/$route-$count.out"; }
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

printf '| route | instructions per request (median of %s) | runs |\n|---|---|---|\n' "$REPEAT"
for route in "${routes[@]}"; do
  small=$SMALL large=$LARGE
  case $route in register | login) small=$BCRYPT_SMALL large=$BCRYPT_LARGE ;; esac
  figures=()
  for _ in $(seq 1 "$REPEAT"); do
    # The larger run first, then the smaller one held as long: background
    # work that runs on a timer (the revocation feed is read every second)
    # then runs about as often in both and drops out of the difference.
    b=$(count_run "$route" "$large" 0)
    a=$(count_run "$route" "$small" "$(cat "$work/elapsed")")
    figures+=("$(awk -v a="$a" -v b="$b" -v n=$((large - small)) 'BEGIN { printf "%.1f", (b - a) / n / 1000 }')")
  done
  printf '%s\n' "${figures[@]}" | sort -n | awk -v r="$route" '
    { v[NR] = $1 } END {
      runs = v[1] "k"; for (i = 2; i <= NR; i++) runs = runs ", " v[i] "k"
      printf "| %s | %.1fk | %s |\n", r, v[int((NR + 1) / 2)], runs
    }'
done
