#!/usr/bin/env bash
# Reproduces TinyLoRA's claim in miniature on the embedded model (docs/reproduction-tinylora.md):
# accuracy against the number of trainable parameters (TinyLoRA with 1, 4, 13 values tied over
# the whole model, 4 per module, LoRA-XS, LoRA rank 1, steering vectors, full fine-tuning),
# each trained by RL and by SFT for the same number of steps over a small learning-rate sweep,
# on the word problems of the steering reproduction; then tying by depth against tying by type
# at an equal count. Writes OUT/results.txt, OUT/summary.md and OUT/accuracy-vs-parameters.svg.
# Usage: bash scripts/reproduce_tinylora.sh [OUT_DIR] [STEPS]   (default out/repro-tinylora, 100)
# Environment: BIN (the binaries' directory; set it to skip the build).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/repro-tinylora}
STEPS=${2:-100}
if [ -z "${BIN:-}" ]; then
    BIN=.build/release
    export PATH="$PATH:/opt/swift/usr/bin"
    for product in workbench steer; do swift build -c release --product "$product" >/dev/null; done
fi
mkdir -p "$OUT"
START=$(date +%s)

# Problems: the 400 training word problems, with the corpus's worked solution as the SFT
# completion; the first 100 of test.jsonl for testing.
python3 scripts/task_data.py words-sft "$OUT/words-sft.jsonl"
python3 scripts/task_data.py words-test "$OUT/words-test.jsonl"

evaluate() {   # evaluate NAME ADAPTER
    local line
    line=$("$BIN/steer" eval --problems "$OUT/words-test.jsonl" -k 8 --max-new 64 --seed 0 ${2:+--adapter "$2"} | grep "greedy accuracy")
    echo "$1 $line" | tee -a "$OUT/results.txt"
}
: > "$OUT/results.txt"
evaluate "base - - 0" ""

COMMON=(--steps "$STEPS" --prompts-per-step 16 --max-new 64 --checkpoint-every 25)
RL=(--objective rloo --group 8)
SFT=(--objective sft --problems "$OUT/words-sft.jsonl")
# name | steer train options | RL learning rates | SFT learning rates
CONFIGS=(
    "tinylora-1|--method tinylora --u 1 --tie all|3e-3 3e-2|3e-3 1e-2 3e-2"
    "tinylora-4|--method tinylora --u 4 --tie all|3e-3 3e-2|3e-3 1e-2 3e-2"
    "tinylora-13|--method tinylora --u 13 --tie all|3e-3 3e-2|3e-3 1e-2 3e-2"
    "tinylora-4-per-module|--method tinylora --u 4 --tie 1|3e-3 3e-2|3e-3 1e-2 3e-2"
    "loraxs-r2|--method loraxs --rank 2|3e-3 3e-2|3e-3 1e-2 3e-2"
    "lora-r1|--method lora --rank 1|1e-3 1e-2|1e-3 3e-3 1e-2"
    "vectors|--method vectors|1e-2|3e-3 1e-2 3e-2"
    "full|--method full|3e-5|1e-5 3e-5 1e-4"
    "tinylora-4-tie4-depth|--method tinylora --u 4 --tie 4 --tie-by depth|1e-2|"
    "tinylora-4-tie4-type|--method tinylora --u 4 --tie 4 --tie-by type|1e-2|"
)
for config in "${CONFIGS[@]}"; do
    IFS='|' read -r name options rl_lrs sft_lrs <<<"$config"
    for objective in rl sft; do
        lrs=$rl_lrs; [ "$objective" = sft ] && lrs=$sft_lrs
        for lr in $lrs; do
            run="$OUT/$name-$objective-$lr"
            if [ "$objective" = rl ]; then extra=("${RL[@]}" --problems notebooks-data/rl/train.jsonl); else extra=("${SFT[@]}"); fi
            # shellcheck disable=SC2086
            "$BIN/steer" train $options "${extra[@]}" "${COMMON[@]}" --lr "$lr" --out "$run" 2> "$run.log"
            grep -E "trainable parameters?|step $STEPS/" "$run.log" | tr '\r' '\n' | tail -2 >&2
            count=$(sed -nE 's/^[a-z]+: ([0-9.]+[KMB] \()?([0-9]+)\)? trainable parameters?;.*/\2/p' "$run.log")
            evaluate "$name $objective $lr $count" "$run"
        done
    done
done
echo "total $(( $(date +%s) - START )) s" | tee -a "$OUT/results.txt"
python3 scripts/tinylora_report.py "$OUT"
