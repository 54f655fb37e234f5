#!/usr/bin/env bash
# Reproduces the steering-vector paper's table in miniature on the embedded model
# (docs/reproduction-steering.md): base / full fine-tuning / steering vectors, trained by RL
# on one task and tested on it and on another, mean@8 and pass@8 at T = 1; then the vectors'
# logit lens and the last block's first-token claim.
# Usage: bash scripts/reproduce_steering.sh [OUT_DIR] [STEPS]   (default out/repro-steering, 100)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/repro-steering}
STEPS=${2:-100}
BIN=.build/release
export PATH="$PATH:/opt/swift/usr/bin"
swift build -c release --product workbench >/dev/null
swift build -c release --product steer >/dev/null
swift build -c release --product lens >/dev/null
mkdir -p "$OUT"

# Problems: the word problems of notebooks-data/rl, and linear equations drawn by the corpus
# generator with seeds 1..15 (new problems of a procedure the model saw worked in pretraining).
for s in $(seq 1 15); do "$BIN/workbench" corpus --out "$OUT/corpus-$s" --seed "$s" >/dev/null; done
python3 - "$OUT" <<'PY'
import json, sys, glob
out = sys.argv[1]
seen, linear = set(), []
for path in sorted(glob.glob(f"{out}/corpus-*/queries/reasoning.jsonl")):
    for line in open(path):
        q = json.loads(line)
        if q["task"] == "linear" and q["prompt"] not in seen:
            seen.add(q["prompt"])
            linear.append({"id": f"linear-{len(linear)}", "prompt": q["prompt"], "answer": q["answer"], "task": "linear"})
def write(name, rows):
    with open(f"{out}/{name}", "w") as f:
        for r in rows: f.write(json.dumps(r) + "\n")
write("linear-test.jsonl", linear[:100])
write("linear-train.jsonl", linear[100:])
words = [json.loads(l) for l in open("notebooks-data/rl/test.jsonl")]
write("words-test.jsonl", words[:100])
print(f"linear equations: {len(linear) - 100} train / 100 test; word problems: 400 train / 100 test")
PY
rm -rf "$OUT"/corpus-*

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
    for method in vectors full; do
        lr=1e-3; [ "$method" = full ] && lr=3e-5
        run="$OUT/$task-$method"
        /usr/bin/time -f "$task-$method: %e s, peak RSS %M KiB" "$BIN/steer" train --method "$method" --problems "$train" \
            --out "$run" --lr "$lr" "${COMMON[@]}" 2> >(grep -E "step $STEPS/|peak RSS|trainable" >&2)
        evaluate "$task-$method/words" "$run" "$OUT/words-test.jsonl"
        evaluate "$task-$method/linear" "$run" "$OUT/linear-test.jsonl"
    done
done

# The vectors through the logit lens, and where the last block's vector acts.
"$BIN/lens" inspect "$OUT/words-vectors/vectors.bin" --top-tokens 10 --out "$OUT/words-vectors-lens.h5" | tee "$OUT/words-vectors-lens.txt"
for where in first-token off; do
    evaluate "words-vectors[last:$where]/words" "$OUT/words-vectors" "$OUT/words-test.jsonl" --last-block "$where"
done
echo
cat "$OUT/results.txt"
