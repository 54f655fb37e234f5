#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/, declared in Package.swift when WORKBENCH_FUZZ is set) with
# AddressSanitizer into .build-fuzz and runs each for SECONDS (default 60) from its seed corpus
# (Fuzz/corpus/TARGET, valid files) plus the regression inputs; new crashes are written to
# out/fuzz/TARGET/. A crash makes the script exit 1. docs/testing.md, "Fuzzing".
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET ...]
# Targets (all by default): FuzzSafeTensors FuzzModelConfig FuzzTokenizerJSON FuzzJSONL
# FuzzVectorFiles FuzzAdapterFiles. Seeds: fixtures of the test suite and Fuzz/seeds/TARGET
# (scripts/make_fuzz_seeds.sh); regressions: Fuzz/regressions/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
SECONDS_EACH=${1:-60}
shift || true
ALL=(FuzzSafeTensors FuzzModelConfig FuzzTokenizerJSON FuzzJSONL FuzzVectorFiles FuzzAdapterFiles)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
# lld: gold fails to link libFuzzer's runtime with SwiftPM's renamed entry point.
FLAGS=(-c release --build-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld)
status=0
for target in "${TARGETS[@]}"; do
    WORKBENCH_FUZZ=1 swift build "${FLAGS[@]}" --product "$target" >/dev/null
    binary=.build-fuzz/release/$target
    case $target in
        FuzzSafeTensors) seeds=(Tests/ModelTests/Fixtures/*/model*.safetensors) ;;
        FuzzModelConfig) seeds=(Tests/ModelTests/Fixtures/*/config.json notebooks-data/model/config.json) ;;
        FuzzTokenizerJSON) seeds=(Tests/TokenizersTests/Fixtures/*_style.json Tests/TokenizersTests/Fixtures/*_style_*.json
                                  Tests/TokenizersTests/Fixtures/metaspace_digits.json Tests/TokenizersTests/Fixtures/whitespace_eow.json
                                  notebooks-data/model/tokenizer.json) ;;
        *) seeds=() ;;
    esac
    for extra in "Fuzz/seeds/$target" "Fuzz/regressions/$target"; do
        [ -d "$extra" ] && seeds+=("$extra"/*)
    done
    corpus=out/fuzz/$target/corpus
    mkdir -p "$corpus"
    i=0
    for seed in "${seeds[@]}"; do i=$((i + 1)); cp "$seed" "$corpus/seed-$i-$(basename "$seed")"; done
    echo "$target: ${SECONDS_EACH} s from $(ls "$corpus" | wc -l) inputs"
    if ! "$binary" "$corpus" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -max_len=65536 \
            -artifact_prefix="out/fuzz/$target/" -print_final_stats=1 2> "out/fuzz/$target.log"; then
        echo "$target: crash, see out/fuzz/$target.log and out/fuzz/$target/crash-*" >&2
        status=1
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "out/fuzz/$target.log" | sed "s/^/$target /"
done
exit $status
