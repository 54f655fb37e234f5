#!/usr/bin/env bash
# The procedural-knowledge analyses on SmolLM2-135M-Instruct (docs/reproduction-influence.md,
# "SmolLM2"): a corpus of 900 documents (400 of the Python documentation, 300 synthetic
# arithmetic and slope documents, 200 worked solutions of the RL tasks), 72 queries the model
# answers correctly itself (24 additions, 24 multiplications, 24 capitals), EK-FAC on the MLPs
# of all 30 blocks, then scores and the five analyses under each query-token mask.
# Usage: bash scripts/reproduce_influence_smollm2.sh [OUT_DIR]   (default out/influence-smollm2)
# Environment: RANK (query rank, default 8), MASKS (default "all answer procedure"), PY (a Python
# with numpy and h5py for the rank check and the by-source tables; default the notebooks' venv,
# else python3).
# Every step but the analyses (seconds) is skipped when its output exists; fit and score resume
# from their own checkpoints, so rerunning after an interruption continues where it stopped.
# Outputs are named by mask, not by RANK: give another OUT_DIR to compare ranks.
# Time on 2 cores (Zen 3): fit ≈ 35 min, each score ≈ 15 min, the rest a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/influence-smollm2}
RANK=${RANK:-8}
MASKS=${MASKS:-all answer procedure}
BIN=.build/release
MODEL=models/smollm2-135m-instruct
swift build -c release --product workbench >/dev/null
swift build -c release --product influence >/dev/null
[ -d "$MODEL" ] || bash scripts/get_smollm2.sh
[ -f data/real/python-docs.jsonl ] || python3 scripts/make_real_corpus.py
PY=${PY:-$([ -x .venv-notebooks/bin/python ] && echo .venv-notebooks/bin/python || echo python3)}
if ! "$PY" -c 'import h5py, numpy' 2>/dev/null; then
    echo "error: $PY has no numpy or h5py; give one that has them as PY=... (bash scripts/check_notebooks.sh builds .venv-notebooks)" >&2
    exit 1
fi
mkdir -p "$OUT"
[ -f "$OUT/docs.jsonl" ] || python3 scripts/make_influence_smollm2.py corpus "$OUT"
[ -f "$OUT/queries.jsonl" ] || python3 scripts/make_influence_smollm2.py queries "$OUT" --model "$MODEL"

if [ ! -f "$OUT/factors.h5" ]; then
    /usr/bin/time -f "fit: %e s, peak RSS %M kB" "$BIN/influence" fit --model "$MODEL" --docs "$OUT/docs.jsonl" \
        --out "$OUT/factors.h5" --max-length 256 --checkpoint-every 300
fi
# What the query rank costs in accuracy: the first two queries of each task against the first
# 96 documents, rank RANK and 32 against full rank (318 MB per query, so only a few).
if [ ! -f "$OUT/rank-check.md" ]; then
    mkdir -p "$OUT/rank-check"
    head -n 96 "$OUT/docs.jsonl" > "$OUT/rank-check/docs.jsonl"
    python3 -c 'import json, sys
seen = {}
for line in open(sys.argv[1]):
    q = json.loads(line)
    seen[q["task"]] = seen.get(q["task"], 0) + 1
    if seen[q["task"]] <= 2: print(line, end="")' "$OUT/queries.jsonl" > "$OUT/rank-check/queries.jsonl"
    for rank in full 32 "$RANK"; do
        [ -f "$OUT/rank-check/rank-$rank.h5" ] && continue
        option=(--normalize nll); [ "$rank" = full ] || option+=(--query-rank "$rank")
        "$BIN/influence" score --model "$MODEL" --queries "$OUT/rank-check/queries.jsonl" --docs "$OUT/rank-check/docs.jsonl" \
            --factors "$OUT/factors.h5" "${option[@]}" --out "$OUT/rank-check/rank-$rank.h5"
    done
    { "$PY" scripts/compare_scores.py "$OUT/rank-check/rank-full.h5" "$OUT/rank-check/rank-$RANK.h5"; echo
      "$PY" scripts/compare_scores.py "$OUT/rank-check/rank-full.h5" "$OUT/rank-check/rank-32.h5"; } > "$OUT/rank-check.md.tmp"
    mv "$OUT/rank-check.md.tmp" "$OUT/rank-check.md"
    echo "wrote $OUT/rank-check.md"
fi

for mask in $MASKS; do
    if [ ! -f "$OUT/scores-$mask.h5" ]; then
        /usr/bin/time -f "score ($mask): %e s, peak RSS %M kB" "$BIN/influence" score --model "$MODEL" \
            --queries "$OUT/queries.jsonl" --docs "$OUT/docs.jsonl" --factors "$OUT/factors.h5" \
            --query-tokens "$mask" --query-rank "$RANK" --normalize nll --checkpoint-every 120 --out "$OUT/scores-$mask.h5"
    fi
    "$BIN/influence" analyze "$OUT/scores-$mask.h5" --docs "$OUT/docs.jsonl" --queries "$OUT/queries.jsonl" \
        --out "$OUT/analysis-$mask.h5" --top-k 10 >/dev/null
    "$PY" scripts/influence_by_source.py "$OUT/scores-$mask.h5" "$OUT/queries.jsonl" > "$OUT/by-source-$mask.md"
    echo "wrote $OUT/analysis-$mask.md and $OUT/by-source-$mask.md"
done
