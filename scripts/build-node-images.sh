#!/usr/bin/env bash
# Builds the images the node tests (tests/node) import into the node's containerd, without a registry:
# pause and HAProxy 2.6 and 3.2 as docker-archives written by tests/node/images.py (from the pause program
# scripts/build-e2e.sh compiled and the HAProxy binaries of the validators), and the project's own image
# (`make test-image`, localhost/haproxy-guard:test) exported from buildah's storage with `buildah push`.
# Rebuilds only when its inputs changed. Run by `make e2e-node` before pytest, never inside a test's timeout.
# Output: .cache/node/images/{pause,haproxy-2.6,haproxy-3.2,haproxy-guard}.tar
# Usage: scripts/build-node-images.sh            build when needed
#        scripts/build-node-images.sh --check    print fresh | stale | missing, build nothing
set -euo pipefail
cd "$(dirname "$0")/.."
out=.cache/node/images
tag=localhost/haproxy-guard:test
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
fail() { echo "build-node-images: FAILED: $*"; exit 1; }
image_id=$(buildah inspect --type image --format '{{.FromImageID}}' "$tag" 2>/dev/null || true)
inputs=$( { sha256sum tests/node/images.py .cache/e2e/pause /usr/sbin/haproxy .cache/validators/3.2/root/usr/sbin/haproxy 2>/dev/null; echo "$image_id"; } | sha256sum | cut -d' ' -f1)
state=missing
if [ -s "$out/pause.tar" ] && [ -s "$out/haproxy-2.6.tar" ] && [ -s "$out/haproxy-3.2.tar" ] && [ -s "$out/haproxy-guard.tar" ]; then
  state=stale
  [ "$(cat "$out/built-from" 2>/dev/null)" = "$inputs" ] && state=fresh
fi
if [ "${1:-}" = "--check" ]; then echo "$state"; [ "$state" = fresh ]; exit; fi
[ "$state" = fresh ] && exit 0
[ -x .cache/e2e/pause ] || fail "no .cache/e2e/pause (run scripts/build-e2e.sh first)"
[ -n "$image_id" ] || fail "no image $tag (run make test-image first)"
mkdir -p "$out"
echo "build-node-images: pause, HAProxy 2.6 and 3.2 ..."
.venv/bin/python -m tests.node.images "$out" || fail "tests/node/images.py"
echo "build-node-images: exporting $tag ..."
rm -f "$out/haproxy-guard.tar"
buildah push --quiet "$tag" "docker-archive:$out/haproxy-guard.tar:$tag" >/dev/null 2>"$out/push.log" \
  || fail "buildah push: $(tail -1 "$out/push.log")"
echo "$inputs" > "$out/built-from"
echo "build-node-images: done"
