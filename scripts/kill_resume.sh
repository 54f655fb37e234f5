#!/usr/bin/env bash
# kill -9 at seeded random moments during the long commands, then the same command again
# until it finishes: the final output must be bit-identical to an uninterrupted run, and no
# killed run may leave a file under the final output name, nor the finished rerun a
# temporary (….tmp-PID) of a killed one. docs/testing.md keeps the results.
#   bash scripts/kill_resume.sh [KILLS_PER_COMMAND] [SEED]      (after a release build)
# Commands: workbench pretrain, influence fit, influence score, steer train, lens tune, each
# resuming from its checkpoints.
set -uo pipefail
source "$(dirname "$0")/release_env.sh"
kills=${1:-3}
seed=${2:-1}
export WORKBENCH_THREADS=1   # bit-for-bit comparisons fix the thread count (docs/testing.md)
data=notebooks-data
head -n 40 "$data/corpus-sample.jsonl" > "$w/docs.jsonl"
head -n 2 "$data/queries/reasoning.jsonl" > "$w/q.jsonl"
"$bin/workbench" corpus --out "$w/corpus" >/dev/null 2>&1 || { echo "error: workbench corpus failed" >&2; exit 1; }
"$bin/influence" fit --docs "$w/docs.jsonl" --out "$w/factors.h5" --max-length 48 >/dev/null 2>&1

# Each command as NAME|OUTPUT|COMPARED-FILE|ARGS (OUTPUT is what must not appear half-written).
commands=(
  "pretrain|$w/OUT|model/model.safetensors|$bin/workbench pretrain --corpus $w/corpus --out $w/OUT --hidden 64 --layers 2 --heads 2 --kv-heads 1 --intermediate 128 --steps 120 --batch 4 --sequence-length 64 --checkpoint-every 10 --vocab-size 300"
  "influence score|$w/OUT.h5||$bin/influence score --queries $w/q.jsonl --docs $w/docs.jsonl --factors $w/factors.h5 --out $w/OUT.h5 --max-length 48 --batch-size 2 --checkpoint-every 0"
  "steer train|$w/OUT|checkpoint.safetensors|$bin/steer train --problems $data/rl/train.jsonl --out $w/OUT --steps 12 --prompts-per-step 4 --group 4 --max-new 40 --layers 1,2,3 --lr 0.01 --checkpoint-every 1"
  "influence fit|$w/OUT.h5||$bin/influence fit --docs $w/docs.jsonl --out $w/OUT.h5 --max-length 48 --checkpoint-every 0"
  "lens tune|$w/OUT.h5||$bin/lens tune --docs $w/docs.jsonl --out $w/OUT.h5 --steps 60 --checkpoint-every 10"
)

# compare A B FILE: the compared file (or the output itself), tensors and datasets by bytes
# except the run metadata that records times.
compare() {
    local a=$1 b=$2 file=$3
    [ -n "$file" ] && { a=$a/$file; b=$b/$file; }
    python3 scripts/compare_outputs.py "$a" "$b"
}

status=0
index=0
echo "| command | uninterrupted | kills at (seconds after start) | same bits after the rerun | half-written output seen | temporaries left |"
echo "| --- | --- | --- | --- | --- | --- |"
for spec in "${commands[@]}"; do
    IFS='|' read -r name output file args <<< "$spec"
    ref=${output/OUT/reference}
    start=$(date +%s.%N)
    ${args//OUT/reference} >/dev/null 2>&1 || { echo "error: $name failed uninterrupted" >&2; status=1; continue; }
    duration=$(python3 -c "print($(date +%s.%N) - $start)")
    target=${output/OUT/killed}
    moments=()
    leftovers=no
    for k in $(seq "$kills"); do
        # A seeded moment in the first 90 % of the uninterrupted run's duration.
        at=$(python3 -c "import random; print(round(random.Random(f'$seed-$index-$k').random() * 0.9 * $duration, 2))")
        moments+=("$at")
        [ -z "$file" ] && rm -f "$target"   # so that a file under the final name can only come from this attempt
        ${args//OUT/killed} >/dev/null 2>&1 &
        pid=$!
        sleep "$at"
        if kill -9 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            # A killed single-file output must not exist under its final name (only .partial / .tmp files).
            if [ -z "$file" ] && [ -e "$target" ]; then leftovers=yes; fi
        else
            wait "$pid" 2>/dev/null   # it had already finished: the rest of the kills find nothing to do
            moments[-1]="${at}(done)"
        fi
    done
    ${args//OUT/killed} >/dev/null 2>&1 || { echo "error: $name failed to resume" >&2; status=1; continue; }
    if compare "$ref" "$target" "$file" >/dev/null; then same=yes; else same=NO; status=1; fi
    [ "$leftovers" = yes ] && status=1
    # The finished run removed the temporaries (….tmp-PID) that the killed ones left.
    stale=$(find "$w" -name "killed*.tmp-*" -o -path "$w/killed/*" -name "*.tmp-*" | wc -l)
    [ "$stale" -gt 0 ] && status=1
    printf '| %s | %.1f s | %d (%s) | %s | %s | %s |\n' "$name" "$duration" "$kills" "${moments[*]}" "$same" "$leftovers" "$stale"
    rm -rf "${output/OUT/reference}" "$target"* "${output/OUT/killed}".*
    index=$((index + 1))
done
exit $status
