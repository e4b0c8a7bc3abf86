#!/usr/bin/env bash
# Pastes the README's quick start into bash against a fresh build, and fails
# unless every step succeeds.
#
# The README marks its blocks with HTML comments: `<!-- quickstart:server -->`
# before the block that starts the service, `<!-- quickstart -->` before the
# block a reader pastes into a second terminal. The server block runs in an
# empty temporary directory (so its `.env` and `./data/` are fresh), with
# `cargo run` meaning the binary just built and PORTCULLIS_BIND set to a free
# port. The client block runs with `bash -euo pipefail` once the service is
# up, with `127.0.0.1:8080` and `localhost:8080` pointed at that port, and
# must end with the 401 of a signed-out token. Needs curl, sed and openssl;
# no network beyond localhost.
#
#   bash scripts/quickstart-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# The fenced block after marker $1 in README.md, without its fences.
block() {
  awk -v marker="<!-- $1 -->" '
    $0 == marker { armed = 1; next }
    armed && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }
  ' README.md
}
server_block=$(block quickstart:server)
client_block=$(block quickstart)
[ -n "$server_block" ] || { echo "quickstart: README.md has no <!-- quickstart:server --> block" >&2; exit 1; }
[ -n "$client_block" ] || { echo "quickstart: README.md has no <!-- quickstart --> block" >&2; exit 1; }

echo "== quickstart: cargo build --bin portcullis"
cargo build --quiet --bin portcullis
binary=${CARGO_TARGET_DIR:-$root/target}/debug/portcullis
case $binary in /*) ;; *) binary=$root/$binary ;; esac

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# `cargo run [--] ARGS` in the README means the binary built above.
cargo_stand_in=$(cat <<EOF
cargo() {
  [ "\${1:-}" = run ] || { echo "quickstart: the server block may only \`cargo run\`, not \`cargo \$*\`" >&2; return 64; }
  shift; [ "\${1:-}" != -- ] || shift
  exec "$binary" "\$@"
}
EOF
)

echo "== quickstart: the server block, on 127.0.0.1:$port"
printf '%s\n' "$server_block" | sed 's/^/   | /'
(
  cd "$work"
  # Only what the reader's shell would have: no developer .env, no test settings.
  exec env -i PATH="$PATH" HOME="$work" PORTCULLIS_BIND="127.0.0.1:$port" RUST_LOG=warn \
    bash -euo pipefail -c "$cargo_stand_in"$'\n'"$server_block"
) >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if ! curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
  echo "quickstart: the service did not start; its output:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
if ! grep -q '^PORTCULLIS_JWT_KEYS=.' "$work/.env"; then
  echo "quickstart: the server block wrote no signing key into .env" >&2
  exit 1
fi

echo "== quickstart: the client block"
client_block=$(printf '%s\n' "$client_block" | sed "s#127\.0\.0\.1:8080#127.0.0.1:$port#g; s#localhost:8080#127.0.0.1:$port#g")
printf '%s\n' "$client_block" | sed 's/^/   | /'
if ! output=$(cd "$work" && env -i PATH="$PATH" HOME="$work" bash -euo pipefail -c "$client_block" 2>&1); then
  echo "quickstart: a step of the client block failed; its output:" >&2
  printf '%s\n' "$output" >&2
  echo "the service's log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
printf '%s\n' "$output" | sed 's/^/   > /'

# Each step's answer, in order: the user, the same user, then 401.
status=0
lines=()
while IFS= read -r line; do lines+=("$line"); done <<<"$output"
[[ ${lines[0]:-} == *'"email":"ada@example.com"'* ]] || { echo "quickstart: register did not answer the user" >&2; status=1; }
[[ ${lines[1]:-} == *'"email":"ada@example.com"'* ]] || { echo "quickstart: /v1/users/me did not answer the user" >&2; status=1; }
[ "${lines[-1]:-}" = 401 ] || { echo "quickstart: the signed-out token was not refused with 401" >&2; status=1; }
if grep -q '"level":"ERROR"' "$work/server.log"; then
  echo "quickstart: the service logged an error:" >&2
  grep '"level":"ERROR"' "$work/server.log" >&2
  status=1
fi
[ "$status" -eq 0 ] && echo "quickstart: every step of the README's quick start succeeded"
exit "$status"
