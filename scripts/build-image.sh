#!/usr/bin/env bash
# Builds the haproxy-guard image where no registry is reachable: a Debian rootfs made with debootstrap
# (default mirror), imported with podman as the base, then `buildah bud --isolation chroot` of the
# Dockerfile with that base as BASE_IMAGE. Installs debootstrap, buildah and podman when missing.
# Usage: scripts/build-image.sh [TAG]   (default localhost/haproxy-guard:dev)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-localhost/haproxy-guard:dev}
cache=${IMAGE_CACHE:-.cache/image}
base=localhost/haproxy-guard-base:bookworm
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}

missing=()
for tool in debootstrap buildah podman; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! podman image exists "$base"; then
  if [ ! -f "$cache/rootfs/etc/debian_version" ]; then
    rm -rf "$cache/rootfs"
    mkdir -p "$cache"
    debootstrap --variant=minbase bookworm "$cache/rootfs" >"$cache/debootstrap.log" 2>&1 \
      || { tail -20 "$cache/debootstrap.log"; exit 1; }
  fi
  tar -C "$cache/rootfs" -c . | podman import --quiet - "$base" >/dev/null
fi
# The machine's CA bundle (which may hold an egress proxy's CA) reaches pip as a build secret only.
secret=()
ca_bundle=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
[ -s "$ca_bundle" ] && secret=(--secret "id=ca-bundle,src=$ca_bundle")
buildah bud --quiet --isolation chroot "${secret[@]}" --build-arg "BASE_IMAGE=$base" --tag "$tag" . >/dev/null
buildah rmi --prune >/dev/null 2>&1 || true  # the previous build's untagged layers (vfs copies them whole)
echo "$tag"
