#!/usr/bin/env bash
# Builds the container images Portcullis's checks need from Debian's packages,
# for a machine that has a Docker engine but reaches no container registry:
#
#   portcullis-local/postgres  PostgreSQL 15; also tagged postgres:11-alpine
#                              (testcontainers-modules' default) and
#                              postgres:16-alpine (the test suite's default)
#   portcullis-local/redis     Redis 7; also tagged redis:5.0 and redis:7-alpine
#   portcullis-local/runtime   Debian minbase + ca-certificates, the base of
#                              the Portcullis image built in CI
#
# Each is `debootstrap --variant=minbase bookworm` with the packages it needs
# and a small entry script, turned into an image with `docker import`. The
# trees are cached under ~/.cache/portcullis/rootfs, and an image whose
# recipe (this file) has not changed is not imported again, so a second run
# takes a few seconds. PORTCULLIS_LOCAL_IMAGES_REBUILD=1 starts from scratch.
#
# Needs root (debootstrap), docker.io, debootstrap; installs the last two
# with apt when they are missing. Users with registry access need none of
# this: the official images are the defaults everywhere.
set -euo pipefail

mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache="${PORTCULLIS_CACHE_DIR:-${HOME}/.cache/portcullis}/rootfs"
recipe="$(sha256sum "$0" | cut -c1-16)"
rebuild="${PORTCULLIS_LOCAL_IMAGES_REBUILD:-0}"

need() {
  local missing=()
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  command -v docker >/dev/null 2>&1 || missing+=(docker.io)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  export PATH="$PATH:/usr/sbin:/sbin"
  docker info >/dev/null 2>&1 || { echo "no Docker engine answers: start dockerd first" >&2; exit 1; }
}

# tree NAME PACKAGES: a cached minbase tree with PACKAGES, its path on stdout.
tree() {
  local name="$1" packages="$2"
  local dir="${cache}/${name}-$(printf '%s' "$packages" | sha256sum | cut -c1-12)"
  if [ "$rebuild" = 1 ]; then rm -rf "$dir"; fi
  if [ ! -e "${dir}/.complete" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "debootstrap ${name}: ${packages:-minbase only}" >&2
    debootstrap --variant=minbase ${packages:+--include="$packages"} bookworm "$dir" "$mirror" \
      >"${dir}.log" 2>&1 || { tail -20 "${dir}.log" >&2; exit 1; }
    # Package caches and lists are of no use inside an image.
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
      "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
    touch "${dir}/.complete"
  fi
  printf '%s\n' "$dir"
}

# image NAME TREE ENTRYPOINT_SCRIPT TAGS... : imports TREE (plus the entry
# script, written into the tree as /usr/local/bin/entrypoint) unless an image of this recipe exists.
image() {
  local name="$1" dir="$2" entry="$3"
  shift 3
  local current previous
  current="$(docker image inspect --format '{{ index .Config.Labels "org.portcullis.recipe" }}' "$name" 2>/dev/null || true)"
  previous="$(docker image inspect --format '{{ .Id }}' "$name" 2>/dev/null || true)"
  if [ "$rebuild" != 1 ] && [ "$current" = "$recipe" ]; then
    echo "${name}: up to date"
  else
    rm -f "${dir}/usr/local/bin/entrypoint"
    if [ -n "$entry" ]; then
      printf '%s\n' "$entry" >"${dir}/usr/local/bin/entrypoint"
      chmod 755 "${dir}/usr/local/bin/entrypoint"
    fi
    local changes=(--change "LABEL org.portcullis.recipe=${recipe}" --change "ENV LANG=C.UTF-8")
    if [ -n "$entry" ]; then
      changes+=(--change 'ENTRYPOINT ["/usr/local/bin/entrypoint"]')
    else
      changes+=(--change 'CMD ["/bin/sh"]')
    fi
    for change in "${IMAGE_CHANGES[@]}"; do changes+=(--change "$change"); done
    tar --exclude=./.complete -C "$dir" -c . | docker import "${changes[@]}" - "$name" >/dev/null
    echo "${name}: imported ($(docker image inspect --format '{{ .Size }}' "$name" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
  fi
  for tag in "$@"; do docker tag "$name" "$tag"; done
  # The image this one replaces, once no tag names it any more.
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{ .Id }}' "$name")" ]; then
    docker rmi "$previous" >/dev/null 2>&1 || true
  fi
}

# The Postgres entry script: initialises an empty data directory the way the
# official image does (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
# POSTGRES_HOST_AUTH_METHOD), then runs the server as the postgres user,
# listening on every address. "database system is ready to accept
# connections" appears on stdout (the temporary server of the first start)
# and on stderr (the real server), which is what testcontainers waits for.
read -r -d '' postgres_entry <<'EOF' || true
#!/bin/sh
set -eu
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ "${1:-}" = postgres ]; then shift; fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  user="${POSTGRES_USER:-postgres}"
  database="${POSTGRES_DB:-$user}"
  auth="${POSTGRES_HOST_AUTH_METHOD:-}"
  if [ -z "$auth" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
      echo "error: set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust" >&2
      exit 1
    fi
    auth=scram-sha-256
  fi
  passwords=/dev/null
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    passwords="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$passwords"
  fi
  initdb --username="$user" ${POSTGRES_PASSWORD:+--pwfile="$passwords"} --auth-local=trust \
    --auth-host="$auth" --encoding=UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  if [ "$passwords" != /dev/null ]; then rm -f "$passwords"; fi
  printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  pg_ctl -o "-c listen_addresses=''" -w start
  if [ "$database" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres -q \
      -c "CREATE DATABASE \"$database\""
  fi
  pg_ctl -m fast -w stop
  echo "PostgreSQL init process complete; ready for start up."
fi
exec postgres -c listen_addresses='*' "$@"
EOF

# The Redis entry script: no persistence, no protected mode (the container's
# network is the boundary), as the redis user.
read -r -d '' redis_entry <<'EOF' || true
#!/bin/sh
set -eu
if [ "${1:-}" = redis-server ]; then shift; fi
if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server \
    --bind 0.0.0.0 --protected-mode no --save '' --appendonly no --dir /tmp "$@"
fi
exec redis-server --bind 0.0.0.0 --protected-mode no --save '' --appendonly no --dir /tmp "$@"
EOF

need

postgres_tree="$(tree postgres postgresql-15)"
# The cluster that the package's installation created is not used.
rm -rf "${postgres_tree}/var/lib/postgresql/15" "${postgres_tree}/etc/postgresql/15"
IMAGE_CHANGES=("EXPOSE 5432"
  "ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  "ENV PGDATA=/var/lib/postgresql/data")
image portcullis-local/postgres "$postgres_tree" "$postgres_entry" postgres:11-alpine postgres:16-alpine

redis_tree="$(tree redis redis-server)"
IMAGE_CHANGES=("EXPOSE 6379")
image portcullis-local/redis "$redis_tree" "$redis_entry" redis:5.0 redis:7-alpine

runtime_tree="$(tree runtime ca-certificates)"
IMAGE_CHANGES=()
image portcullis-local/runtime "$runtime_tree" ""
