#!/usr/bin/env bash
# Set-up + the main job: describe a model, run a forward pass to HDF5, generate.
# Uses the committed Qwen2-style fixture checkpoint until the embedded model ships.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh
swift build -c release --product workbench
model=Tests/ModelTests/Fixtures/qwen2_bias_tied_f16
wb=.build/release/workbench
echo "== workbench info $model"
$wb info "$model"
echo
echo "== workbench forward"
$wb forward --model "$model" --ids 12,7,99,3,41 --out out/forward.h5
echo
echo "== workbench generate (greedy, then sampled)"
$wb generate --model "$model" --ids 12,7,99 --ids 5,6 --max-new 12
$wb generate --model "$model" --ids 12,7,99 --max-new 12 --temperature 0.8 --top-p 0.95 --seed 1
echo
echo "results: out/forward.h5 (/input_ids, /logits, /residual); read it with h5py or h5dump"
