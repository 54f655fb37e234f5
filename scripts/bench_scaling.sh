#!/usr/bin/env bash
# Times influence fit, influence score and steer train in one process and under
# `mpirun -n 2`, on this machine, and prints the speed-up, the parallel efficiency and
# the per-document costs that docs/scaling.md projects from. Every configuration runs in
# the same invocation (these machines are noisy):
#   1x1  one process, one thread       (the unit the efficiency is measured against)
#   2x1  two ranks, one thread each    (what mpirun -n 2 does on a 2-core node)
#   1x2  one process, two threads      (the workbench's default on this machine)
# Efficiency = t(1x1) / (2 · t(2x1)).
#
#   bash scripts/bench_scaling.sh                         # embedded model
#   MODEL=/path/to/hf-dir DOCS=16 MAX_LENGTH=128 MODULES=down_proj bash scripts/bench_scaling.sh
# Options (environment): MODEL (default: embedded), DOCS (documents fitted and scored, 200),
# QUERIES (3), MAX_LENGTH (128), MODULES (mlp), BATCH (score's --batch-size, 8: a rank's slice is whole
# batches, so DOCS / BATCH should be several times the ranks), STEPS (steer train steps, 4),
# OUT (a scratch dir), PARTS (which of fit, score, steer to time; all three by default).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)
command -v mpirun >/dev/null || { echo "error: mpirun not found (bash scripts/setup.sh installs openmpi-bin)" >&2; exit 1; }
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
docs=${DOCS:-200}; batch=${BATCH:-8}; parts=${PARTS:-fit score steer}; queries=${QUERIES:-3}; max_length=${MAX_LENGTH:-128}; modules=${MODULES:-mlp}; steps=${STEPS:-4}
model_args=(); [ -n "${MODEL:-}" ] && model_args=(--model "$MODEL")
data=notebooks-data
# The sample corpus repeated until it has $docs documents (ids made unique).
python3 - "$data/corpus-sample.jsonl" "$docs" "$out/docs.jsonl" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
with open(sys.argv[3], "w") as f:
    for i in range(int(sys.argv[2])):
        d = dict(lines[i % len(lines)]); d["id"] = f"{d['id']}-{i}"
        f.write(json.dumps(d) + "\n")
EOF
head -n "$queries" "$data/queries/reasoning.jsonl" > "$out/q.jsonl"
root=(); [ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)

# time_run LABEL CONFIG TOOL ARGS...: prints the wall time in seconds.
time_run() {
    local config=$1; shift
    local start end
    start=$(date +%s.%N)
    case $config in
        1x1) WORKBENCH_THREADS=1 "$bin/$@" >/dev/null 2>"$out/err" ;;
        1x2) WORKBENCH_THREADS=2 "$bin/$@" >/dev/null 2>"$out/err" ;;
        2x1) mpirun -n 2 --oversubscribe "${root[@]}" -x WORKBENCH_THREADS=1 "$bin/$1" "${@:2}" >/dev/null 2>"$out/err" ;;
    esac || { cat "$out/err" >&2; exit 1; }
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.2f}')"
}

report() {  # NAME t11 t21 t12 UNITS
    python3 - "$@" <<'EOF'
import sys
name, t11, t21, t12, units = sys.argv[1], *map(float, sys.argv[2:5]), int(sys.argv[5])
print(f"{name:16s} 1x1 {t11:8.2f} s   2x1 {t21:8.2f} s   1x2 {t12:8.2f} s   "
      f"speed-up 2x1/1x1 {t11 / t21:4.2f}  efficiency {t11 / (2 * t21):5.1%}   "
      f"1x1 per unit {t11 / units * 1e3:8.2f} ms")
EOF
}

echo "model: ${MODEL:-embedded}; $docs documents, $queries queries, max length $max_length, modules $modules; $(nproc) cores"
declare -A t
if [[ " $parts " == *" fit "* || ! -f "$out/factors-1x1.h5" ]]; then
for config in 1x1 2x1 1x2; do
    t[fit_$config]=$(time_run $config influence fit --docs "$out/docs.jsonl" --out "$out/factors-$config.h5" \
        --max-length "$max_length" --modules "$modules" "${model_args[@]}")
done
report "influence fit" "${t[fit_1x1]}" "${t[fit_2x1]}" "${t[fit_1x2]}" "$docs"
fi
if [[ " $parts " == *" score "* ]]; then
for config in 1x1 2x1 1x2; do
    t[score_$config]=$(time_run $config influence score --queries "$out/q.jsonl" --docs "$out/docs.jsonl" \
        --factors "$out/factors-1x1.h5" --out "$out/scores-$config.h5" --max-length "$max_length" --batch-size "$batch" "${model_args[@]}")
done
report "influence score" "${t[score_1x1]}" "${t[score_2x1]}" "${t[score_1x2]}" "$docs"
fi
if [[ " $parts " == *" steer "* ]]; then
for config in 1x1 2x1 1x2; do
    rm -rf "$out/steer-$config"
    t[steer_$config]=$(time_run $config steer train --problems "$data/rl/train.jsonl" --out "$out/steer-$config" \
        --steps "$steps" --prompts-per-step 8 --group 8 --max-new 48 --micro-batch 8 "${model_args[@]}")
done
report "steer train" "${t[steer_1x1]}" "${t[steer_2x1]}" "${t[steer_1x2]}" "$steps"
fi
echo "(per unit: per document for fit and score, per step for steer train; outputs in $out)"
