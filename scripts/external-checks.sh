#!/usr/bin/env bash
# Proof from outside (issue 6): checks Portcullis with tools nobody here
# wrote, against a live server started from this tree.
#
#   spec        openapi-spec-validator on openapi/openapi.json, then
#               scripts/external/check_spec.py (operationIds, summaries, tags,
#               problem+json errors, bearer JWT, request body examples)
#   typescript  openapi-typescript generates types from the committed spec,
#               tsc type-checks clients/typescript against them, and the
#               openapi-fetch program runs register -> verify the address
#               through the mailed link -> login -> me -> sessions -> refresh
#               -> logout -> me is 401, then a password reset through the
#               mailed link (old tokens and password refused, the link works
#               once, an unknown address gets the same 202), then a TOTP
#               second factor with RFC 6238 codes from Node's crypto and an
#               admin's invitation through the mailed link (src/account.ts)
#   python      openapi-python-client generates a client into target/, and
#               clients/python/flow.py runs the same flow with it
#   reset-timing  scripts/reset-timing.py: 200 password-reset requests for a
#               known and 200 for unknown addresses get one answer, and the
#               medians of their times differ by less than 5 ms
#   browser     Swagger UI at /docs in Debian's headless Chromium through
#               playwright-core: Try it out, Authorize, no console error, no
#               CSP violation; screenshot at target/swagger-ui.png
#   fuzz        schemathesis with every check, a fixed seed and a fixed number
#               of examples per operation
#   jwks        PyJWT's PyJWKClient fetches /.well-known/jwks.json from a second
#               server whose key ring is a file (EdDSA active, ES256 staged) and
#               verifies an EdDSA token, then, after a promotion and SIGHUP, an
#               ES256 token; after the EdDSA key's retirement its token is
#               refused (scripts/external/jwks_check.py)
#   totp        pyotp reads the otpauth:// URI of an enrolment on a second
#               server (PORTCULLIS_MFA_KEY_FILE, default lockout); its codes
#               confirm and sign in, a replayed code and a reused recovery
#               code are refused, wrong codes lock the account
#               (scripts/external/totp_check.py)
#   (jwks and totp start their servers, call them and report through
#   scripts/external/checklib.py)
#
#   bash scripts/external-checks.sh                 # everything
#   bash scripts/external-checks.sh spec fuzz       # some checks only
#
# The server sends its mail to a real SMTP server, aiosmtpd on a free port
# of 127.0.0.1, which writes each message it accepts into the maildir
# target/external-mail (new/ holds one file per message); the flows read
# their links from there (CHECKS_MAILDIR, CHECKS_PUBLIC_URL).
#
# Installs what is missing: pip packages (pinned in
# clients/python/requirements.txt) into target/external-venv, npm packages with
# `npm ci` from the committed lock files, Debian's chromium with apt-get.
# Generated code goes to target/ and clients/typescript/src/schema.d.ts
# (ignored), never into git. Exits non-zero if any check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(spec typescript python reset-timing browser fuzz jwks totp)
for check in "${checks[@]}"; do
  case $check in spec | typescript | python | reset-timing | browser | fuzz | jwks | totp) ;; *) echo "unknown check: $check" >&2; exit 2 ;; esac
done
wants() { local c; for c in "${checks[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }

started=$(date +%s)
say() { echo "== external: $* ($(($(date +%s) - started))s)"; }

# ---- tools ----------------------------------------------------------------

venv=$root/target/external-venv
python=$venv/bin/python
requirements=$root/clients/python/requirements.txt
# Every check needs the venv: its aiosmtpd is the server's SMTP server.
stamp=$venv/.requirements
# A venv's scripts name its absolute path: a moved target/ needs a new one.
wanted=$(cat "$requirements"; echo "# venv at $venv")
if ! [ -x "$python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  say "installing Python tools into target/external-venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  printf '%s\n' "$wanted" >"$stamp"
fi
export PATH="$venv/bin:$PATH" # openapi-python-client formats with the venv's ruff

npm_ci() { # installs a client's node_modules from its lock file when it changed
  local dir=$root/clients/$1
  if ! [ -d "$dir/node_modules" ] || ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.ci"; then
    say "npm ci in clients/$1"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.ci"
  fi
}
if wants typescript; then npm_ci typescript; fi
if wants browser; then
  npm_ci browser
  if ! [ -x /usr/bin/chromium ]; then
    say "installing Debian's chromium"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

# ---- the server -------------------------------------------------------------

say "cargo build --bin portcullis"
cargo build --quiet --bin portcullis
binary=${CARGO_TARGET_DIR:-$root/target}/debug/portcullis

work=$(mktemp -d)
server=
smtp=
stop_process() { # stop_process PID: TERM, then KILL after 5 s
  local pid=$1
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
stop_server() { stop_process "$server"; server=; }
trap 'stop_server; stop_process "$smtp"; rm -rf "$work"' EXIT

free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
export PORTCULLIS_URL="http://127.0.0.1:$port"
export PORTCULLIS_ADMIN_EMAIL=admin@example.com
export PORTCULLIS_ADMIN_PASSWORD=Portcullis-external-Checks-2024

# The SMTP server: aiosmtpd's Mailbox handler writes each accepted message as
# one file into $CHECKS_MAILDIR/new. Emptied at each run.
smtp_port=$(free_port)
export CHECKS_MAILDIR=$root/target/external-mail
rm -rf "$CHECKS_MAILDIR"
"$python" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$CHECKS_MAILDIR" \
  >"$work/smtp.log" 2>&1 &
smtp=$!
smtp_listens() { "$python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$smtp_port" 2>/dev/null; }
for _ in $(seq 1 100); do
  smtp_listens && break
  kill -0 "$smtp" 2>/dev/null || break
  sleep 0.1
done
if ! smtp_listens; then
  echo "aiosmtpd did not start; its output:" >&2
  cat "$work/smtp.log" >&2
  exit 1
fi
say "SMTP server (aiosmtpd) at 127.0.0.1:$smtp_port, maildir target/external-mail"

# A throwaway SQLite database; cost-4 bcrypt; limits raised far above what the
# fuzzer and scripts/reset-timing.py send, so they meet the handlers rather
# than 429s (the limits have their own tests in tests/api). Mail goes to the
# SMTP server above, in plain SMTP (no TLS on 127.0.0.1), retried after at
# most a second; the links point at PORTCULLIS_PUBLIC_URL, an application
# that does not exist: the flows take the token out of the link (they read
# it from CHECKS_PUBLIC_URL; the checks' own variables are CHECKS_*, since
# the service, which inherits this environment, refuses to start on a
# PORTCULLIS_* name it does not know). Run from the temp directory, so a
# developer's .env cannot change the setup.
export CHECKS_PUBLIC_URL=https://app.example.com
(
  cd "$work"
  exec env PORTCULLIS_BIND="127.0.0.1:$port" DATABASE_URL="sqlite://$work/external.db" \
    PORTCULLIS_ENV=development PORTCULLIS_JWT_KEYS=external-checks-fixed-signing-key-0123456789abcdef \
    PORTCULLIS_BCRYPT_COST=4 PORTCULLIS_MAILER=smtp PORTCULLIS_PUBLIC_URL="$CHECKS_PUBLIC_URL" PORTCULLIS_SMTP__HOST=127.0.0.1 \
    PORTCULLIS_SMTP__PORT="$smtp_port" PORTCULLIS_SMTP__SECURITY=none PORTCULLIS_SMTP__RETRY_MAX_SECONDS=1 \
    PORTCULLIS_MAIL_FROM="Portcullis <auth@example.com>" \
    PORTCULLIS_LIMITS__AUTH__PER_MINUTE=1000000 PORTCULLIS_LIMITS__AUTH__BURST=1000000 \
    PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX=10000 PORTCULLIS_LIMITS__ACCOUNT_FAILURES__MAX=1000000 \
    PORTCULLIS_LIMITS__API__PER_MINUTE=10000000 RUST_LOG=warn \
    "$binary"
) >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "$PORTCULLIS_URL/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if ! curl -fsS "$PORTCULLIS_URL/readyz" >/dev/null 2>&1; then
  echo "the server did not become ready; its log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
say "server ready at $PORTCULLIS_URL"

# ---- the checks -------------------------------------------------------------

passed=()
failed=()
run() { # run NAME SECONDS: the function check_NAME (- as _), bounded in time
  local name=$1 seconds=$2
  say "$name"
  if timeout --kill-after=10 "$seconds" bash -c "set -euo pipefail; check_${name//-/_}"; then
    passed+=("$name")
  else
    echo "external: $name FAILED (exit $?)" >&2
    failed+=("$name")
  fi
}

check_spec() {
  openapi-spec-validator openapi/openapi.json &&
    "$python" scripts/external/check_spec.py openapi/openapi.json || return 1
  if ! curl -fsS "$PORTCULLIS_URL/openapi.json" | cmp -s - openapi/openapi.json; then
    echo "spec: the served /openapi.json differs from openapi/openapi.json: run \`cargo run -- openapi\`"
    return 1
  fi
  echo "spec: /openapi.json is byte-identical to openapi/openapi.json"
}

check_typescript() {
  cd "$root/clients/typescript" &&
    npx --no-install openapi-typescript ../../openapi/openapi.json -o src/schema.d.ts &&
    npx --no-install tsc --noEmit -p . &&
    echo "typescript: the program type-checks against the generated types" &&
    npx --no-install tsx src/flow.ts
}

check_python() {
  rm -rf target/python-client &&
    openapi-python-client generate --path openapi/openapi.json --fail-on-warning \
      --output-path target/python-client/portcullis_client --meta none &&
    PYTHONPATH=target/python-client "$python" clients/python/flow.py
}

check_reset_timing() {
  "$python" scripts/reset-timing.py
}

check_browser() {
  mkdir -p target && rm -f target/swagger-ui.png &&
    (cd clients/browser && SCREENSHOT="$root/target/swagger-ui.png" node swagger-ui.mjs) &&
    [ -s target/swagger-ui.png ]
}

check_fuzz() {
  # Every check, a fixed seed and at most 30 test cases per operation and
  # phase (examples, coverage, fuzzing, stateful): the same run each time,
  # about a minute on 2 cores. Bearer auth comes from
  # scripts/external/schemathesis_hooks.py (a fresh admin session per test
  # case, since the fuzzer itself calls logout and logout-all); the per-
  # operation settings and their reasons are in scripts/external/schemathesis.toml.
  mkdir -p target/schemathesis &&
    SCHEMATHESIS_HOOKS=scripts.external.schemathesis_hooks PYTHONPATH="$root" \
      schemathesis --config-file scripts/external/schemathesis.toml run openapi/openapi.json \
      --url "$PORTCULLIS_URL" --checks all --exclude-checks use_after_free --seed 20240601 --max-examples 30 --workers 1 \
      --generation-database none --no-color --request-timeout 10 \
      --report junit --report-junit-path target/schemathesis/junit.xml
}

check_jwks() {
  "$python" scripts/external/jwks_check.py "$binary"
}

check_totp() {
  "$python" scripts/external/totp_check.py "$binary"
}

export root python binary
export -f check_spec check_typescript check_python check_reset_timing check_browser check_fuzz check_jwks check_totp
# Each check has a time bound; all of them together stay under 14 minutes
# even if every one runs out (they take about 2 minutes on 2 cores).
wants spec && run spec 60
wants typescript && run typescript 90
wants python && run python 90
wants reset-timing && run reset-timing 60
wants browser && run browser 90
wants fuzz && run fuzz 240
wants jwks && run jwks 90
wants totp && run totp 90

stop_server
if grep -q '"level":"ERROR"' "$work/server.log"; then
  echo "external: the server logged errors:" >&2
  grep '"level":"ERROR"' "$work/server.log" | sed -n '1,20p' >&2
  failed+=("server-log")
elif [ ${#failed[@]} -gt 0 ]; then
  echo "external: the last lines of the server's log:" >&2
  tail -n 30 "$work/server.log" >&2
  echo "external: the last lines of aiosmtpd's output:" >&2
  tail -n 10 "$work/smtp.log" >&2
fi

say "done"
echo "passed: ${passed[*]:-none}"
echo "failed: ${failed[*]:-none}"
echo "external-checks: ${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
