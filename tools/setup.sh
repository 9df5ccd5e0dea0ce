#!/usr/bin/env bash
# tools/setup.sh — install what tothread needs (Debian/Ubuntu), then configure and build it.
#
#   tools/setup.sh [BUILD_DIR [CMAKE_ARGS...]]   e.g. tools/setup.sh build
#                                                     tools/setup.sh build-asan -DTT_SANITIZE=address
#   tools/setup.sh --deps-only                   install the packages, build nothing
#
# Needs: a C compiler and make (build-essential), cmake, pkg-config, liburing-dev (>= 2.3) and
# check. Sanitizer builds need nothing more: gcc's ASan/UBSan/TSan runtimes come with it.
# Missing packages are installed with apt-get (one `apt-get update` first; sudo only when not
# root); when everything is present it installs nothing and only runs an incremental build.
# BUILD_DIR defaults to "build", relative to the current directory. TT_JOBS sets the build's
# parallelism (default: the number of cores).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
uring_min=2.3

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# The Debian packages that are missing, one per line.
missing_packages() {
    if ! have cc || ! have make; then echo build-essential; fi
    have cmake || echo cmake
    if ! have pkg-config; then
        echo pkg-config
        echo liburing-dev
        echo check
        return
    fi
    pkg-config --atleast-version="$uring_min" liburing || echo liburing-dev
    pkg-config --exists check || echo check
}

install_packages() {
    local -a as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        have sudo || die "not root and no sudo: install these packages yourself: $*"
        as_root=(sudo)
    fi
    have apt-get || die "no apt-get (not Debian/Ubuntu): install these packages yourself: $*"
    say "installing: $*"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@"
}

ensure_packages() {
    local -a missing
    mapfile -t missing < <(missing_packages)
    [ "${#missing[@]}" -eq 0 ] && return
    install_packages "${missing[@]}"
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -ne 0 ]; then
        if printf '%s\n' "${missing[@]}" | grep -qx liburing-dev; then
            die "liburing >= $uring_min is needed, this system has $(pkg-config --modversion liburing 2>/dev/null || echo none) (Debian 12, Ubuntu 23.04 or later ship it)"
        fi
        die "still missing after apt-get: ${missing[*]}"
    fi
}

ensure_packages
if [ "${1:-}" = "--deps-only" ]; then
    exit 0
fi

build=${1:-build}
[ "$#" -gt 0 ] && shift
jobs=${TT_JOBS:-$(nproc 2>/dev/null || echo 2)}

cmake -S "$root" -B "$build" "$@"
cmake --build "$build" --parallel "$jobs"
