#!/usr/bin/env bash
# Installs the system libraries the package links against (Debian/Ubuntu), when missing;
# with --browser also Debian's chromium, which the report checks render pages in.
# Needs root (or sudo) only when something has to be installed.
set -euo pipefail
packages=(libopenblas-dev liblapacke-dev libhdf5-dev libopenmpi-dev openmpi-bin pkg-config)
[ "${1:-}" = "--browser" ] && packages+=(chromium)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "note: swift is at /opt/swift/usr/bin; add it to PATH" >&2
    else
        echo "error: no Swift toolchain found (Swift 6.x is required)" >&2
        exit 1
    fi
fi
