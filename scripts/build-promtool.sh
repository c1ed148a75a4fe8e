#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker) from the Go module proxy at the pinned release, for the tests that
# check and unit-test manifests/observability/prometheusrule.yaml. Prometheus's go.mod has exclude directives,
# so `go install module@version` refuses it: the module is downloaded and built as the main module of a copy.
# Rebuilds only when the pinned version changes. Output: .cache/tools/promtool.
#
# Run by `make test` (through `make e2e-tools`) before pytest, never inside a test's timeout; the first build
# downloads the modules and compiles for a few minutes on 2 cores (compiler output in .cache/tools/build.log).
#
# Usage: scripts/build-promtool.sh          build when needed
#        scripts/build-promtool.sh --check  print fresh | missing, build nothing (exit 0 only when fresh)
set -euo pipefail
cd "$(dirname "$0")/.."
version=v0.316.0  # Prometheus 3.16 (the Go module's versions are v0.3MM.P)
out=.cache/tools
stamp="$out/promtool.version"

state=missing
[ -x "$out/promtool" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ] && state=fresh
if [ "${1:-}" = "--check" ]; then
  echo "$state"
  [ "$state" = fresh ]
  exit
fi
[ "$state" = fresh ] && exit 0

command -v go >/dev/null 2>&1 || { echo "build-promtool: FAILED: no Go toolchain on PATH"; exit 1; }
mkdir -p "$out"
log="$out/build.log"
echo "build-promtool: building promtool $version from the Go module proxy (a few minutes the first time) ..."
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
if ! dir=$(go mod download -json "github.com/prometheus/prometheus@$version" 2>>"$log" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'); then
  echo "build-promtool: FAILED: cannot download github.com/prometheus/prometheus@$version (see $log)"
  exit 1
fi
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
if ! (cd "$work/src" && GOWORK=off GOFLAGS=-mod=mod go build -o "$OLDPWD/$out/promtool" ./cmd/promtool) >>"$log" 2>&1; then
  echo "build-promtool: FAILED: compiling promtool (see $log)"
  exit 1
fi
echo "$version" >"$stamp"
echo "build-promtool: built $out/promtool ($("$out/promtool" --version 2>&1 | head -1))"
