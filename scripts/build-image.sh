#!/usr/bin/env bash
# Builds the haproxy-guard image where no registry is reachable: a Debian rootfs made with debootstrap
# (default mirror), imported with podman as the base, then `buildah bud --isolation chroot` of the
# Dockerfile with that base as BASE_IMAGE. Installs debootstrap, buildah and podman when missing.
# Rebuilds only when the image's inputs changed (Dockerfile, pyproject.toml, README.md, the package sources).
# Run by `make test` before pytest (never inside a test's timeout); a failure ends with one line saying why.
# Usage: scripts/build-image.sh [TAG]           (default localhost/haproxy-guard:dev)
#        scripts/build-image.sh --check TAG     print fresh | stale | missing, build nothing
set -euo pipefail
cd "$(dirname "$0")/.."
check=""
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
tag=${1:-localhost/haproxy-guard:dev}
cache=${IMAGE_CACHE:-.cache/image}
base=localhost/haproxy-guard-base:bookworm
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
stamp="$cache/built-from-$(echo "$tag" | tr '/:' '__')"
inputs=$(find Dockerfile pyproject.toml README.md haproxy_guard policies webhook certs cli drill -follow -type f \
  -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
state=missing
if command -v buildah >/dev/null 2>&1 && buildah inspect --type image "$tag" >/dev/null 2>&1; then
  state=stale
  [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ] && state=fresh
fi
if [ -n "$check" ]; then
  echo "$state"
  [ "$state" = fresh ]
  exit
fi
[ "$state" = fresh ] && exit 0
fail() { echo "build-image: FAILED: $*"; exit 1; }

missing=()
for tool in debootstrap buildah podman; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "build-image: installing ${missing[*]} (Debian packages)"
  $sudo apt-get update -qq || fail "apt-get update"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]}"
fi

if ! podman image exists "$base"; then
  if [ ! -f "$cache/rootfs/etc/debian_version" ]; then
    rm -rf "$cache/rootfs"
    mkdir -p "$cache"
    echo "build-image: debootstrap of a Debian bookworm base (first run: a few minutes) ..."
    debootstrap --variant=minbase bookworm "$cache/rootfs" >"$cache/debootstrap.log" 2>&1 \
      || fail "debootstrap: $(grep -v '^\s*$' "$cache/debootstrap.log" | tail -1) (full log: $cache/debootstrap.log)"
  fi
  tar -C "$cache/rootfs" -c . | podman import --quiet - "$base" >/dev/null || fail "podman import of the base"
fi
# The machine's CA bundle (which may hold an egress proxy's CA) reaches pip as a build secret only.
secret=()
ca_bundle=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
[ -s "$ca_bundle" ] && secret=(--secret "id=ca-bundle,src=$ca_bundle")
echo "build-image: building $tag (buildah, chroot isolation; about 2 minutes) ..."
mkdir -p "$cache"
started=$SECONDS
buildah bud --quiet --isolation chroot "${secret[@]}" --build-arg "BASE_IMAGE=$base" --tag "$tag" . >"$cache/build.log" 2>&1 \
  || fail "buildah bud: $(grep -v '^\s*$' "$cache/build.log" | tail -1) (full log: $cache/build.log)"
buildah rmi --prune >/dev/null 2>&1 || true  # the previous build's untagged layers (vfs copies them whole)
echo "$inputs" > "$stamp"
echo "build-image: $tag built in $((SECONDS - started)) s"
