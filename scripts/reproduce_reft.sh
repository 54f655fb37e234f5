#!/usr/bin/env bash
# Reproduces ReFT's experiments in miniature on the embedded model (docs/reproduction-reft.md):
#   1. memorisation: a rank-1 ConsReFT at one block's output, last prompt token, prompt "Recite:",
#      trained by SFT to make greedy decoding reproduce a text of N tokens; recovery (exact
#      character prefix ÷ generated length) for every block and N, for a known text (the
#      corpus's encyclopedia documents, seen 8 times in pretraining), the same words shuffled,
#      and random tokens;
#   2. composition: one rank-4 LoReFT whose rows 0–1 learn an answer format (word problems
#      answered "The answer is N." instead of "\boxed{N}") and rows 2–3 then learn a task
#      (linear equations), applied alone and together;
#   3. LoReFT against LoRA and steering vectors on the word problems, by SFT and by RL.
# Writes OUT/memorisation.tsv, OUT/memorisation.svg, OUT/composition.txt, OUT/comparison.txt.
# Usage: bash scripts/reproduce_reft.sh [OUT_DIR]   (default out/repro-reft)
# Environment: BIN (the binaries' directory; set it to skip the build), LENGTHS (default
# "16 32 64 128 256"), MEMORISE_STEPS (300), RL_STEPS (100), PARTS (default "1 2 3"),
# REUSE (results.txt of scripts/reproduce_tinylora.sh: its LoRA rank-1 and steering-vector runs,
# trained with the same settings, are taken from there instead of being trained again).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/repro-reft}
LENGTHS=${LENGTHS:-"16 32 64 128 256"}
MEMORISE_STEPS=${MEMORISE_STEPS:-300}
RL_STEPS=${RL_STEPS:-100}
PARTS=${PARTS:-"1 2 3"}
if [ -z "${BIN:-}" ]; then
    BIN=.build/release
    export PATH="$PATH:/opt/swift/usr/bin"
    for product in workbench steer; do swift build -c release --product "$product" >/dev/null; done
fi
mkdir -p "$OUT"
START=$(date +%s)
PROMPT="Recite:"

if [[ " $PARTS " == *" 1 "* ]]; then
    # The three texts, each cut to every length in tokens (the model's own tokenizer).
    python3 - "$OUT" "$BIN" $LENGTHS <<'PY'
import json, random, subprocess, sys
out, bin_dir, lengths = sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3:]]
def tokenize(text):
    return json.loads(subprocess.run([f"{bin_dir}/workbench", "tokenize", "--text", text, "--json"],
                                     check=True, capture_output=True, text=True).stdout)["ids"]
def detokenize(ids):
    return subprocess.run([f"{bin_dir}/workbench", "detokenize", "--ids", ",".join(map(str, ids))],
                          check=True, capture_output=True, text=True).stdout.rstrip("\n")
# The known text: the encyclopedia documents of the sample, which pretraining repeated 8 times.
docs = [json.loads(l) for l in open("notebooks-data/corpus-sample.jsonl")]
known = " " + " ".join(d["text"] for d in docs if d["source"] == "wiki")
words = known.split()
random.Random(0).shuffle(words)
shuffled = " " + " ".join(words)
rng = random.Random(1)
random_ids = [rng.randrange(0, 1021) for _ in range(max(lengths) + 64)]   # ids ≥ 1021 are special
texts = {"known": tokenize(known), "shuffled": tokenize(shuffled), "random": random_ids}
for kind, ids in texts.items():
    for n in lengths:
        completion = detokenize(ids[:n])
        with open(f"{out}/mem-{kind}-{n}.jsonl", "w") as f:
            f.write(json.dumps({"id": f"{kind}-{n}", "prompt": "Recite:", "completion": completion}) + "\n")
print(f"texts: {', '.join(texts)} at {lengths} tokens")
PY
    LAYERS=$("$BIN/workbench" info --no-measure | sed -n 's/^layers *\([0-9]*\).*/\1/p')
    printf "text\ttokens\tblock\trecovery\tgenerated_chars\tmatched_chars\tseconds\n" > "$OUT/memorisation.tsv"
    for kind in known shuffled random; do
        for n in $LENGTHS; do
            for layer in $(seq 0 $((LAYERS - 1))); do
                run="$OUT/mem-$kind-$n-b$layer"
                t0=$(date +%s.%N)
                "$BIN/steer" train --method consreft --rank 1 --layers "$layer" --positions l1 --objective sft \
                    --problems "$OUT/mem-$kind-$n.jsonl" --out "$run" --steps "$MEMORISE_STEPS" --prompts-per-step 1 \
                    --lr 5e-2 --clip 0 --checkpoint-every 0 --template raw 2> "$run.log"
                seconds=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
                "$BIN/workbench" generate --adapter "$run" --text "$PROMPT" --max-new "$n" --ignore-eos --json > "$run.json"
                python3 - "$OUT/mem-$kind-$n.jsonl" "$run.json" "$kind" "$n" "$layer" "$seconds" >> "$OUT/memorisation.tsv" <<'PY'
import json, sys
target = json.loads(open(sys.argv[1]).readline())["completion"]
generated = json.load(open(sys.argv[2]))[0]["text"]
matched = 0
for a, b in zip(generated, target):
    if a != b:
        break
    matched += 1
recovery = 100 * matched / max(1, len(generated))
print(f"{sys.argv[3]}\t{sys.argv[4]}\t{sys.argv[5]}\t{recovery:.1f}\t{len(generated)}\t{matched}\t{sys.argv[6]}")
PY
                tail -1 "$OUT/memorisation.tsv" >&2
                rm -rf "$run"
            done
        done
    done
fi

if [[ " $PARTS " == *" 2 "* ]]; then
    # Composition data: word problems answered "The answer is N." without \boxed (behaviour A:
    # a format the corpus uses for other tasks), linear equations with the corpus's worked
    # solutions (behaviour B); test problems of both.
    python3 scripts/task_data.py words-sft "$OUT/format-a.jsonl" --plain
    python3 scripts/task_data.py linear "$BIN" "$OUT" --completions
    mv "$OUT/linear-train.jsonl" "$OUT/task-b.jsonl"
    python3 scripts/task_data.py words-test "$OUT/words-test.jsonl"
    COMMON=(--method loreft --rank 4 --layers 1,2 --positions f3+l3 --objective sft --steps 150 --prompts-per-step 16
            --lr 1e-2 --checkpoint-every 0)
    "$BIN/steer" train "${COMMON[@]}" --subspace 0-2 --problems "$OUT/format-a.jsonl" --out "$OUT/compose-a" 2> "$OUT/compose-a.log"
    "$BIN/steer" train "${COMMON[@]}" --subspace 2-4 --init "$OUT/compose-a" --problems "$OUT/task-b.jsonl" --out "$OUT/compose-b" 2> "$OUT/compose-b.log"
    : > "$OUT/composition.txt"
    for spec in "base:-:-" "A:compose-a:0-2" "B:compose-b:2-4" "A+B:compose-b:0-4"; do
        IFS=':' read -r name run rows <<<"$spec"
        for task in linear words; do
            args=(--problems "$OUT/$task-test.jsonl" -k 0 --max-new 64 --jsonl "$OUT/compose-$name-$task.jsonl")
            [ "$run" = "-" ] || args+=(--adapter "$OUT/$run" --subspace "$rows")
            accuracy=$("$BIN/steer" eval "${args[@]}" | sed -n 's/.*greedy accuracy \([0-9.]*\).*/\1/p')
            format=$(python3 -c "
import json, sys
texts = [json.loads(l)['greedy_text'] for l in open(sys.argv[1])]
print(f'{sum(\"The answer is\" in t and \"boxed\" not in t for t in texts) / len(texts):.2f}')" "$OUT/compose-$name-$task.jsonl")
            echo "$name $task accuracy $accuracy format $format" | tee -a "$OUT/composition.txt"
        done
    done
fi

if [[ " $PARTS " == *" 3 "* ]]; then
    python3 scripts/task_data.py words-sft "$OUT/words-sft.jsonl"
    python3 scripts/task_data.py words-test "$OUT/words-test.jsonl"
    : > "$OUT/comparison.txt"
    RUNS=(
        "loreft|--method loreft --rank 4 --layers all --positions f5+l5|rl|3e-3"
        "loreft|--method loreft --rank 4 --layers all --positions f5+l5|rl|1e-2"
        "loreft|--method loreft --rank 4 --layers all --positions f5+l5|sft|3e-3"
        "loreft|--method loreft --rank 4 --layers all --positions f5+l5|sft|1e-2"
        "lora-r1|--method lora --rank 1|rl|1e-3"
        "lora-r1|--method lora --rank 1|sft|3e-3"
        "vectors|--method vectors|rl|1e-2"
        "vectors|--method vectors|sft|1e-2"
    )
    for spec in "${RUNS[@]}"; do
        IFS='|' read -r name options objective lr <<<"$spec"
        if [ -n "${REUSE:-}" ] && [ "$name" != loreft ]; then
            grep -E "^$name $objective $lr " "$REUSE" | tee -a "$OUT/comparison.txt" || echo "$name $objective $lr: not in $REUSE" >&2
            continue
        fi
        run="$OUT/cmp-$name-$objective-$lr"
        if [ "$objective" = rl ]; then extra=(--objective rloo --group 8 --problems notebooks-data/rl/train.jsonl)
        else extra=(--objective sft --problems "$OUT/words-sft.jsonl"); fi
        # shellcheck disable=SC2086
        "$BIN/steer" train $options "${extra[@]}" --steps "$RL_STEPS" --prompts-per-step 16 --max-new 64 --lr "$lr" \
            --checkpoint-every 25 --out "$run" 2> "$run.log"
        count=$(sed -nE 's/^[a-z0-9]+: ([0-9.]+[KMB] \()?([0-9]+)\)? trainable parameters?;.*/\2/p' "$run.log")
        line=$("$BIN/steer" eval --problems "$OUT/words-test.jsonl" -k 8 --max-new 64 --seed 0 --adapter "$run" | grep "greedy accuracy")
        echo "$name $objective $lr $count $line" | tee -a "$OUT/comparison.txt"
    done
    line=$("$BIN/steer" eval --problems "$OUT/words-test.jsonl" -k 8 --max-new 64 --seed 0 | grep "greedy accuracy")
    echo "base - - 0 $line" | tee -a "$OUT/comparison.txt"
fi
echo "total $(( $(date +%s) - START )) s" | tee -a "$OUT/total.txt"
python3 scripts/reft_report.py "$OUT"
