#!/usr/bin/env bash
# Load script: every measured route against its baseline, in interleaved
# rounds, on this machine. Prints a Markdown report: for each route the
# median of the rounds' requests/s, the median p99 latency, and the median
# of each round's ratio to its baseline measured in that same round:
#
# - bare poem (`GET /` of examples/bare_poem.rs) for /healthz,
#   /v1/auth/verify, /v1/users/me on SQLite and refresh, and for bare
#   poem's copies of the /healthz and verify exchanges (the same request
#   and answer bytes, from constants: what the size of the exchange alone
#   costs);
# - pgbench's rate for the very primary-key lookup of /v1/users/me
#   (prepared, on the same database, same client count as the pool) for
#   /v1/users/me on Postgres;
# - cores / bcrypt time for login and register (bcrypt time: the mean
#   latency of logins one at a time, which is all hash).
#
#   bash scripts/load.sh                           # 3 rounds of 8 s per target
#   DURATION=3s ROUNDS=3 bash scripts/load.sh      # about 2 minutes
#   POSTGRES=0 bash scripts/load.sh                # without Postgres
#
# Needs wrk (installed from Debian's packages when missing), curl, and for
# the Postgres part psql and pgbench with TEST_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test; a database `portcullis_load` is
# created beside it). Traffic goes to 127.0.0.1 only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
BCRYPT_COST=${BCRYPT_COST:-10}
POSTGRES=${POSTGRES:-1}
PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
POOL=${POOL:-10}
BARE_PORT=18081 SQLITE_PORT=18082 PG_PORT=18083

if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
features=()
[ "$POSTGRES" = 1 ] && features=(--features postgres)
cargo build --release --quiet "${features[@]}" --bin portcullis --example bare_poem

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_for() {
  for _ in $(seq 1 200); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; cat "$work"/*.log >&2; exit 1
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# The API limit is at its highest (10 000 000 a minute): verify and
# /v1/users/me answer some 50 000 requests a second from one address, and a
# lower limit ran out in the second round and measured 429s.
start_portcullis() { # port database-url log
  PORTCULLIS_BIND="127.0.0.1:$1" \
  DATABASE_URL="$2" \
  PORTCULLIS_DATABASE__MAX_CONNECTIONS="$POOL" \
  PORTCULLIS_JWT_KEYS="load-test-signing-key-0123456789-abcdefghijkl" \
  PORTCULLIS_BCRYPT_COST="$BCRYPT_COST" \
  PORTCULLIS_LIMITS__API__PER_MINUTE=10000000 \
  PORTCULLIS_LIMITS__AUTH__PER_MINUTE=1000000 \
  PORTCULLIS_LIMITS__AUTH__BURST=1000000 \
  PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX=10000 \
  PORTCULLIS_LIMITS__ACCOUNT_FAILURES__MAX=1000000 \
  PORTCULLIS_ACCESS_TOKEN_TTL_SECONDS=3600 \
  RUST_LOG=warn \
    ./target/release/portcullis >"$work/$3.log" 2>&1 &
  pids+=($!)
}

./target/release/examples/bare_poem "127.0.0.1:$BARE_PORT" >"$work/bare.log" 2>&1 &
pids+=($!)
start_portcullis "$SQLITE_PORT" "sqlite://$work/load.db" sqlite
server=${pids[-1]}
wait_for "http://127.0.0.1:$BARE_PORT/"
wait_for "http://127.0.0.1:$SQLITE_PORT/healthz"
if [ "$POSTGRES" = 1 ]; then
  psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS portcullis_load" -c "CREATE DATABASE portcullis_load" >/dev/null
  PG_LOAD_URL="${PG_URL%/*}/portcullis_load"
  start_portcullis "$PG_PORT" "$PG_LOAD_URL" postgres
  wait_for "http://127.0.0.1:$PG_PORT/healthz"
fi
sleep 1
idle_rss=$(rss_kib "$server")

password="correct-Horse-battery-staple-42"
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
account() { # port email -> the login response
  curl -fsS -X POST "http://127.0.0.1:$1/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$2\",\"password\":\"$password\"}" >/dev/null
  curl -fsS -X POST "http://127.0.0.1:$1/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$2\",\"password\":\"$password\"}"
}
email="load-$(date +%s)@example.com"
token=$(account "$SQLITE_PORT" "$email" | field access_token)
if [ "$POSTGRES" = 1 ]; then
  pg_token=$(account "$PG_PORT" "$email" | field access_token)
  user_id=$(curl -fsS "http://127.0.0.1:$PG_PORT/v1/users/me" -H "authorization: Bearer $pg_token" | field id)
  # The statement /v1/users/me runs (adapters::postgres::users::fetch_user).
  echo "SELECT id, email, password_hash, role, status, created_at, updated_at, credential_epoch FROM users WHERE id = '$user_id';" \
    >"$work/me.sql"
fi

cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"$email","password":"$password"}'
LUA
cat >"$work/register.lua" <<LUA
local n = 0
local run = tostring(os.time()) .. tostring(math.random(1000000))
request = function()
  n = n + 1
  local body = '{"email":"r' .. n .. '-' .. run .. '@example.com","password":"$password"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
LUA
# Each request spends one refresh token from a queue and puts back the one
# its answer carries. The queue starts with two live tokens per connection:
# with only one each, a connection that finds the queue empty while the
# others' tokens are in flight sends no token, is refused at once and
# spins, and the run measures refusals. A request that finds the queue
# empty anyway still goes out (as "none") and shows in the non-2xx column.
cat >"$work/refresh.lua" <<'LUA'
local tokens = {}
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
end
request = function()
  local token = table.remove(tokens, 1) or "none"
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then tokens[#tokens + 1] = token end
end
LUA

refresh_tokens() { # two live refresh tokens per connection, from parallel logins
  seq 1 $((2 * CONNECTIONS)) | xargs -P "$(nproc)" -I{} curl -fsS -X POST "http://127.0.0.1:$SQLITE_PORT/v1/auth/login" \
    -H 'content-type: application/json' -d "{\"email\":\"$email\",\"password\":\"$password\"}" \
    | grep -o '"refresh_token":"[^"]*"' | cut -d'"' -f4 >"$work/refresh.tokens"
  local minted
  minted=$(wc -l <"$work/refresh.tokens")
  [ "$minted" -ge $((2 * CONNECTIONS)) ] || { echo "only $minted of $((2 * CONNECTIONS)) logins gave a refresh token" >&2; exit 1; }
}

# One wrk run: prints "requests/s p99-ms non-2xx".
run_wrk() {
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
  awk '
    /Requests\/sec/ { rps = $2 }
    /Non-2xx/ { bad = $NF }
    $1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                  p99 = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
    END { printf "%s %.2f %d\n", rps, p99, bad }' <<<"$out"
}
run_pgbench() { # prints "tps p99-ms 0"
  pgbench -n -M prepared -c "$POOL" -j 1 -T "${DURATION%s}" -f "$work/me.sql" -r -l --log-prefix="$work/pgb" \
    "$PG_LOAD_URL" >"$work/pgbench.out" 2>&1
  local tps p99
  tps=$(awk '/^tps/ {print $3; exit}' "$work/pgbench.out")
  p99=$(cat "$work"/pgb.* | awk '{print $3}' | sort -n | awk '{a[NR] = $1} END {printf "%.2f", a[int(NR * 0.99)] / 1000}')
  rm -f "$work"/pgb.*
  echo "$tps $p99 0"
}

base="http://127.0.0.1:$SQLITE_PORT"
targets=(bare bare_healthz bare_verify healthz verify me_sqlite refresh login register)
[ "$POSTGRES" = 1 ] && targets+=(pgbench me_postgres)
for round in $(seq 1 "$ROUNDS"); do
  for target in "${targets[@]}"; do
    case $target in
      bare) result=$(run_wrk "http://127.0.0.1:$BARE_PORT/") ;;
      bare_healthz) result=$(run_wrk "http://127.0.0.1:$BARE_PORT/healthz") ;;
      bare_verify) result=$(run_wrk -H "Authorization: Bearer $token" "http://127.0.0.1:$BARE_PORT/v1/auth/verify") ;;
      healthz) result=$(run_wrk "$base/healthz") ;;
      verify) result=$(run_wrk -H "Authorization: Bearer $token" "$base/v1/auth/verify") ;;
      me_sqlite) result=$(run_wrk -H "Authorization: Bearer $token" "$base/v1/users/me") ;;
      refresh) refresh_tokens; result=$(run_wrk -s "$work/refresh.lua" "$base/v1/auth/refresh" -- "$work/refresh.tokens") ;;
      login) result=$(run_wrk -s "$work/login.lua" "$base/v1/auth/login") ;;
      register) result=$(run_wrk -s "$work/register.lua" "$base/v1/auth/register") ;;
      pgbench) result=$(run_pgbench) ;;
      me_postgres) result=$(run_wrk -H "Authorization: Bearer $pg_token" "http://127.0.0.1:$PG_PORT/v1/users/me") ;;
    esac
    echo "$round $target $result" >>"$work/results"
    echo "round $round: $target $result" >&2
  done
  # bcrypt time: logins one at a time, each almost all hash.
  single=$(wrk -t1 -c1 -d"$DURATION" -s "$work/login.lua" "$base/v1/auth/login" | awk '/Requests\/sec/ {print $2}')
  echo "$round single_login $single 0 0" >>"$work/results"
done
loaded_rss=$(rss_kib "$server")

# Liveness while every hashing worker is busy: /healthz latency idle, then
# during a login storm.
p() { awk -v q="$1" '$1 == q {print $2}'; }
healthz_idle=$(wrk -t1 -c4 -d"$DURATION" --latency "$base/healthz")
wrk -t1 -c64 -d"$DURATION" -s "$work/login.lua" "$base/v1/auth/login" >"$work/storm.txt" &
storm=$!
sleep 1
healthz_storm=$(wrk -t1 -c4 -d"$DURATION" --latency "$base/healthz")
wait "$storm"
storm_rss=$(rss_kib "$server")

# Per round: each target's ratio to its baseline in that round.
awk -v cores="$(nproc)" '
  { rps[$1, $2] = $3; p99[$1, $2] = $4; bad[$1, $2] += $5; rounds[$1] = 1; seen[$2] = 1 }
  function median(values, n,    i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (values[j] < values[i]) { t = values[i]; values[i] = values[j]; values[j] = t }
    return (n % 2) ? values[(n + 1) / 2] : (values[n / 2] + values[n / 2 + 1]) / 2
  }
  END {
    split("bare bare_healthz bare_verify healthz verify me_sqlite refresh pgbench me_postgres login register single_login", order, " ")
    base["bare_healthz"] = "bare"; base["bare_verify"] = "bare"
    base["healthz"] = "bare"; base["verify"] = "bare"; base["me_sqlite"] = "bare"; base["refresh"] = "bare"
    base["me_postgres"] = "pgbench"; base["login"] = "limit"; base["register"] = "limit"
    name["bare"] = "bare poem `GET /`"
    name["bare_healthz"] = "bare poem, `/healthz`\x27s exchange from constants"
    name["bare_verify"] = "bare poem, verify\x27s exchange from constants"; name["healthz"] = "`GET /healthz`"; name["verify"] = "`GET /v1/auth/verify`"
    name["me_sqlite"] = "`GET /v1/users/me`, SQLite"; name["refresh"] = "`POST /v1/auth/refresh`, SQLite"
    name["pgbench"] = "pgbench, the same lookup"; name["me_postgres"] = "`GET /v1/users/me`, Postgres"
    name["login"] = "`POST /v1/auth/login`"; name["register"] = "`POST /v1/auth/register`"
    name["single_login"] = "one login at a time (bcrypt time)"
    print "| target | requests/s (median) | p99 ms (median) | ratio to baseline (median) | baseline | non-2xx |"
    print "|---|---|---|---|---|---|"
    for (k = 1; k in order; k++) {
      t = order[k]; if (!(t in seen)) continue
      has = (t in base); limit = has && base[t] == "limit"
      n = 0; for (r in rounds) { n++; a[n] = rps[r, t]; b[n] = p99[r, t]; errors += bad[r, t]
        if (limit) c[n] = rps[r, t] / (cores * rps[r, "single_login"])
        else if (has) c[n] = rps[r, t] / rps[r, base[t]] }
      ratio = has ? sprintf("%.2f", median(c, n)) : "1"
      what = limit ? cores " cores / bcrypt time" : has ? name[base[t]] : "itself"
      if (t == "single_login") { ratio = "-"; what = "-" }
      printf "| %s | %.0f | %.2f | %s | %s | %d |\n", name[t], median(a, n), median(b, n), ratio, what, errors
      errors = 0
    }
  }' "$work/results"
cat <<REPORT

| \`/healthz\` latency (wrk -c4) | p50 | p90 | p99 |
|---|---|---|---|
| idle | $(p 50% <<<"$healthz_idle") | $(p 90% <<<"$healthz_idle") | $(p 99% <<<"$healthz_idle") |
| during a login storm (64 connections, $(awk '/Requests\/sec/ {print $2}' "$work/storm.txt") logins/s) | $(p 50% <<<"$healthz_storm") | $(p 90% <<<"$healthz_storm") | $(p 99% <<<"$healthz_storm") |

Resident memory of the SQLite server: $idle_rss KiB idle after start, $loaded_rss KiB after the rounds, $storm_rss KiB after the storm.
REPORT
echo "($(date -u +%Y-%m-%d), $(nproc) cores, wrk -t1 -c$CONNECTIONS -d$DURATION, $ROUNDS interleaved rounds, bcrypt cost $BCRYPT_COST, release build; server, wrk and pgbench share the machine)"
