#!/usr/bin/env bash
# Builds a Go tool the tests need from the Go module proxy, at a pinned release, into .cache/tools/NAME:
#   promtool  Prometheus's rule checker, for manifests/observability (tests/webhook/test_dashboards.py)
#   helm      Helm 3, for charts/haproxy-guard (tests/ship/test_chart.py, tests/e2e/test_chart_install.py)
#   prometheus  Prometheus itself (same module and pin as promtool), only for scripts/dashboard_picture.py, which
#             draws the dashboard's picture in the docs; `make test` does not build it
# Each module is downloaded and built as the main module of a writable copy with `go.work` ignored:
# Prometheus's go.mod has exclude directives, so `go install module@version` refuses it, and one way for all
# keeps the script small. Version stamps are set with the same -ldflags as the projects' own release builds
# (Helm's default Kubernetes version for `helm template` comes from them). Rebuilds only when the pin changes.
#
# Run by `make test` (through `make e2e-tools`) before pytest, never inside a test's timeout; the first build
# downloads the modules and compiles for a few minutes on 2 cores (compiler output in .cache/tools/NAME.log).
#
# Usage: scripts/build-go-tool.sh NAME          build when needed
#        scripts/build-go-tool.sh NAME --check  print fresh | missing, build nothing (exit 0 only when fresh)
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
case "$name" in
  promtool)
    module=github.com/prometheus/prometheus
    version=v0.316.0  # Prometheus 3.16 (the Go module's versions are v0.3MM.P)
    package=./cmd/promtool
    ldflags() { echo "-X github.com/prometheus/common/version.Version=3.16.0"; }
    ;;
  prometheus)
    module=github.com/prometheus/prometheus
    version=v0.316.0  # as promtool
    package=./cmd/prometheus
    ldflags() { echo "-X github.com/prometheus/common/version.Version=3.16.0"; }
    ;;
  helm)
    module=helm.sh/helm/v3
    version=v3.22.0
    package=./cmd/helm
    ldflags() {  # $1: the module copy; Helm's Makefile derives the Kubernetes version from client-go's
      local client minor
      client=$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$1/go.mod")
      minor=$(echo "$client" | cut -d. -f2)
      echo "-X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
        "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
        "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
    }
    ;;
  *)
    echo "usage: scripts/build-go-tool.sh promtool|helm|prometheus [--check]" >&2
    exit 2
    ;;
esac
out=.cache/tools
stamp="$out/$name.version"
pin="$module@$version"

state=missing
[ -x "$out/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pin" ] && state=fresh
if [ "${2:-}" = "--check" ]; then
  echo "$state"
  [ "$state" = fresh ]
  exit
fi
[ "$state" = fresh ] && exit 0

command -v go >/dev/null 2>&1 || { echo "build-go-tool: $name: FAILED: no Go toolchain on PATH"; exit 1; }
mkdir -p "$out"
log="$out/$name.log"
: >"$log"
echo "build-go-tool: building $name from $pin (a few minutes the first time) ..."
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
if ! dir=$(go mod download -json "$pin" 2>>"$log" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'); then
  echo "build-go-tool: $name: FAILED: cannot download $pin (see $log)"
  exit 1
fi
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
flags=$(ldflags "$work/src")
if ! (cd "$work/src" && GOWORK=off GOFLAGS=-mod=mod go build -trimpath -ldflags "$flags" -o "$OLDPWD/$out/$name" "$package") >>"$log" 2>&1; then
  echo "build-go-tool: $name: FAILED: compiling (see $log)"
  exit 1
fi
echo "$pin" >"$stamp"
echo "build-go-tool: built $out/$name in $SECONDS s ($("$out/$name" version 2>/dev/null || "$out/$name" --version 2>&1 | head -1))"
