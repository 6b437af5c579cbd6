#!/usr/bin/env bash
# Checks the deployment files without a registry: validates
# docker-compose.yml, builds the Dockerfile's runtime image on a base image
# imported from this machine (busybox + the host's glibc), runs it against
# the real Docker engine with the socket mounted read-only, as its non-root
# user, and logs in through it.
# Usage: scripts/image-check.sh [LABTAIL_BINARY]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "image-check: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

bin="${1:-${CARGO_TARGET_DIR:-target}/debug/labtail}"
[ -x "$bin" ] || fail "no labtail binary at $bin (cargo build -p labtail)"
[ -f web/dist/index.html ] || fail "no web app in web/dist (cd web && npm run build)"

# 1. The compose file is valid.
docker-compose -f docker-compose.yml config -q || fail "docker-compose.yml does not validate"
# Both nodes share the one Postgres and the one Redis.
resolved="$(docker-compose -f docker-compose.yml config)"
for want in 'LABTAIL_DATABASE_URL: postgres://labtail:labtail@postgres/labtail' 'LABTAIL_REDIS_URL: redis://redis:6379'; do
  [ "$(grep -cF "$want" <<<"$resolved")" = 2 ] || fail "both labtail nodes should have $want"
done
log "docker-compose.yml validates"

# 2. A base image from this machine: busybox for the build stages' shell,
#    glibc and friends for the binary, found with ldd.
base=labtail-ci-base:local
root="$(mktemp -d)"
name="labtail-image-check-$$"
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$root" prebuilt
}
trap cleanup EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"
busybox="$(command -v busybox || echo /bin/busybox)"
cp "$busybox" "$root/bin/busybox"
for applet in sh cp mkdir ls cat test '['; do ln -s busybox "$root/bin/$applet"; done
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo 'labtail:x:10001:10001::/var/lib/labtail:/bin/sh' > "$root/etc/passwd"
echo 'labtail:x:10001:' > "$root/etc/group"
tar -C "$root" -c . | docker import --change 'ENV PATH=/bin:/usr/bin:/usr/local/bin' - "$base" >/dev/null
log "imported $base"

# 3. The image, with the binary and web app built on this machine.
rm -rf prebuilt && mkdir -p prebuilt
strip -o prebuilt/labtail "$bin"
cp -r web/dist prebuilt/web
# --force-rm: a failed step leaves no container behind.
DOCKER_BUILDKIT=0 docker build -q --force-rm \
  --build-arg BUILD_IMAGE="$base" --build-arg WEB_IMAGE="$base" --build-arg RUNTIME_IMAGE="$base" \
  -t labtail:image-check . >/dev/null || fail "docker build"
log "built labtail:image-check"
[ "$(docker image inspect -f '{{.Config.User}}' labtail:image-check)" = "10001:10001" ] \
  || fail "the image does not run as uid 10001"

# 4. Run it as the compose file does, and use it.
gid="$(stat -c %g /var/run/docker.sock)"
docker run -d --name "$name" -p 127.0.0.1::3000 \
  -v /var/run/docker.sock:/var/run/docker.sock:ro --group-add "$gid" \
  labtail:image-check >/dev/null
port="$(docker port "$name" 3000/tcp | head -1 | sed 's/.*://')"
url="http://127.0.0.1:$port"
ready=""
for _ in $(seq 1 100); do
  if ready="$(curl -fsS "$url/readyz" 2>/dev/null)"; then break; fi
  sleep 0.1
done
echo "$ready" | grep -q '"docker":"up"' || { docker logs "$name" >&2; fail "not ready: $ready"; }
log "ready: $ready"
[ "$(docker exec "$name" cat /proc/1/status | awk '/^Uid:/{print $2}')" = 10001 ] || fail "not running as uid 10001"
echo 'image-check-pw-1' | docker exec -i "$name" labtail user add checker --role instructor --password-stdin >/dev/null
code="$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
  -d '{"username":"checker","password":"image-check-pw-1"}' "$url/api/login")"
[ "$code" = 200 ] || fail "login through the image answered $code"
curl -fsS "$url/" | grep -q '<div id="root">' || fail "the web app is not served"
log "ok: runs as uid 10001, reads Docker through the read-only socket, logs in, serves the web app"
