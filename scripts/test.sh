#!/usr/bin/env bash
# Set-up + the whole test suite, in release mode (numeric code is 10-100x slower in debug).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh
swift build -c release --build-tests
swift test -c release --skip-build
