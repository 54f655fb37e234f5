#!/usr/bin/env bash
# The steering / TinyLoRA / LoRA / ReFT experiments on SmolLM2-135M-Instruct
# (docs/reproduction-smollm2.md): for each task, the base model and every run in RUNS, each
# trained with `steer train` (RL: RLOO, ±1 reward; or SFT on the tasks' worked answers) and
# evaluated with `steer eval` on the same 200 held-out problems (greedy, 8 samples); then one
# table per task (scripts/smollm2_table.py), the vectors through the lens, and each task's
# vectors evaluated on the other task.
# Usage: bash scripts/reproduce_smollm2.sh [OUT_DIR]   (default out/repro-smollm2)
# Environment:
#   TASKS   task families (default "multiplication addition")
#   RUNS    run specs NAME:OBJECTIVE:METHOD:LR[:extra steer train options, space-separated],
#           one per line (default: the list below); NAME is the row and the run directory;
#           RUNS=" " trains nothing (the lens stage alone)
#   LENS_RUN  the vectors run read through the lens and evaluated with the last block's vector
#           at the first token and off (default rl-vectors-1e-2)
#   STEPS   steps per run (default 40); PROMPTS (8) prompts per step; GROUP (8) samples per prompt
#   PY      a Python with h5py and numpy (default the notebooks' venv, else python3)
#   BIN     the binaries' directory; set it to skip the build
# Resumable: a run whose eval file exists is skipped; an interrupted run continues from its
# checkpoint (steer train resumes by itself). Time on 2 cores: docs/reproduction-smollm2.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/repro-smollm2}
TASKS=${TASKS:-"multiplication addition"}
STEPS=${STEPS:-40}
PROMPTS=${PROMPTS:-8}
GROUP=${GROUP:-8}
MODEL=models/smollm2-135m-instruct
# The published system line asks for \boxed{}; this model almost never boxes (the probe in
# docs/reproduction-smollm2.md), and it states "The answer is N", which the reward also reads,
# three to four times as often when asked to.
SYSTEM=${SYSTEM:-'Solve the problem. End your reply with "The answer is N." where N is the number.'}
# Order: the rows that answer the papers' main questions first (a partial run still fills them).
DEFAULT_RUNS="rl-vectors-1e-2:rloo:vectors:1e-2
rl-full-1e-5:rloo:full:1e-5
rl-lora-r1:rloo:lora:1e-3:--rank 1
rl-tinylora-13-1e-2:rloo:tinylora:1e-2:--u 13 --tie all
rl-tinylora-13-1e-3:rloo:tinylora:1e-3:--u 13 --tie all
sft-vectors-1e-2:sft:vectors:1e-2
sft-full-1e-5:sft:full:1e-5
sft-tinylora-13-1e-3:sft:tinylora:1e-3:--u 13 --tie all
rl-vectors-1e-3:rloo:vectors:1e-3
rl-vectors-3e-2:rloo:vectors:3e-2
rl-loraxs-r2:rloo:loraxs:1e-3:--rank 2
rl-tinylora-117:rloo:tinylora:1e-3:--u 13 --tie 24
rl-loreft:rloo:loreft:3e-3:--layers 6,12,18,24 --positions l1 --rank 4
rl-vectors-first-half:rloo:vectors:1e-2:--layers 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14
rl-vectors-second-half:rloo:vectors:1e-2:--layers 15,16,17,18,19,20,21,22,23,24,25,26,27,28,29"
RUNS=${RUNS:-$DEFAULT_RUNS}
PY=${PY:-$([ -x .venv-notebooks/bin/python ] && echo .venv-notebooks/bin/python || echo python3)}
if ! "$PY" -c 'import h5py, numpy' 2>/dev/null; then
    echo "error: $PY has no numpy or h5py; give one that has them as PY=... (bash scripts/check_notebooks.sh builds .venv-notebooks)" >&2
    exit 1
fi
if [ -z "${BIN:-}" ]; then
    BIN=.build/release
    export PATH="$PATH:/opt/swift/usr/bin"
    for product in workbench steer lens; do swift build -c release --product "$product" >/dev/null; done
fi
[ -d "$MODEL" ] || bash scripts/get_smollm2.sh
mkdir -p "$OUT"
SAMPLING=(--template chatml --system "$SYSTEM" --temperature 0.7 --top-p 0.9 --max-new 64 --seed 0)

evaluate() {   # evaluate FILE PROBLEMS [steer eval options]: greedy + 8 samples, written atomically
    local file=$1 problems=$2; shift 2
    "$BIN/steer" eval --problems "$problems" -k 8 "${SAMPLING[@]}" "$@" --out "$file.tmp.h5" | grep -E "greedy|answer given"
    mv "$file.tmp.h5" "$file"
}

for task in $TASKS; do
    dir="$OUT/$task"
    mkdir -p "$dir/evals" "$dir/runs"
    "$BIN/workbench" tasks --out "$OUT/tasks" --families "$task" --train 1000 --test 200 >/dev/null
    test="$OUT/tasks/$task/test.jsonl" train="$OUT/tasks/$task/train.jsonl"
    if [ ! -f "$dir/evals/base.h5" ]; then
        echo "== $task: base"
        evaluate "$dir/evals/base.h5" "$test" --model "$MODEL"
    fi
    while IFS= read -r spec; do
        [[ $spec =~ ^[[:space:]]*$ ]] && continue
        IFS=: read -r name objective method lr extra <<< "$spec"
        eval_file="$dir/evals/$name.h5"
        [ -f "$eval_file" ] && continue
        options=()
        [ -z "$extra" ] || read -r -a options <<< "$extra"
        echo "== $task: $name ($(date +%H:%M))"
        start=$(date +%s)
        /usr/bin/time -f "peak RSS %M KiB" -o "$dir/runs/$name.time" \
            "$BIN/steer" train --model "$MODEL" --method "$method" --objective "$objective" --lr "$lr" "${options[@]}" \
            --problems "$train" --out "$dir/runs/$name" --steps "$STEPS" --prompts-per-step "$PROMPTS" --group "$GROUP" \
            --checkpoint-every 5 "${SAMPLING[@]}" > "$dir/runs/$name.log" 2>&1
        count=$(sed -nE 's/^[a-z0-9]+: ([0-9.]+[KMB] \()?([0-9]+)\)? trainable parameters?;.*/\2/p' "$dir/runs/$name.log" | head -1)
        echo "$name ${count:-?}" >> "$dir/params.txt"
        echo "$name: train $(( $(date +%s) - start )) s, $(cat "$dir/runs/$name.time")" | tee -a "$dir/cost.txt"
        start=$(date +%s)
        evaluate "$eval_file" "$test" --adapter "$dir/runs/$name"
        echo "$name: eval $(( $(date +%s) - start )) s" >> "$dir/cost.txt"
    done <<< "$RUNS"
done

# The vectors through the real vocabulary (raw, after the final norm, by cosine), and where the
# last block's vector acts: at every position (as trained), only at the last prompt position
# (the first generated token), or not at all.
LENS_RUN=${LENS_RUN:-rl-vectors-1e-2}
for task in $TASKS; do
    dir="$OUT/$task" run="$OUT/$task/runs/$LENS_RUN"
    [ -f "$run/vectors.bin" ] && [ -f "$dir/evals/$LENS_RUN.h5" ] || continue
    if [ ! -f "$dir/lens-$LENS_RUN.txt" ]; then
        "$BIN/lens" inspect "$run/vectors.bin" --model "$MODEL" --top-tokens 10 --out "$dir/lens-$LENS_RUN.h5" \
            > "$dir/lens-$LENS_RUN.txt.tmp"
        mv "$dir/lens-$LENS_RUN.txt.tmp" "$dir/lens-$LENS_RUN.txt"
    fi
    for where in first-token off; do
        eval_file="$dir/evals/$LENS_RUN-last-$where.h5"
        [ -f "$eval_file" ] || evaluate "$eval_file" "$OUT/tasks/$task/test.jsonl" --adapter "$run" --last-block "$where"
    done
done

# Transfer: each task's vectors evaluated on the other tasks (rows transfer-from-TASK-RUN).
for task in $TASKS; do
    run="$OUT/$task/runs/$LENS_RUN"
    [ -f "$run/vectors.bin" ] && [ -f "$OUT/$task/evals/$LENS_RUN.h5" ] || continue
    for other in $TASKS; do
        [ "$other" != "$task" ] && [ -f "$OUT/$other/evals/base.h5" ] || continue
        eval_file="$OUT/$other/evals/transfer-from-$task-$LENS_RUN.h5"
        [ -f "$eval_file" ] || evaluate "$eval_file" "$OUT/tasks/$other/test.jsonl" --adapter "$run"
    done
done

"$PY" scripts/smollm2_table.py "$OUT" | tee "$OUT/results.md"
