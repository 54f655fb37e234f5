#!/usr/bin/env bash
# Set-up + the main job: `workbench demo` on the embedded model (describe it, generate,
# dump activations to HDF5 under out/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh
swift build -c release --product workbench
.build/release/workbench demo --out out/demo
