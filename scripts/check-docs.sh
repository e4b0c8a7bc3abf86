#!/usr/bin/env bash
# Renders /docs in headless Chromium and fails unless Swagger UI drew the
# operations with no Content-Security-Policy violation and no console error.
# Installs Debian's chromium when it is missing. Saves a screenshot to
# target/docs.png.
#
#   bash scripts/check-docs.sh [path/to/portcullis]
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:-target/debug/portcullis}
port=${PORT:-18090}
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
[ -x "$binary" ] || cargo build --quiet --bin portcullis

work=$(mktemp -d)
PORTCULLIS_BIND="127.0.0.1:$port" DATABASE_URL="sqlite://$work/docs.db" RUST_LOG=warn "$binary" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$work/profile"
       --virtual-time-budget=10000 --enable-logging=stderr --v=0)
chromium "${flags[@]}" --dump-dom "http://127.0.0.1:$port/docs" >"$work/dom.html" 2>"$work/console.log" || true
mkdir -p target
chromium "${flags[@]}" --window-size=1280,1600 --screenshot=target/docs.png "http://127.0.0.1:$port/docs" \
  >/dev/null 2>>"$work/console.log" || true

status=0
if ! grep -q 'opblock-tag' "$work/dom.html"; then
  echo "Swagger UI did not render the operations"; status=1
fi
if grep -q 'register' "$work/dom.html"; then :; else echo "the register operation is missing"; status=1; fi
if grep -Ei "Content Security Policy|Refused to (execute|load|apply|connect)" "$work/console.log"; then
  echo "CSP violations on /docs"; status=1
fi
if grep -E 'CONSOLE\([0-9]+\).*(Error|error)' "$work/console.log" | grep -v 'favicon'; then
  echo "console errors on /docs"; status=1
fi
[ "$status" -eq 0 ] && echo "docs: Swagger UI rendered under its CSP with no violation (screenshot: target/docs.png)"
exit "$status"
