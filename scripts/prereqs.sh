#!/usr/bin/env bash
# Makes this machine able to run every labtail test: installs what is missing
# (Debian packages need root), starts a Docker engine if none answers and a
# private Postgres on loopback, builds the test image, installs the test
# clients (npm, Python venv).
# Prints what the tests need to know as KEY=VALUE lines on stdout (the
# scripts/test command exports them). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Only the KEY=VALUE lines go to stdout (fd 3); everything the steps print
# (apt, docker build, npm) goes to stderr.
exec 3>&1 1>&2

log() { echo "prereqs: $*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
{ command -v busybox >/dev/null || [ -x /bin/busybox ]; } || need_pkgs+=(busybox-static)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_pkgs+=(python3-venv)
command -v node >/dev/null || need_pkgs+=(nodejs npm)
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
command -v openssl >/dev/null || need_pkgs+=(openssl)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_pkgs+=(postgresql)
# Several-node tests start (and restart) their own Redis on loopback.
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
# The deployment check validates docker-compose.yml and probes the image.
command -v docker-compose >/dev/null || need_pkgs+=(docker-compose)
command -v curl >/dev/null || need_pkgs+=(curl)
# The benchmark's producer is a static C binary.
printf 'int main(void){return 0;}' | cc -static -x c - -o /dev/null 2>/dev/null || need_pkgs+=(gcc libc6-dev)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing ${need_pkgs[*]}: run as root (or: sudo apt-get install -y ${need_pkgs[*]})"
    exit 1
  fi
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# A Docker engine: use the one that answers, or start one (root).
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    log "no Docker engine answers and only root can start one"
    exit 1
  fi
  log "starting dockerd"
  mkdir -p /var/log
  # 3>&-: a daemon must not keep our stdout pipe open (the caller reads it
  # to the end).
  nohup dockerd >/var/log/labtail-dockerd.log 2>&1 3>&- &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start:"; tail -20 /var/log/labtail-dockerd.log >&2; exit 1; }
fi

scripts/test-image.sh

# A private Postgres for the tests (several labtail nodes share one): its own
# data directory and port on loopback, trust auth, so it never touches a
# Postgres the machine already runs. Postgres refuses to run as root.
pg_port="${LABTAIL_TEST_PG_PORT:-55432}"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
if [ "$(id -u)" = 0 ]; then
  pg_dir=/var/lib/labtail-test/postgres
  as_pg() { runuser -u postgres -- "$@"; }
else
  pg_dir="${XDG_CACHE_HOME:-$HOME/.cache}/labtail/postgres"
  as_pg() { "$@"; }
fi
if ! "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; then
  if [ ! -f "$pg_dir/PG_VERSION" ]; then
    log "creating the test Postgres in $pg_dir"
    mkdir -p "$pg_dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$pg_dir"
    as_pg "$pg_bin/initdb" -D "$pg_dir" -U labtail --auth=trust -E UTF8 >/dev/null
  fi
  log "starting the test Postgres on 127.0.0.1:$pg_port"
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir" -l "$pg_dir/server.log" -w -t 60 \
    -o "-p $pg_port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null 3>&-
fi

# Test clients: socket.io-client (and friends) from npm, python-socketio.
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
(cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
(cd bench/baselines/node-design && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
venv="${LABTAIL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/labtail/venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import socketio, requests' 2>/dev/null; then
  log "creating the Python test venv in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r tests/e2e/python/requirements.txt
fi
echo "LABTAIL_TEST_PYTHON=$venv/bin/python" >&3
# A superuser URL: each test creates (and drops) its own database.
echo "LABTAIL_TEST_POSTGRES_URL=postgres://labtail@127.0.0.1:$pg_port/postgres" >&3
echo "LABTAIL_TEST_REDIS_SERVER=$(command -v redis-server)" >&3
