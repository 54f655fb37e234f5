#!/usr/bin/env python3
"""One SFT epoch of LoReFT, `steer train` against pyreft (PyTorch fp32, CPU), same model, data and
settings, measured in the same run. A benchmark, not a test.

Settings on both sides: LoReFT rank 4 on the output of 4 blocks (0–3), positions f5+l5 untied
(8 interventions), the 400 word problems of notebooks-data/rl/train.jsonl with the corpus's
worked solutions as completions (cross-entropy on the completion tokens + end of sequence),
16 records per step (25 steps = one epoch), AdamW lr 1e-3 (0.9, 0.95), no weight decay, no
gradient clipping, one micro-batch per step.

pyreft: pyreft.get_reft_model with LoreftIntervention(dtype=float32), trained by a plain PyTorch
loop over the same batches (what pyreft's ReftTrainer computes per step, without the HF Trainer's
bookkeeping): intervened forward with unit_locations from pyreft's own get_intervention_locations,
the model's loss on labels masked to the completion, backward, AdamW step. torch.set_num_threads(2).
Batches are right-padded (pyreft's collator pads right); steer left-pads. Seconds per epoch are
the training steps only (model loading excluded on both sides: steer's from training.h5's
training_seconds).

pyreft pins transformers 4.45.1: run it with pyreft's environment (scripts/check_pyreft_interop.py
says how to make one):
    venv-reft/bin/python scripts/bench_reft.py [--steer .build/release/steer] [--model DIR] [--steps N]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fp32_floor  # noqa: E402  (scripts/fp32_floor.py: the products a benchmark must do)
import task_data  # noqa: E402  (scripts/task_data.py, beside this file)

ROOT = Path(__file__).resolve().parent.parent
LAYERS, RANK, FIRST, LAST, BATCH, LR = [0, 1, 2, 3], 4, 5, 5, 16, 1e-3


def run_steer(steer: Path, model: Path, data: Path, work: Path, steps: int) -> float:
    import h5py

    out = work / "steer-run"
    subprocess.run([str(steer), "train", "--method", "loreft", "--rank", str(RANK), "--layers", ",".join(map(str, LAYERS)),
                    "--positions", f"f{FIRST}+l{LAST}", "--objective", "sft", "--problems", str(data), "--out", str(out),
                    "--model", str(model), "--steps", str(steps), "--prompts-per-step", str(BATCH), "--micro-batch", str(BATCH),
                    "--lr", str(LR), "--clip", "0", "--checkpoint-every", "0", "--template", "raw"],
                   check=True, capture_output=True, text=True)
    with h5py.File(out / "training.h5", "r") as f:
        return float(f["training_seconds"][()].sum())


def run_pyreft(model_dir: Path, rows: list[dict], steps: int) -> float:
    import pyreft
    import torch
    from pyreft.dataset import get_intervention_locations
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    torch.set_num_threads(2)
    torch.manual_seed(0)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    eos = model.config.eos_token_id
    d = model.config.hidden_size
    layers = LAYERS + LAYERS   # untied: every layer's first-position intervention, then its last-position one
    config = pyreft.ReftConfig(representations=[
        {"layer": l, "component": "block_output", "low_rank_dimension": RANK,
         "intervention": pyreft.LoreftIntervention(embed_dim=d, low_rank_dimension=RANK, dtype=torch.float32)} for l in layers])
    reft = pyreft.get_reft_model(model, config)
    reft.set_device("cpu")
    optimizer = torch.optim.AdamW(reft.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.0)
    examples = []
    for r in rows:
        prompt = tok(r["prompt"])["input_ids"]
        completion = tok(r["completion"])["input_ids"] + [eos]
        examples.append((prompt, completion))
    elapsed = 0.0
    for step in range(steps):
        batch = [examples[(step * BATCH + i) % len(examples)] for i in range(BATCH)]
        T = max(len(p) + len(c) for p, c in batch)
        ids = torch.full((BATCH, T), eos, dtype=torch.long)
        mask = torch.zeros((BATCH, T), dtype=torch.long)
        labels = torch.full((BATCH, T), -100, dtype=torch.long)
        locations = []
        for b, (p, c) in enumerate(batch):
            seq = p + c
            ids[b, :len(seq)] = torch.tensor(seq)
            mask[b, :len(seq)] = 1
            labels[b, len(p):len(seq)] = torch.tensor(c)
            locations.append(get_intervention_locations(last_position=len(p), first_n=FIRST, last_n=LAST,
                                                        pad_mode="last", num_interventions=len(layers), share_weights=False))
        unit_locations = [[locations[b][i] for b in range(BATCH)] for i in range(len(layers))]
        t0 = time.perf_counter()
        _, out = reft({"input_ids": ids, "attention_mask": mask}, unit_locations={"sources->base": (None, unit_locations)},
                      labels=labels)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        elapsed += time.perf_counter() - t0
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steer", type=Path, default=ROOT / ".build" / "release" / "steer")
    ap.add_argument("--model", type=Path, default=ROOT / "notebooks-data" / "model")
    ap.add_argument("--steps", type=int, help="steps instead of one epoch (a quick check)")
    ap.add_argument("--skip-pyreft", action="store_true",
                    help="measure steer alone against the floor (where pyreft's environment is not at hand)")
    args = ap.parse_args()
    rows = task_data.word_sft_records()
    steps = args.steps or len(rows) // BATCH
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sft.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        theirs = None if args.skip_pyreft else run_pyreft(args.model, rows, steps)
        ours = run_steer(args.steer, args.model, data, Path(tmp), steps)
    print(f"model {args.model}: {steps} steps of {BATCH} records ({steps * BATCH / len(rows):.2f} epochs), LoReFT rank {RANK}, f{FIRST}+l{LAST} untied, blocks {LAYERS}")
    if theirs is None:
        print(f"steer {ours:8.2f} s (pyreft not measured)")
    else:
        print(f"pyreft {theirs:8.2f} s   steer {ours:8.2f} s   steer is {theirs / ours:.1f}x faster")
    print_floor(args, rows, steps, ours, theirs)


def print_floor(args: argparse.Namespace, rows: list[dict], steps: int, ours: float, theirs: float | None) -> None:
    """The epoch's fp32 floor: forward and backward to block 0 (the lowest intervened block) over
    every row, logits on the completion rows only (what steer computes), at the sgemm rate."""
    from transformers import PreTrainedTokenizerFast
    gflops = fp32_floor.sgemm_gflops(args.steer.parent / "workbench")
    if not gflops:
        print("(no sgemm rate from `workbench info`: floor not computed)")
        return
    tok = PreTrainedTokenizerFast(tokenizer_file=str(args.model / "tokenizer.json"))
    blocks, unembed = fp32_floor.linear_weights(args.model)
    all_rows = logit_rows = 0
    for step in range(steps):
        for i in range(BATCH):
            r = rows[(step * BATCH + i) % len(rows)]
            prompt, completion = len(tok(r["prompt"])["input_ids"]), len(tok(r["completion"])["input_ids"]) + 1
            all_rows += prompt + completion
            logit_rows += completion
    floor = 2 * (2 * blocks * all_rows + 2 * unembed * logit_rows) / 1e9 / gflops
    print(f"fp32 floor at {gflops:.1f} GFLOP/s (sgemm, workbench info): {floor:.2f} s ({all_rows:,} rows, logits on "
          f"{logit_rows:,}, forward and backward to the inputs); steer at {100 * floor / ours:.0f}% of it"
          + (f"; pyreft / floor = {theirs / floor:.1f}x, the best ratio an fp32 implementation could show" if theirs else ""))


if __name__ == "__main__":
    sys.exit(main())
