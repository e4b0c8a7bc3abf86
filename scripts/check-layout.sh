#!/usr/bin/env bash
# The layout rules of the hexagon, checked mechanically:
# - no file under src/ is longer than 450 lines (one concern a file);
# - src/core, src/ports and src/adapters import nothing from crate::app;
# - src/core and src/ports name no HTTP, SQL or Redis crate;
# - a release build's dependency tree holds no test-support crate.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

long=$(find src -name '*.rs' -print0 | xargs -0 wc -l | awk '$2 != "total" && $1 > 450 {print}')
if [ -n "$long" ]; then
  echo "files over 450 lines:"; echo "$long"; status=1
fi

if grep -rn 'crate::app\b' src/core src/ports src/adapters | grep -v '^[^:]*:[0-9]*: *//'; then
  echo "core, ports and adapters must not depend on app"; status=1
fi

if grep -rnE '\b(poem|poem_openapi|sqlx|redis)::' src/core src/ports; then
  echo "core and ports must not name poem, sqlx or redis"; status=1
fi

release_tree=$(cargo tree --quiet -e normal,build --no-default-features --features sqlite,postgres,redis,vault --prefix none)
for crate in testcontainers testcontainers-modules mockall proptest criterion; do
  if grep -qE "^$crate v" <<<"$release_tree"; then
    echo "a release build depends on the test-support crate $crate"; status=1
  fi
done

[ "$status" -eq 0 ] && echo "layout: ok"
exit "$status"
