#!/usr/bin/env bash
# Builds the end-to-end control plane from the Kubernetes Go modules at the release pinned in
# tests/e2e/apiserver/go.mod: a kube-apiserver test binary (embedded etcd) and kubectl, both stamped with
# that version. Rebuilds only when the Go sources or go.mod/go.sum changed; GOMODCACHE and GOCACHE make later
# builds incremental. Output: .cache/e2e/apiserver.test and .cache/e2e/kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.cache/e2e
mkdir -p "$out"
src=tests/e2e/apiserver
release=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$src/go.mod")
minor=${release#v1.}; minor=${minor%%.*}
version_flags="-X k8s.io/component-base/version.gitVersion=$release -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
stamp="$out/built-from"
inputs=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go "$src"/kubectl/*.go | sha256sum | cut -d' ' -f1)
if [ -x "$out/apiserver.test" ] && [ -x "$out/kubectl" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
  exit 0
fi
cd "$src"
export GOFLAGS=-mod=mod
go test -c -ldflags "$version_flags" -o "../../../$out/apiserver.test" .
go build -ldflags "$version_flags" -o "../../../$out/kubectl" ./kubectl
cd - >/dev/null
echo "$inputs" > "$stamp"
