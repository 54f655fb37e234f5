#!/usr/bin/env bash
# Rebuilds the embedded default model in notebooks-data/ from scratch (about 25 minutes
# on 2 cores): corpus (seed 0) → tokenizer → pretraining → evaluation → copy.
# Interrupted? Run it again: pretraining resumes from out/pretrain/checkpoint.
# Every copy of the model stays in git history: re-train and re-commit rarely.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
swift build -c release --product workbench
wb=.build/release/workbench
[ -d out/corpus ] || $wb corpus --out out/corpus --seed 0
$wb pretrain --corpus out/corpus --out out/pretrain \
    --hidden 256 --layers 4 --heads 8 --kv-heads 2 --intermediate 704 \
    --steps 4000 --batch 16 --sequence-length 128 --lr 3e-3 --warmup 100 --seed 0 --checkpoint-every 100 \
    --repeat wiki=8 --repeat trivia=8
rm -rf notebooks-data/model notebooks-data/queries notebooks-data/rl
mkdir -p notebooks-data
cp -r out/pretrain/model notebooks-data/model
cp -r out/corpus/queries out/corpus/rl notebooks-data/
cp out/pretrain/training.h5 out/pretrain/evaluation.json notebooks-data/
head -n 200 out/corpus/corpus/shard-000.jsonl > notebooks-data/corpus-sample.jsonl
echo "notebooks-data/ updated"
