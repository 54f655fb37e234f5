#!/usr/bin/env python3
"""Training throughput, workbench vs PyTorch fp32, on the Qwen2.5-0.5B-shaped random
checkpoint of bench_runtime.py (built in its directory if missing), or on the checkpoint
--model-dir names, which is measured as it is and never written to. A benchmark, not a test.

One step = forward + backward + AdamW on 4 sequences x 128 random tokens (all
weights trainable, summed-token mean cross-entropy). Each side: one warm-up step
(allocates the optimizer state), then --steps timed steps; the median step time
gives tokens/s. Peak RSS per process. PyTorch runs in a child process with
torch.set_num_threads(os.cpu_count()).

    swift build -c release && python3 scripts/bench_training.py
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_runtime  # noqa: E402  (checkpoint creation)

BATCH, LENGTH = 4, 128


def torch_training(model_dir: Path, steps: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=0.1)
    vocab = model.config.vocab_size
    times = []
    for i in range(steps + 1):
        ids = torch.randint(0, vocab, (BATCH, LENGTH))
        t0 = time.perf_counter()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i > 0:
            times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    return {"train_tokens_per_s": BATCH * LENGTH / step, "train_step_s": step,
            "peak_rss_mib": bench_runtime.peak_rss_mib()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=None,
                    help=f"checkpoint directory, measured as it is (default: the random checkpoint in "
                         f"{bench_runtime.DEFAULT_MODEL_DIR}, built there if missing)")
    ap.add_argument("--workbench", type=Path, default=bench_runtime.DEFAULT_WORKBENCH)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print(json.dumps(torch_training(args.model_dir, args.steps)))
        return 0
    model_dir = bench_runtime.resolve_model(args.model_dir, advice=f"pass --model-dir {bench_runtime.DEFAULT_MODEL_DIR} to measure it as it is")
    print("pytorch: training ...", flush=True)
    child = subprocess.run([sys.executable, __file__, "--_child", "--model-dir", str(model_dir), "--steps", str(args.steps)],
                           check=True, capture_output=True, text=True)
    torch_res = bench_runtime.last_json_object(child.stdout)
    print("workbench: training ...", flush=True)
    wb = subprocess.run([str(args.workbench), "bench", "--model", str(model_dir), "--train", "--train-batch", str(BATCH),
                         "--train-length", str(LENGTH), "--train-steps", str(args.steps), "--json"],
                        check=True, capture_output=True, text=True)
    wb_res = bench_runtime.last_json_object(wb.stdout)
    print(f"\n{'metric':<34}{'PyTorch':>10}{'workbench':>11}{'ratio':>8}")
    for key, label in [("train_tokens_per_s", f"training tokens/s ({BATCH}x{LENGTH})"), ("peak_rss_mib", "peak RSS MiB")]:
        a, b = torch_res[key], wb_res[key]
        print(f"{label:<34}{a:>10.1f}{b:>11.1f}{b / a:>7.2f}x")
    print(f"step time: PyTorch {torch_res['train_step_s']:.2f} s, workbench {wb_res['train_step_s']:.2f} s; BLAS core {wb_res['blas_core']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
