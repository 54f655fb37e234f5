#!/usr/bin/env bash
# Reproduces the steering-vector paper's table in miniature on the embedded model
# (docs/reproduction-steering.md): base / full fine-tuning / steering vectors, trained by RL
# on one task and tested on it and on another, mean@8 and pass@8 at T = 1; then the vectors'
# logit lens and the last block's first-token claim.
# Usage: bash scripts/reproduce_steering.sh [OUT_DIR] [STEPS]   (default out/repro-steering, 100)
# Environment: STEER_LRS (steering learning rates, default "1e-3 1e-2 3e-2"), FULL_LR (3e-5),
# LORA_LRS (LoRA rank 1 on all linears, default "1e-3 1e-2"), METHODS (default "full vectors lora"),
# BIN (the binaries' directory; set it to skip the build, e.g. to run a copy while building).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/repro-steering}
STEPS=${2:-100}
STEER_LRS=${STEER_LRS:-"1e-3 1e-2 3e-2"}
FULL_LR=${FULL_LR:-3e-5}
LORA_LRS=${LORA_LRS:-"1e-3 1e-2"}
METHODS=${METHODS:-"full vectors lora"}
LENS_LR=${LENS_LR:-3e-2}
if [ -z "${BIN:-}" ]; then
    BIN=.build/release
    export PATH="$PATH:/opt/swift/usr/bin"
    for product in workbench steer lens; do swift build -c release --product "$product" >/dev/null; done
fi
mkdir -p "$OUT"

# Problems: the word problems of notebooks-data/rl, and linear equations drawn by the corpus
# generator with seeds 1..15 (new problems of a procedure the model saw worked in pretraining).
python3 scripts/task_data.py linear "$BIN" "$OUT"
python3 scripts/task_data.py words-test "$OUT/words-test.jsonl"

evaluate() {   # evaluate NAME ADAPTER PROBLEMS [extra steer eval options]
    local name=$1 adapter=$2 problems=$3; shift 3
    local args=(--problems "$problems" -k 8 --max-new 64 --seed 0)
    [ "$adapter" = "-" ] || args+=(--adapter "$adapter")
    local line
    line=$("$BIN/steer" eval "${args[@]}" "$@" | grep "greedy accuracy")
    echo "$name $line" | tee -a "$OUT/results.txt"
}
: > "$OUT/results.txt"
evaluate "base/words" - "$OUT/words-test.jsonl"
evaluate "base/linear" - "$OUT/linear-test.jsonl"

COMMON=(--steps "$STEPS" --prompts-per-step 16 --group 8 --max-new 64 --checkpoint-every 20 --objective rloo)
for task in words linear; do
    train="$OUT/$task-train.jsonl"
    [ "$task" = words ] && train=notebooks-data/rl/train.jsonl
    runs=()
    [[ " $METHODS " == *" full "* ]] && runs+=("full:$FULL_LR")
    if [[ " $METHODS " == *" vectors "* ]]; then for lr in $STEER_LRS; do runs+=("vectors:$lr"); done; fi
    if [[ " $METHODS " == *" lora "* ]]; then for lr in $LORA_LRS; do runs+=("lora:$lr"); done; fi
    for spec in "${runs[@]}"; do
        method=${spec%%:*} lr=${spec#*:}
        name="$task-$method-$lr"
        run="$OUT/$name"
        extra=()
        [ "$method" = lora ] && extra=(--rank 1)
        /usr/bin/time -f "$name: %e s, peak RSS %M KiB" "$BIN/steer" train --method "$method" "${extra[@]}" --problems "$train" \
            --out "$run" --lr "$lr" "${COMMON[@]}" 2> >(grep -E "step $STEPS/|peak RSS|trainable" >&2)
        evaluate "$name/words" "$run" "$OUT/words-test.jsonl"
        evaluate "$name/linear" "$run" "$OUT/linear-test.jsonl"
    done
done

# The vectors through the logit lens, and where the last block's vector acts.
vectors="$OUT/words-vectors-$LENS_LR"
"$BIN/lens" inspect "$vectors/vectors.bin" --top-tokens 10 --out "$OUT/words-vectors-lens.h5" | tee "$OUT/words-vectors-lens.txt"
for where in first-token off; do
    evaluate "words-vectors-$LENS_LR[last:$where]/words" "$vectors" "$OUT/words-test.jsonl" --last-block "$where"
done
echo
cat "$OUT/results.txt"
