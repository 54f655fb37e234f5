#!/usr/bin/env bash
# Writes the committed seed corpora of the fuzz targets that need made-up files
# (Fuzz/seeds/TARGET/): valid inputs made by the workbench itself on the embedded model.
# Run after a release build; scripts/fuzz.sh adds the fixtures that already exist in the tree.
#   FuzzModelFiles     config.json, a shard index and tokenizer_config.json, each prefixed with its byte
#   FuzzJSONL          a few lines of each kind of .jsonl the commands read
#   FuzzVectorFiles    one vector file per format, prefixed with the byte that selects it (the HDF5
#                      one goes to FuzzResultFiles)
#   FuzzAdapterFiles   a LoRA run adapter, a LoReFT run file, a PEFT directory (config NUL weights),
#                      each prefixed with the byte that selects its reader
set -euo pipefail
source "$(dirname "$0")/release_env.sh"
seeds=Fuzz/seeds
rm -rf "$seeds"
mkdir -p "$seeds/FuzzJSONL" "$seeds/FuzzVectorFiles" "$seeds/FuzzAdapterFiles"

data=notebooks-data
head -n 5 "$data/corpus-sample.jsonl" > "$seeds/FuzzJSONL/corpus.jsonl"
head -n 3 "$data/queries/reasoning.jsonl" > "$seeds/FuzzJSONL/queries.jsonl"
head -n 3 "$data/rl/train.jsonl" > "$seeds/FuzzJSONL/problems.jsonl"

# prefix BYTE FILE OUT: OUT = one byte (0-255) then FILE.
prefix() { { printf "\\$(printf '%03o' "$1")"; cat "$2"; } > "$3"; }

# Steering vectors for layers 1-2, exported to every format (the .bin is the run's own).
common=(--problems "$data/rl/train.jsonl" --steps 3 --prompts-per-step 4 --group 4 --max-new 40 --lr 0.01)
"$bin/steer" train "${common[@]}" --layers 1,2 --out "$w/vectors" >/dev/null 2>&1
prefix 0 "$w/vectors/vectors.bin" "$seeds/FuzzVectorFiles/vectors.bin"
for format in npy safetensors gguf; do
    "$bin/steer" export "$w/vectors" --format "$format" --out "$w/vectors.$format" >/dev/null
done
prefix 1 "$w/vectors.npy" "$seeds/FuzzVectorFiles/vectors.npy"
prefix 2 "$w/vectors.safetensors" "$seeds/FuzzVectorFiles/vectors.safetensors"
prefix 3 "$w/vectors.gguf" "$seeds/FuzzVectorFiles/vectors.gguf"
# An HDF5 file with the vectors as /vectors [L, d] (the model's depth and width).
python3 - "$w/vectors/vectors.bin" "$w/vectors.h5" <<'EOF' || echo "note: no h5py for the HDF5 seed" >&2
import sys, numpy as np, h5py
values = np.fromfile(sys.argv[1], dtype="<f4")
with h5py.File(sys.argv[2], "w") as f:
    f["vectors"] = values.reshape(4, -1)
EOF
mkdir -p "$seeds/FuzzResultFiles"
[ -f "$w/vectors.h5" ] && prefix 3 "$w/vectors.h5" "$seeds/FuzzResultFiles/vectors.h5"

# Adapters: LoRA rank 1 on q_proj, LoReFT rank 1 on one layer, and the LoRA as a PEFT directory.
"$bin/steer" train "${common[@]}" --method lora --rank 1 --targets q_proj --out "$w/lora" >/dev/null 2>&1
prefix 0 "$w/lora/adapter.safetensors" "$seeds/FuzzAdapterFiles/lora.safetensors"
"$bin/steer" train "${common[@]}" --method loreft --rank 1 --layers 1 --positions l1 --out "$w/reft" >/dev/null 2>&1
prefix 1 "$w/reft/reft.safetensors" "$seeds/FuzzAdapterFiles/loreft.safetensors"
"$bin/steer" export "$w/lora" --format peft --out "$w/peft" >/dev/null
{ printf '\002'; cat "$w/peft/adapter_config.json"; printf '\000'; cat "$w/peft/adapter_model.safetensors"; } \
    > "$seeds/FuzzAdapterFiles/peft-lora"

# Model directory files: config.json files, the sharded fixture's index, a tokenizer_config.json.
mkdir -p "$seeds/FuzzModelFiles"
for config in notebooks-data/model/config.json Tests/ModelTests/Fixtures/*/config.json; do
    prefix 0 "$config" "$seeds/FuzzModelFiles/config-$(basename "$(dirname "$config")").json"
done
prefix 1 Tests/ModelTests/Fixtures/llama_sharded/model.safetensors.index.json "$seeds/FuzzModelFiles/index.json"
printf '{"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "chat_template": "{{ messages }}"}' > "$w/tokenizer_config.json"
prefix 2 "$w/tokenizer_config.json" "$seeds/FuzzModelFiles/tokenizer_config.json"

# Result files: a score file (one query, four documents), prefixed with the byte that selects its
# reader. Factors and tuned lenses of the embedded model (a 256 × 256 matrix and up) are larger
# than the fuzzer's inputs (64 KB), so they have no seed.
head -n 4 "$data/corpus-sample.jsonl" > "$w/docs.jsonl"
head -n 1 "$data/queries/reasoning.jsonl" > "$w/q.jsonl"
"$bin/influence" score --queries "$w/q.jsonl" --docs "$w/docs.jsonl" --strategy identity \
    --out "$w/scores.h5" --max-length 16 >/dev/null 2>&1
prefix 0 "$w/scores.h5" "$seeds/FuzzResultFiles/scores.h5"
du -ab "$seeds" | sort -k2
