#!/usr/bin/env bash
# Checks the operator's kit under deploy/:
#   1. `promtool check rules` on deploy/prometheus/alerts.yml, and its unit
#      tests with `promtool test rules` (Debian's prometheus package: installed
#      with apt-get when promtool is missing);
#   2. the Grafana dashboard is JSON;
#   3. every metric the dashboard and the rules query appears in the live
#      /metrics of a freshly built Portcullis (started on a free port,
#      given a few requests, scraped).
#
#   bash scripts/check-deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Metrics that the dashboard and rules may query although this build does not
# export them yet, each with the reason. Remove a line once its metric ships.
allowed_missing=(
)

if ! command -v promtool >/dev/null 2>&1; then
  echo "== deploy: installing Debian's prometheus package for promtool"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi

echo "== deploy: promtool check rules"
promtool check rules deploy/prometheus/alerts.yml
echo "== deploy: promtool test rules"
(cd deploy/prometheus && promtool test rules alerts.test.yml)

echo "== deploy: the dashboard is JSON"
python3 -m json.tool deploy/grafana/portcullis.json >/dev/null

echo "== deploy: cargo build --bin portcullis"
cargo build --quiet --bin portcullis
binary=${CARGO_TARGET_DIR:-$root/target}/debug/portcullis
case $binary in /*) ;; *) binary=$root/$binary ;; esac

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work=$(mktemp -d)
(
  cd "$work"
  exec env -i PATH="$PATH" PORTCULLIS_BIND="127.0.0.1:$port" DATABASE_URL="sqlite://$work/deploy.db" \
    PORTCULLIS_BCRYPT_COST=4 RUST_LOG=warn "$binary"
) >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if ! curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
  echo "deploy: the service did not start; its log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
# Requests, so that the per-route series exist; every other series is
# exposed from the start.
curl -s -o /dev/null "http://127.0.0.1:$port/readyz"
curl -s -o /dev/null "http://127.0.0.1:$port/nowhere"
curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"

# The exposed names: each family, and a histogram's _bucket, _sum and _count.
exported=$(awk '$1 == "#" && $2 == "TYPE" {
    print $3
    if ($4 == "histogram") { print $3 "_bucket"; print $3 "_sum"; print $3 "_count" }
  }' "$work/metrics.txt" | sort -u)

echo "== deploy: metric names queried by the dashboard and the rules, against a live /metrics"
status=0
checked=0
while read -r name file; do
  checked=$((checked + 1))
  if grep -qxF "$name" <<<"$exported"; then
    continue
  fi
  allowed=no
  for missing in "${allowed_missing[@]}"; do [ "$missing" = "$name" ] && allowed=yes; done
  if [ "$allowed" = yes ]; then
    echo "deploy: $name ($file) is not exported yet; allowed (see allowed_missing)"
  else
    echo "deploy: $file queries $name, which a running Portcullis does not export" >&2
    status=1
  fi
done < <(python3 scripts/deploy/metric_names.py deploy/grafana/portcullis.json deploy/prometheus/alerts.yml)
[ "$checked" -gt 0 ] || { echo "deploy: no metric names found in the dashboard or the rules" >&2; exit 1; }
[ "$status" -eq 0 ] && echo "deploy: rules valid and tested; all $checked queried names are exported (or allowed)"
exit "$status"
