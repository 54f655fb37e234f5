#!/usr/bin/env bash
# Set-up + the main job: train a tokenizer, describe a model, tokenize, run a forward
# pass to HDF5, generate. Until the embedded model ships it runs on the committed
# Qwen2-style fixture checkpoint (random weights), given a tokenizer trained here.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bash scripts/setup.sh
swift build -c release --product workbench
wb=.build/release/workbench
model=out/demo-model
rm -rf "$model" out/demo-corpus
mkdir -p out/demo-corpus
cp -r Tests/ModelTests/Fixtures/qwen2_bias_tied_f16 "$model"
rm -f "$model/reference.safetensors"
for i in $(seq 1 40); do
    echo "{\"id\": \"doc$i\", \"text\": \"The river Aldor flows past $i towns. It's $((i * 3)) km long, and the capital of Veltria is Morane.\"}"
done > out/demo-corpus/shard-000.jsonl

echo "== workbench tokenizer-train (qwen2 style, 272 tokens = the model's vocabulary)"
$wb tokenizer-train --corpus out/demo-corpus --vocab-size 272 --style qwen2 --out "$model/tokenizer.json"
echo
echo "== workbench info $model"
$wb info "$model"
echo
echo "== workbench tokenize"
$wb tokenize --model "$model" --text "The river flows past 12 towns." --tokens
echo
echo "== workbench forward --text"
$wb forward --model "$model" --text "The capital of Veltria is" --out out/forward.h5
echo
echo "== workbench generate (greedy, then sampled; random weights, so the text is noise)"
$wb generate --model "$model" --text "The river" --text "It's" --max-new 12
$wb generate --model "$model" --text "The river" --max-new 12 --temperature 0.8 --top-p 0.95 --seed 1
echo
echo "results: out/forward.h5 (/input_ids, /tokens, /logits, /residual); read it with h5py or h5dump"
