#!/usr/bin/env bash
# The server-side ceiling for one Redis limiter decision, beside what the
# limiter achieves from one process.
#
# Loads src/adapters/redis/gcra.lua, the very script the limiter sends, with
# SCRIPT LOAD and runs redis-benchmark on `EVALSHA <sha> 1 <key> 100 60000`:
# the key shape, 10 000 keys and arguments (the API's default quota, 600 a
# minute: interval 100 ms, capacity 60 000 ms) of benches/redis_limiter.rs.
# Three runs: 1 connection, one call at a time (the bench's sequential
# case); 32 connections, one call each in flight (the plain
# `redis-benchmark -c 32` figure); and 1 connection with 32 calls pipelined,
# which is how the limiter's multiplexed connection carries 32 decisions in
# flight, so that is the ceiling for the bench's 32-in-flight case. Then it
# prints criterion's last estimates for
#
#   TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench --features redis --bench redis_limiter
#
# if that has run, and the ratio of each pair.
#
#   bash scripts/redis-benchmark.sh
#
# Needs redis-cli, redis-benchmark and jq; REDIS_HOST, REDIS_PORT and REQUESTS
# override the defaults. The keys live under portcullis-bench and expire
# within a minute.
set -euo pipefail
cd "$(dirname "$0")/.."

HOST=${REDIS_HOST:-127.0.0.1}
PORT=${REDIS_PORT:-6379}
REQUESTS=${REQUESTS:-200000}
KEY='portcullis-bench:{rl:api:user:__rand_int__}'

sha=$(redis-cli -h "$HOST" -p "$PORT" SCRIPT LOAD "$(cat src/adapters/redis/gcra.lua)")

# Requests per second of the script call with $1 connections, $2 pipelined.
server_rate() {
  redis-benchmark -h "$HOST" -p "$PORT" -n "$REQUESTS" -c "$1" -P "$2" -r 10000 -q \
    EVALSHA "$sha" 1 "$KEY" 100 60000 |
    tr '\r' '\n' | sed -nE 's/.*: ([0-9.]+) requests per second.*/\1/p' | tail -n 1
}

# Decisions per second from criterion's last run of one case, or nothing:
# the inverse of the time it printed (the slope estimate, else the mean).
client_rate() {
  local estimates="target/criterion/redis_limiter/$1/new/estimates.json"
  [[ -f $estimates ]] || return 0
  jq -r '(.slope // .mean).point_estimate | 1e9 / . | floor' "$estimates"
}

ratio() {
  [[ -n $1 && -n $2 ]] && awk -v c="$1" -v s="$2" 'BEGIN { printf "%.2f", c / s }' || echo "n/a"
}

echo "script: src/adapters/redis/gcra.lua (sha1 $sha) on $HOST:$PORT, $REQUESTS calls per run"
printf '%-12s %18s %40s %6s\n' "redis-benchmark" "script calls (/s)" "criterion, one process (/s)" "ratio"
for case in "1 1 decision_sequential" "32 1 decision_32_in_flight" "1 32 decision_32_in_flight"; do
  read -r connections pipelined bench <<<"$case"
  server=$(server_rate "$connections" "$pipelined")
  client=$(client_rate "$bench")
  printf '%-12s %18s %40s %6s\n' "-c $connections -P $pipelined" "$server" "${client:-not run} ($bench)" \
    "$(ratio "$client" "$server")"
done
