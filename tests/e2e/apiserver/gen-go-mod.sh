#!/usr/bin/env bash
# Regenerates go.mod/go.sum for a Kubernetes release: k8s.io/kubernetes requires its staging modules at
# v0.0.0, so each gets a replace to v0.MINOR.PATCH, read from that release's own go.mod (not hard-coded).
# Usage: tests/e2e/apiserver/gen-go-mod.sh v1.34.4
set -euo pipefail
cd "$(dirname "$0")"
release=${1:?usage: gen-go-mod.sh v1.N.P}
staging_version="v0.${release#v1.}"
modfile=$(go mod download -json "k8s.io/kubernetes@$release" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
staging=$(awk '$2 == "v0.0.0" && $1 ~ /^k8s.io\// {print $1}' "$modfile")
{
  echo "module haproxy-guard/e2e/apiserver"
  echo
  echo "go 1.24.0"
  echo
  echo "require k8s.io/kubernetes $release"
  echo
  echo "replace ("
  for module in $staging; do echo "	$module => $module $staging_version"; done
  echo ")"
} > go.mod
GOFLAGS=-mod=mod go mod tidy
