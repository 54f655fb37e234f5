#!/usr/bin/env bash
# Probe of SmolLM2-135M-Instruct on the short-answer task families (docs/reproduction-smollm2.md,
# "Tasks with headroom"), before any training: for each family, the first PROBLEMS held-out
# problems, greedy and K samples at each sampling setting (T = 1; T = 0.7 with top-p 0.9), ChatML
# with the published boxed-answer system line, at most MAX_NEW new tokens; then one table with
# greedy, mean@K, pass@K, the format rate and standard errors (scripts/probe_table.py).
# Usage: bash scripts/probe_tasks_smollm2.sh [OUT_DIR]   (default out/probe-smollm2)
# Environment: FAMILIES (default all), PROBLEMS (200), K (8), MAX_NEW (96), SETTINGS (default
# "t1 t07"), SYSTEM (the system line; default the published boxed-answer line), PY (a Python
# with h5py and numpy; default the notebooks' venv, else python3). Probe another system line
# into its own OUT_DIR.
# Each (family, setting) evaluation is skipped when its file exists, so a rerun continues.
# Time on 2 cores: about 5 minutes per family and setting.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/probe-smollm2}
FAMILIES=${FAMILIES:-all}
PROBLEMS=${PROBLEMS:-200}
K=${K:-8}
MAX_NEW=${MAX_NEW:-96}
SETTINGS=${SETTINGS:-t1 t07}
SYSTEM=${SYSTEM:-'Please reason step by step, and put your final answer within \boxed{}.'}
BIN=.build/release
MODEL=models/smollm2-135m-instruct
PY=${PY:-$([ -x .venv-notebooks/bin/python ] && echo .venv-notebooks/bin/python || echo python3)}
if ! "$PY" -c 'import h5py, numpy' 2>/dev/null; then
    echo "error: $PY has no numpy or h5py; give one that has them as PY=... (bash scripts/check_notebooks.sh builds .venv-notebooks)" >&2
    exit 1
fi
swift build -c release --product workbench >/dev/null
swift build -c release --product steer >/dev/null
[ -d "$MODEL" ] || bash scripts/get_smollm2.sh
mkdir -p "$OUT"
"$BIN/workbench" tasks --out "$OUT/tasks" --families "$FAMILIES" --train 1000 --test 200 >/dev/null
for dir in "$OUT"/tasks/*/; do
    family=$(basename "$dir")
    [ "$FAMILIES" = all ] || [[ ",$FAMILIES," == *",$family,"* ]] || continue
    head -n "$PROBLEMS" "$dir/test.jsonl" > "$OUT/$family-probe.jsonl"
    for setting in $SETTINGS; do
        case $setting in
            t1) sampling=(--temperature 1 --top-p 1) ;;
            t07) sampling=(--temperature 0.7 --top-p 0.9) ;;
            *) echo "error: SETTINGS: '$setting' is not t1 or t07" >&2; exit 1 ;;
        esac
        file="$OUT/$family-$setting.h5"
        [ -f "$file" ] && continue
        echo "== $family, $setting"
        "$BIN/steer" eval --model "$MODEL" --problems "$OUT/$family-probe.jsonl" -k "$K" --max-new "$MAX_NEW" \
            "${sampling[@]}" --template chatml --system "$SYSTEM" --seed 0 --out "$file"
    done
done
"$PY" scripts/probe_table.py "$OUT" | tee "$OUT/probe.md"
