#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/, declared in Package.swift when WORKBENCH_FUZZ is set) with
# AddressSanitizer into .build-fuzz, then runs each for SECONDS (default 60) from its seed corpus
# plus every input the fuzzers have found; new crashes are written to out/fuzz/TARGET/.
# A crash makes the script exit 1. docs/testing.md, "Fuzzing".
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET ...]      (JOBS=2 runs two targets at a time)
# Targets (all by default): FuzzSafeTensors FuzzModelFiles FuzzTokenizerJSON FuzzJSONL
# FuzzVectorFiles FuzzAdapterFiles FuzzResultFiles. Seeds: fixtures of the test suite and
# Fuzz/seeds/TARGET (scripts/make_fuzz_seeds.sh); found inputs: Fuzz/regressions/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
SECONDS_EACH=${1:-60}
shift || true
ALL=(FuzzSafeTensors FuzzModelFiles FuzzTokenizerJSON FuzzJSONL FuzzVectorFiles FuzzAdapterFiles FuzzResultFiles)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
JOBS=${JOBS:-1}
# Leaks inside system libraries that the workbench cannot free (each one explained in the file).
export LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan-suppressions.txt:print_suppressions=0"
# lld: gold fails to link libFuzzer's runtime with SwiftPM's renamed entry point.
FLAGS=(-c release --build-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld)
for target in "${TARGETS[@]}"; do
    WORKBENCH_FUZZ=1 swift build "${FLAGS[@]}" --product "$target" >/dev/null
done

# run TARGET: prepares its corpus, fuzzes it, prints its statistics; status 1 on a crash.
run() {
    local target=$1 seeds=()
    case $target in
        FuzzSafeTensors) seeds=(Tests/ModelTests/Fixtures/*/model*.safetensors) ;;
        FuzzVectorFiles)   # the GGUF model fixtures, each prefixed with the byte that selects .gguf
            mkdir -p out/fuzz/gguf-seeds
            for g in Tests/ModelTests/Fixtures/gguf/*.gguf; do
                { printf '\003'; cat "$g"; } > "out/fuzz/gguf-seeds/$(basename "$g")"
                seeds+=("out/fuzz/gguf-seeds/$(basename "$g")")
            done ;;
        FuzzTokenizerJSON) seeds=(Tests/TokenizersTests/Fixtures/*_style.json Tests/TokenizersTests/Fixtures/*_style_*.json
                                  Tests/TokenizersTests/Fixtures/metaspace_digits.json Tests/TokenizersTests/Fixtures/whitespace_eow.json
                                  notebooks-data/model/tokenizer.json) ;;
    esac
    for extra in "Fuzz/seeds/$target" "Fuzz/regressions/$target"; do
        [ -d "$extra" ] && seeds+=("$extra"/*)
    done
    local corpus=out/fuzz/$target/corpus i=0
    mkdir -p "$corpus"
    for seed in "${seeds[@]}"; do i=$((i + 1)); cp "$seed" "$corpus/seed-$i-$(basename "$seed")"; done
    # Every allocation above 2 GB is a finding, except in the target that drives libhdf5: it
    # trusts sizes in a corrupt file's metadata and asks for up to terabytes, where a normal
    # malloc refuses and HDF5 reports an error (which becomes one line); there allocations may
    # fail as they do outside the sanitizer. The workbench's own reads are checked against the
    # stored bytes before libhdf5 is asked (HDF5Reader.valueCount).
    local limits=(-rss_limit_mb=2048)
    [ "$target" = FuzzResultFiles ] && limits=(-rss_limit_mb=4096 -malloc_limit_mb=1048576)
    local status=0
    if ! ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$([ "$target" = FuzzResultFiles ] && echo allocator_may_return_null=1)" \
            ".build-fuzz/release/$target" "$corpus" -max_total_time="$SECONDS_EACH" -timeout=10 "${limits[@]}" -max_len=65536 \
            -artifact_prefix="out/fuzz/$target/" -print_final_stats=1 > "out/fuzz/$target.log" 2>&1; then
        echo "$target: crash, see out/fuzz/$target.log and out/fuzz/$target/crash-*" >&2
        status=1
    fi
    local executions rss
    executions=$(grep -m1 "stat::number_of_executed_units" "out/fuzz/$target.log" | awk '{print $2}')
    rss=$(grep -m1 "stat::peak_rss_mb" "out/fuzz/$target.log" | awk '{print $2}')
    echo "$target: ${SECONDS_EACH} s from $(ls "$corpus" | wc -l) inputs, ${executions:-?} executions, peak RSS ${rss:-?} MB"
    return $status
}

status=0
pids=()
for target in "${TARGETS[@]}"; do
    run "$target" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$JOBS" ]; then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
