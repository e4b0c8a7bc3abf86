#!/usr/bin/env bash
# The query plans behind a login and an admin list page, at 1 000 users and
# at 1 000 000, on Postgres: each must stay an index lookup or an index
# range, so its cost does not grow with the table.
#
#   bash scripts/users-scale.sh            # sizes 1000 and 1000000
#   SIZES="1000 100000" bash scripts/users-scale.sh
#
# Creates a scratch database on TEST_DATABASE_URL's server (default
# postgres://postgres@127.0.0.1:5432/test), applies migrations/postgres with
# psql, seeds the users with one generate_series insert per size (ids shaped
# as UUIDv7 in creation order, as the service mints them), and prints
# EXPLAIN (ANALYZE, BUFFERS) for the statements the store runs:
#   - a login: the user by address, then the epoch check that opens the
#     session (under FOR SHARE, in a transaction rolled back);
#   - /v1/users/me: the user by id;
#   - an admin list page: the first page and one from the middle (keyset).
# The latencies themselves come from
#   TEST_DATABASE_URL=... cargo bench --features postgres --bench users_scale
# The scratch database is dropped on exit. Needs psql.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
SIZES=${SIZES:-1000 1000000}
DATABASE=portcullis_scale_$$
URL=${SERVER%/*}/$DATABASE

psql -q -X -v ON_ERROR_STOP=1 "$SERVER" -c "CREATE DATABASE $DATABASE"
trap 'psql -q -X "$SERVER" -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)"' EXIT

for migration in migrations/postgres/*.sql; do
  psql -q -X -v ON_ERROR_STOP=1 "$URL" -f "$migration" >/dev/null
done

id_of() { # the id of seeded user $1, as the seed computes it
  psql -X -A -t -v ON_ERROR_STOP=1 "$URL" -c \
    "SELECT (lpad(to_hex(1700000000000 + $1), 12, '0') || '7000' || '8' || lpad(to_hex($1), 15, '0'))::uuid"
}

plan() { # title, statement
  echo "--- $1"
  psql -X -v ON_ERROR_STOP=1 "$URL" -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $2" | sed -n '/QUERY PLAN/,$p' | sed '1,2d;/^(/d'
}

COLUMNS="id, email, password_hash, role, status, created_at, updated_at, credential_epoch"
seeded=0
for size in $SIZES; do
  started=$(date +%s.%N)
  psql -q -X -v ON_ERROR_STOP=1 "$URL" <<SQL
INSERT INTO users (id, email, password_hash, role, status, created_at, updated_at)
SELECT (lpad(to_hex(1700000000000 + n), 12, '0') || '7000' || '8' || lpad(to_hex(n), 15, '0'))::uuid,
       'user' || n || '@example.com',
       '\$2b\$10\$C6UzMDM.H6dfI/f/IKxGhuJYHnlNW5Yh7bv9R0N0p9Qb0RXDzuQyC', 'user', 'active',
       1700000000 + n / 1000, 1700000000 + n / 1000
FROM generate_series($((seeded + 1)), $size) AS n;
VACUUM ANALYZE users;
SQL
  seeded=$size
  echo "=== $size users (seeded in $(echo "$(date +%s.%N) - $started" | bc) s)"
  probe=$((size / 2 + 1))
  id=$(id_of "$probe")
  plan "login: user by address" \
    "SELECT $COLUMNS FROM users WHERE lower(email) = lower('user$probe@example.com')"
  echo "--- login: epoch check before the session insert (FOR SHARE)"
  psql -X -v ON_ERROR_STOP=1 "$URL" <<SQL | sed -n '/QUERY PLAN/,$p' | sed '1,2d;/^(/d;/^ROLLBACK/d'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT 1 FROM users WHERE id = '$id' AND status = 'active' AND credential_epoch = 0 FOR SHARE;
ROLLBACK;
SQL
  plan "/v1/users/me: user by id" "SELECT $COLUMNS FROM users WHERE id = '$id'"
  plan "admin list: first page" "SELECT $COLUMNS FROM users ORDER BY id LIMIT 51"
  plan "admin list: page after user $probe" "SELECT $COLUMNS FROM users WHERE id > '$id' ORDER BY id LIMIT 51"
done
