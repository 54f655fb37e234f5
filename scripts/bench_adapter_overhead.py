#!/usr/bin/env python3
"""What a TinyLoRA adapter costs at inference: `workbench bench` with and without `--adapter`,
on the same model, alternating runs, in the same invocation. A benchmark, not a test.

The adapter: PEFT's TinyLoRA (r 2, u 13, one v for the whole model, every linear of every
block, v uniform in ±0.02) made on the transformers model and saved with save_pretrained; the
workbench reads it as any PEFT directory. Prefill and sampling tokens/s are medians over
--repeats alternating pairs; the overhead is 1 − adapted / frozen.

    python3 scripts/bench_adapter_overhead.py [--qwen05b] [--repeats 3]

--qwen05b uses the Qwen2.5-0.5B-shaped random checkpoint of bench_runtime.py (built there if
missing); the default is the embedded model.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_runtime  # noqa: E402

ROOT = bench_runtime.REPO_ROOT


def make_adapter(model_dir: Path, out: Path) -> None:
    import torch
    from peft import TinyLoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = TinyLoraConfig(r=2, u=13, weight_tying=1.0, target_modules="all-linear", init_weights="uniform")
    get_peft_model(model, config).save_pretrained(out)


def bench(workbench: Path, model_dir: Path, adapter: Path | None, args: list[str]) -> dict:
    cmd = [str(workbench), "bench", "--model", str(model_dir), "--json", *args] + (["--adapter", str(adapter)] if adapter else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--qwen05b", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workbench", type=Path, default=ROOT / ".build" / "release" / "workbench")
    args = ap.parse_args()
    if args.qwen05b:
        model_dir = bench_runtime.DEFAULT_MODEL_DIR
        bench_runtime.ensure_checkpoint(model_dir, advice="move it away; this benchmark builds its random checkpoint there")
        shape = ["--prefill", "256", "--batch", "8", "--prompt", "16", "--new", "32", "--repeats", "2"]
    else:
        model_dir = ROOT / "notebooks-data" / "model"
        shape = ["--prefill", "512", "--batch", "8", "--prompt", "16", "--new", "64", "--repeats", "3"]
    with tempfile.TemporaryDirectory() as tmp:
        adapter = Path(tmp) / "tinylora"
        make_adapter(model_dir, adapter)
        runs: dict[str, list[dict]] = {"frozen": [], "tinylora": []}
        for _ in range(args.repeats):
            runs["frozen"].append(bench(args.workbench, model_dir, None, shape))
            runs["tinylora"].append(bench(args.workbench, model_dir, adapter, shape))
    print(f"model {model_dir}, workbench bench {' '.join(shape)}, medians of {args.repeats}")
    for key, label in [("prefill_tokens_per_s", "prefill tokens/s"), ("sample_tokens_per_s", "sampling tokens/s")]:
        frozen = statistics.median(r[key] for r in runs["frozen"])
        adapted = statistics.median(r[key] for r in runs["tinylora"])
        print(f"{label:18s} frozen {frozen:9.1f}   TinyLoRA {adapted:9.1f}   overhead {100 * (1 - adapted / frozen):+.1f}%")


if __name__ == "__main__":
    main()
