#!/usr/bin/env bash
# Reproduces the procedural-knowledge analyses on the embedded model and the full
# synthetic corpus (docs/reproduction-influence.md): fit → score → analyze.
# Usage: bash scripts/reproduce_influence.sh [OUT_DIR]   (default out/repro)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/repro}
BIN=.build/release
swift build -c release --product workbench >/dev/null
swift build -c release --product influence >/dev/null
mkdir -p "$OUT"
[ -d out/corpus/corpus ] || "$BIN/workbench" corpus --out out/corpus --seed 0

# 40 factual queries (10 per attribute, facts stated at least 3 times) and all 60 reasoning queries.
python3 - "$OUT/queries.jsonl" <<'PY'
import json, sys
factual = [json.loads(l) for l in open("notebooks-data/queries/factual.jsonl")]
reasoning = [json.loads(l) for l in open("notebooks-data/queries/reasoning.jsonl")]
chosen, per_task = [], {}
for q in factual:
    if q.get("mentions", 0) >= 3 and per_task.get(q["task"], 0) < 10:
        per_task[q["task"]] = per_task.get(q["task"], 0) + 1
        chosen.append(q)
with open(sys.argv[1], "w") as f:
    for q in chosen + reasoning:
        f.write(json.dumps(q) + "\n")
PY

time "$BIN/influence" fit --docs out/corpus/corpus --out "$OUT/factors.h5" --max-length 128
time "$BIN/influence" score --queries "$OUT/queries.jsonl" --docs out/corpus/corpus --factors "$OUT/factors.h5" \
    --normalize nll --out "$OUT/scores.h5"
"$BIN/influence" analyze "$OUT/scores.h5" --docs out/corpus/corpus --queries "$OUT/queries.jsonl" \
    --out "$OUT/analysis.h5" --top-k 10
