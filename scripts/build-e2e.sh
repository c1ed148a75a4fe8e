#!/usr/bin/env bash
# Builds the end-to-end control plane from the Kubernetes Go modules at the release pinned in
# tests/e2e/apiserver/go.mod: a kube-apiserver test binary (embedded etcd) and kubectl, both stamped with
# that version, and for the node tests (tests/node) the whole node in one binary (`node COMPONENT`: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy; tests/e2e/apiserver/node) plus
# the pause container's program, compiled static from the release's own build/pause/linux/pause.c. Rebuilds only when the Go sources or go.mod/go.sum changed; GOMODCACHE and GOCACHE make later
# builds incremental. Output: .cache/e2e/apiserver.test, kubectl, node and pause.
#
# Run by `make test` and `make e2e` before pytest (never inside a test's timeout). The first build downloads
# the modules and compiles for about 10 minutes on 2 cores (the node binary about 10 more); progress goes to the terminal, the compiler's
# output to .cache/e2e/build.log, and a failure ends with one line saying why. Interrupted (Ctrl-C, SIGTERM),
# it stops the whole Go build: nothing keeps compiling in the background.
#
# Usage: scripts/build-e2e.sh            build when needed
#        scripts/build-e2e.sh --check    print fresh | stale | missing, build nothing (exit 0 only when fresh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.cache/e2e
src=tests/e2e/apiserver
stamp="$out/built-from"
inputs=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go "$src"/kubectl/*.go "$src"/node/*.go | sha256sum | cut -d' ' -f1)

state=missing
if [ -x "$out/apiserver.test" ] && [ -x "$out/kubectl" ] && [ -x "$out/node" ] && [ -x "$out/pause" ]; then
  state=stale
  [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ] && state=fresh
fi
if [ "${1:-}" = "--check" ]; then
  echo "$state"
  [ "$state" = fresh ]
  exit
fi
[ "$state" = fresh ] && exit 0

command -v go >/dev/null 2>&1 || { echo "build-e2e: FAILED: no Go toolchain on PATH (needed to build kube-apiserver and kubectl)"; exit 1; }
mkdir -p "$out"
log="$out/build.log"
: >"$log"
child=""
# Each step runs in a session of its own, so an interruption can stop the Go build and all its compilers.
trap 'if [ -n "$child" ]; then kill -TERM -- "-$child" 2>/dev/null; wait "$child" 2>/dev/null || true; fi; echo "build-e2e: interrupted"; exit 130' INT TERM

release=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$src/go.mod")
minor=${release#v1.}; minor=${minor%%.*}
version_flags="-X k8s.io/component-base/version.gitVersion=$release -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
export GOFLAGS=-mod=mod

step() {  # step "what" command...: runs the command in its own session, shows progress, fails in one line
  local what=$1 started=$SECONDS
  shift
  echo "build-e2e: $what ..."
  (cd "$src" && exec setsid "$@") >>"$log" 2>&1 &
  child=$!
  local next=$((SECONDS + 30))
  while kill -0 "$child" 2>/dev/null; do
    sleep 1
    if [ "$SECONDS" -ge "$next" ]; then
      echo "build-e2e:   still ${what} ($((SECONDS - started)) s)"
      next=$((SECONDS + 30))
    fi
  done
  if ! wait "$child"; then
    child=""
    echo "build-e2e: FAILED: $what: $(grep -v '^\s*$' "$log" | tail -1) (full log: $log)"
    exit 1
  fi
  child=""
  echo "build-e2e: $what done in $((SECONDS - started)) s"
}

echo "build-e2e: Kubernetes $release (GOMODCACHE=$(go env GOMODCACHE), GOCACHE=$(go env GOCACHE))"
step "downloading the Go modules" go mod download
step "compiling kube-apiserver (test binary with embedded etcd)" go test -c -ldflags "$version_flags" -o "../../../$out/apiserver.test" .
step "compiling kubectl" go build -ldflags "$version_flags" -o "../../../$out/kubectl" ./kubectl
step "compiling the node (etcd, kube-apiserver, controller-manager, scheduler, kubelet, kube-proxy)" \
  go build -ldflags "$version_flags" -o "../../../$out/node" ./node
pause_c="$(cd "$src" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
step "compiling pause (static)" gcc -Os -static -DVERSION="$release" -o "../../../$out/pause" "$pause_c"
echo "$inputs" > "$stamp"
