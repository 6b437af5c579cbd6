#!/usr/bin/env bash
# Builds the busybox image the tests run containers from. No registry is
# needed: the host's static busybox is imported as a one-layer image.
# Usage: scripts/test-image.sh [IMAGE]   (default labtail-busybox:test)
set -euo pipefail
image="${1:-${LABTAIL_TEST_IMAGE:-labtail-busybox:test}}"
busybox="$(command -v busybox || true)"
for p in /bin/busybox /usr/bin/busybox; do [ -x "$p" ] && busybox="$p"; done
if [ -z "$busybox" ]; then
  echo "test-image: busybox not found (apt-get install busybox-static)" >&2
  exit 1
fi
# Rebuild only when the recipe changed: the tag carries a label with its hash.
recipe="$(sha256sum "$0" "$busybox" | sha256sum | cut -c1-16)"
if [ "$(docker image inspect -f '{{index .Config.Labels "labtail.recipe"}}' "$image" 2>/dev/null || true)" = "$recipe" ]; then
  exit 0
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in sh echo printf seq sleep awk date cat yes head tail true false ls env touch test kill wc tr; do
  ln -s busybox "$root/bin/$applet"
done
tar -C "$root" -c . | docker import --change "LABEL labtail.recipe=$recipe" --change 'ENV PATH=/bin' - "$image" >/dev/null
echo "test-image: built $image"
