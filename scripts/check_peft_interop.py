#!/usr/bin/env python3
"""Checks adapters in both directions between the workbench and PEFT on the embedded model.

1. Workbench → PEFT: trains a LoRA (rank 2), a LoRA-XS and a TinyLoRA adapter (u 3, 2 neighbouring
   modules per v) with ``steer train --objective sft`` for a few steps, exports each with
   ``steer export --format peft`` and ``--format merged``, and compares the logits of
   ``workbench forward --adapter RUN`` with those of transformers + ``PeftModel.from_pretrained``
   and of transformers on the merged directory.
2. PEFT → workbench: makes a LoRA adapter (r 4, α 8, all linears, random A and B) and a
   TinyLoRA adapter (r 2, u 5, weight_tying 0.5, v uniform in ±0.02) with PEFT on the
   transformers model, saves them with ``save_pretrained``, and compares PEFT's logits with those
   of ``workbench forward --adapter PEFT_DIR``.

Tolerance: max |Δlogit| ≤ 1e-4 × max |logit| (float32 on both sides). Prints one line per check
and exits 1 if any fails.

Usage: python3 scripts/check_peft_interop.py [--bin .build/release] [--out out/peft-interop]
(torch, transformers, peft, h5py; the workbench built in release mode).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import h5py
import torch
from peft import LoraConfig, PeftModel, TinyLoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

import task_data  # noqa: E402  (scripts/task_data.py, beside this file)

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "notebooks-data" / "model"
TEXT = "Mira has 12 apples and finds 30 more. Then Mira gives 7 away. How many apples does Mira have now? 12 + 30 = 42."
TOLERANCE = 1e-4


def run(*args: str) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def workbench_logits(bin_dir: Path, out: Path, adapter: Path | None) -> tuple[torch.Tensor, list[int]]:
    h5 = out / f"forward-{adapter.name if adapter else 'base'}.h5"
    extra = ["--adapter", str(adapter)] if adapter else []
    run(str(bin_dir / "workbench"), "forward", "--text", TEXT, *extra, "--out", str(h5), "--no-residual")
    with h5py.File(h5, "r") as f:
        return torch.tensor(f["logits"][()]), [int(i) for i in f["input_ids"][()]]


def base_model():
    return AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32).eval()


def torch_logits(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float()


def compare(name: str, mine: torch.Tensor, theirs: torch.Tensor, base: torch.Tensor) -> bool:
    diff = (mine - theirs).abs().max().item()
    scale = theirs.abs().max().item()
    moved = (theirs - base).abs().max().item()
    ok = diff <= TOLERANCE * scale and moved > 10 * diff
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max |Δ| {diff:.2e} (≤ {TOLERANCE:.0e} × {scale:.1f}); the adapter moves logits by {moved:.2e}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / ".build" / "release"))
    parser.add_argument("--out", default=str(ROOT / "out" / "peft-interop"))
    args = parser.parse_args()
    bin_dir, out = Path(args.bin), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = out / "sft.jsonl"
    task_data.write_jsonl(records, task_data.word_sft_records())
    ok = True
    base = base_model()
    mine_base, ids = workbench_logits(bin_dir, out, None)
    base_logits = torch_logits(base, ids)
    ok &= compare("base model: workbench vs transformers", mine_base, base_logits, base_logits - 1)

    # 1. Workbench → PEFT.
    for method, extra in [("lora", ["--rank", "2"]), ("loraxs", []), ("tinylora", ["--u", "3", "--tie", "2"])]:
        run_dir = out / f"run-{method}"
        subprocess.run(["rm", "-rf", str(run_dir)], check=True)
        run(str(bin_dir / "steer"), "train", "--method", method, "--objective", "sft", "--problems", str(records),
            "--out", str(run_dir), "--steps", "4", "--prompts-per-step", "8", "--lr", "3e-2", *extra)
        mine, ids = workbench_logits(bin_dir, out, run_dir)
        peft_dir, merged_dir = out / f"{method}-peft", out / f"{method}-merged"
        run(str(bin_dir / "steer"), "export", str(run_dir), "--format", "peft", "--out", str(peft_dir))
        run(str(bin_dir / "steer"), "export", str(run_dir), "--format", "merged", "--out", str(merged_dir))
        peft_model = PeftModel.from_pretrained(base_model(), str(peft_dir)).eval()
        ok &= compare(f"{method}: workbench vs PEFT with the exported adapter", mine, torch_logits(peft_model, ids), base_logits)
        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
        ok &= compare(f"{method}: workbench vs transformers on the merged directory", mine, torch_logits(merged, ids), base_logits)

    # 2. PEFT → workbench.
    torch.manual_seed(0)
    configs = {
        "peft-lora": LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"),
        "peft-tinylora": TinyLoraConfig(r=2, u=5, weight_tying=0.5, target_modules="all-linear", init_weights="uniform"),
    }
    for name, config in configs.items():
        model = get_peft_model(base_model(), config)
        if name == "peft-lora":
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    torch.nn.init.normal_(p, std=0.02)
        model.eval()
        peft_dir = out / name
        model.save_pretrained(peft_dir)
        mine, ids = workbench_logits(bin_dir, out, peft_dir)
        ok &= compare(f"{name}: PEFT vs workbench with PEFT's adapter", mine, torch_logits(model, ids), base_logits)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
