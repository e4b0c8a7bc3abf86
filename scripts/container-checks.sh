#!/usr/bin/env bash
# Portcullis where users run it: in a container, under compose, and tested
# against service containers. On a machine with no registry access, every
# image comes from Debian's packages (scripts/local-images.sh).
#
#   bash scripts/container-checks.sh          # everything below, in order
#   bash scripts/container-checks.sh images   # only (a): engine and local images
#
# (a) a Docker engine (docker.io, debootstrap and docker-compose installed
#     with apt and dockerd started when missing) and the local images;
# (b) the release binary with every adapter, and the runtime image from it;
# (c) the image: HEALTHCHECK reaches healthy, the process is not root,
#     /readyz is ok;
# (d) compose.yaml with the local images: register, login, me, refresh,
#     logout and a refused token through the published port, then down -v;
# (e) the test suite with every feature, TEST_DATABASE_URL and TEST_REDIS_URL
#     unset, so that the Postgres and Redis tests run in containers; a skip
#     fails.
#
# Needs root for apt, dockerd and debootstrap. Run time on a 2-core machine,
# with warm caches: see the README ("Containers").
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
step() { echo; echo "== containers: $* ($(($(date +%s) - started))s)"; }
export PATH="$PATH:/usr/sbin:/sbin"
features=postgres,sqlite,redis,vault
image=portcullis:ci
project=portcullis-ci
host_port="${PORTCULLIS_HOST_PORT:-18080}"
checked=""

cleanup() {
  if [ -n "$checked" ]; then docker rm -f -v "$checked" >/dev/null 2>&1 || true; fi
  PORTCULLIS_IMAGE="$image" PORTCULLIS_HOST_PORT="$host_port" \
    PORTCULLIS_POSTGRES_IMAGE=portcullis-local/postgres PORTCULLIS_REDIS_IMAGE=portcullis-local/redis \
    docker-compose -f compose.yaml -p "$project" down -v >/dev/null 2>&1 || true
  # Containers a killed test left behind.
  docker ps -aq --filter label=org.portcullis.test | xargs -r docker rm -f -v >/dev/null 2>&1 || true
}

engine() {
  local missing=()
  [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "starting dockerd (log: /var/log/portcullis-dockerd.log)"
    nohup dockerd >/var/log/portcullis-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { tail -20 /var/log/portcullis-dockerd.log; exit 1; }
  fi
}

# wait_for SECONDS COMMAND...: retries COMMAND every second until it succeeds.
wait_for() {
  local seconds="$1"
  shift
  for _ in $(seq 1 "$seconds"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  "$@"
}

ready() { curl -fsS "http://127.0.0.1:$1/readyz" | python3 -c 'import json, sys; assert json.load(sys.stdin)["status"] == "ok"'; }

step "(a) Docker engine and local images"
engine
bash scripts/local-images.sh
if [ "${1:-}" = images ]; then exit 0; fi
trap cleanup EXIT

step "(b) release binary ($features) and the runtime image"
cargo build --release --locked --no-default-features --features "$features"
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
install -D -m 755 "${target_dir}/release/portcullis" target/image/portcullis
needs="$(objdump -T target/image/portcullis | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)"
has="$(docker run --rm --entrypoint ldd portcullis-local/runtime --version | sed -n 1p)"
echo "the binary needs ${needs}; the runtime has: ${has}"
docker build -q --build-arg BUILD_IMAGE=portcullis-local/runtime --build-arg RUNTIME_IMAGE=portcullis-local/runtime \
  --build-arg PREBUILT=target/image/portcullis -t "$image" . >/dev/null
echo "$image: $(docker image inspect --format '{{ .Size }}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"

step "(c) the image: healthy, not root, ready"
checked="portcullis-ci-$$"
docker run -d --name "$checked" -p 127.0.0.1::8080 \
  -e PORTCULLIS_JWT_KEYS=container-check-signing-key-0123456789abcdef "$image" >/dev/null
port="$(docker port "$checked" 8080/tcp | sed -n '1s/.*://p')"
health() { [ "$(docker inspect --format '{{ .State.Health.Status }}' "$checked")" = healthy ]; }
wait_for 90 health || { docker logs "$checked" | tail -20; exit 1; }
uid="$(docker exec "$checked" id -u)"
[ "$uid" != 0 ] || { echo "the service runs as root"; exit 1; }
wait_for 30 ready "$port"
echo "healthy, uid ${uid}, /readyz ok on 127.0.0.1:${port}"
docker rm -f -v "$checked" >/dev/null
checked=""

step "(d) compose: register, login, me, refresh, logout through the published port"
export PORTCULLIS_IMAGE="$image" PORTCULLIS_HOST_PORT="$host_port"
export PORTCULLIS_POSTGRES_IMAGE=portcullis-local/postgres PORTCULLIS_REDIS_IMAGE=portcullis-local/redis
docker-compose -f compose.yaml -p "$project" up -d --no-build
wait_for 120 ready "$host_port" || { docker-compose -f compose.yaml -p "$project" logs --tail 30; exit 1; }
python3 - "http://127.0.0.1:${host_port}" <<'EOF'
import json, sys, urllib.error, urllib.request, uuid

base = sys.argv[1]

def call(method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")

def expect(status, expected, what, body):
    assert status == expected, f"{what}: {status} {body}"
    print(f"{what}: {status}")

email = f"compose-{uuid.uuid4().hex[:12]}@example.com"
password = "correct-Horse-battery-staple-42"
status, body = call("POST", "/v1/auth/register", {"email": email, "password": password})
expect(status, 201, "register", body)
status, pair = call("POST", "/v1/auth/login", {"email": email, "password": password})
expect(status, 200, "login", pair)
status, me = call("GET", "/v1/users/me", token=pair["access_token"])
expect(status, 200, "me", me)
assert me["email"] == email, me
status, fresh = call("POST", "/v1/auth/refresh", {"refresh_token": pair["refresh_token"]})
expect(status, 200, "refresh", fresh)
assert fresh["refresh_token"] != pair["refresh_token"], "the refresh token rotates"
status, body = call("POST", "/v1/auth/logout", {"refresh_token": fresh["refresh_token"]}, token=fresh["access_token"])
expect(status, 204, "logout", body)
status, body = call("GET", "/v1/users/me", token=fresh["access_token"])
expect(status, 401, "me after logout", body)
status, body = call("POST", "/v1/auth/refresh", {"refresh_token": fresh["refresh_token"]})
expect(status, 401, "refresh after logout", body)
EOF
docker-compose -f compose.yaml -p "$project" exec -T postgres psql -U portcullis -d portcullis -tAc 'select count(*) from users' \
  | sed 's/^/users in the composed Postgres: /'
docker-compose -f compose.yaml -p "$project" down -v
unset PORTCULLIS_IMAGE PORTCULLIS_HOST_PORT PORTCULLIS_POSTGRES_IMAGE PORTCULLIS_REDIS_IMAGE

# This pass is also CI's run of the whole suite with every feature built.
step "(e) the tests, all features, with Postgres and Redis in containers (testcontainers)"
# The suite's tests behind a real nginx need it, as in the rest of CI.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ] && [ -z "${TEST_NGINX:-}" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
since="$(date +%s)"
log="$(mktemp)"
env -u TEST_DATABASE_URL -u TEST_REDIS_URL -u PORTCULLIS_TEST_STORE PORTCULLIS_REQUIRE_SERVICES=1 \
  PORTCULLIS_TEST_POSTGRES_IMAGE=portcullis-local/postgres PORTCULLIS_TEST_REDIS_IMAGE=portcullis-local/redis \
  cargo nextest run --profile ci --all-features 2>&1 | tee "$log"
containers="$(docker events --since "$since" --until "$(date +%s)" --filter label=org.portcullis.test \
  --filter event=start --format '{{ .Actor.Attributes.image }}' | sort | uniq -c | tr -s ' ' | paste -sd, -)"
summary="$(grep -E '^ *Summary' "$log" | tail -n 1)"
rm -f "$log"
echo "testcontainers pass: ${summary:-no summary}; containers started:${containers:- none}"
[ -n "$containers" ] || { echo "no test started a container"; exit 1; }

step "done"
