#!/usr/bin/env python3
"""Compare the workbench runtime against PyTorch (fp32, CPU) on a
Qwen2.5-0.5B-shaped checkpoint with random weights.

This is a benchmark, not a test. Steps:

1. Build (or reuse) a random Qwen2 checkpoint with the Qwen2.5-0.5B shape
   (hidden 896, intermediate 4864, 24 layers, 14 heads / 2 KV heads, vocab
   151936, tied embeddings, q/k/v biases) stored as float32.
2. Measure PyTorch in fresh subprocesses (one per measurement, so the peak RSS
   belongs to that measurement alone), using all CPU cores:
   * prefill: one forward over 1 x 512 tokens (KV cache built, logits only for
     the last position), one warm-up, then ``--repeats`` timed runs;
   * sampling: ``generate`` on 8 rows x 16 prompt tokens, 32 new tokens each,
     do_sample=True, temperature 1.0, top_k 0 (disabled), top_p 1.0,
     min_new_tokens 32; tokens/s = 8 * 32 / wall time of the whole generate
     call (prompt prefill included). One warm-up, then ``--repeats`` runs.
   Prefill reports the best timed run (as ``workbench bench`` does), sampling
   the median; the other statistic is printed underneath the table.
3. Run ``workbench bench --model DIR --prefill 512 --batch 8 --prompt 16
   --new 32 --repeats N --json`` and read the JSON object it prints.
4. Print a table with both sides and the workbench/PyTorch ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = Path("/tmp/qwen05b-random")
DEFAULT_WORKBENCH = REPO_ROOT / ".build" / "release" / "workbench"
MARKER_NAME = ".bench-checkpoint.json"

PREFILL_TOKENS = 512
BATCH = 8
PROMPT_TOKENS = 16
NEW_TOKENS = 32
SEED = 1234

# Qwen2.5-0.5B geometry; the values the runtime reads come from config.json.
QWEN05B_CONFIG: dict[str, Any] = dict(
    vocab_size=151936,
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
    bos_token_id=151643,
    eos_token_id=151643,
    use_sliding_window=False,
    max_window_layers=24,
    rope_parameters=dict(rope_type="default", rope_theta=1000000.0),
)
WEIGHT_STD = 0.02
MARKER = {"shape": QWEN05B_CONFIG, "weight_std": WEIGHT_STD, "seed": SEED, "storage": "float32"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        return rss / (1024 * 1024)
    return rss / 1024


# --------------------------------------------------------------------------
# Checkpoint
# --------------------------------------------------------------------------


def checkpoint_ready(model_dir: Path) -> bool:
    marker = model_dir / MARKER_NAME
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()) == json.loads(json.dumps(MARKER))
    except (OSError, json.JSONDecodeError):
        return False


def build_checkpoint(model_dir: Path) -> None:
    """Runs in a child process (see --_build)."""
    import torch
    import transformers
    from transformers import Qwen2Config, Qwen2ForCausalLM

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(os.cpu_count() or 1)

    config = Qwen2Config(**QWEN05B_CONFIG, initializer_range=WEIGHT_STD)
    config.architectures = ["Qwen2ForCausalLM"]
    model = Qwen2ForCausalLM(config).eval()
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if "norm" in name:
                param.fill_(1.0)
            else:
                param.normal_(0.0, WEIGHT_STD, generator=gen)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(model_dir)
    (model_dir / MARKER_NAME).write_text(json.dumps(MARKER, indent=2, sort_keys=True) + "\n")


def ensure_checkpoint(model_dir: Path) -> None:
    if checkpoint_ready(model_dir):
        log(f"reusing checkpoint in {model_dir}")
        return
    marker = model_dir / MARKER_NAME
    if marker.exists():
        marker.unlink()
    log(f"building random Qwen2.5-0.5B-shaped checkpoint in {model_dir} ...")
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--_build", str(model_dir)], check=True)
    size = sum(p.stat().st_size for p in model_dir.iterdir() if p.is_file())
    log(f"  done in {time.perf_counter() - start:.1f} s ({size / 2**30:.2f} GiB)")


# --------------------------------------------------------------------------
# PyTorch measurements (child processes)
# --------------------------------------------------------------------------


def load_torch_model(model_dir: Path):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(os.cpu_count() or 1)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return model


def measure_prefill(model_dir: Path, repeats: int) -> dict[str, Any]:
    import torch

    model = load_torch_model(model_dir)
    gen = torch.Generator().manual_seed(SEED + 1)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (1, PREFILL_TOKENS), generator=gen)
    mask = torch.ones_like(ids)

    def once() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            out = model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1)
            out.logits.sum().item()
        return time.perf_counter() - start

    once()  # warm-up
    times = [once() for _ in range(repeats)]
    return {
        "prefill_times_s": times,
        "prefill_tokens_per_s": PREFILL_TOKENS / min(times),
        "prefill_tokens_per_s_median": PREFILL_TOKENS / statistics.median(times),
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
        "attn_implementation": model.config._attn_implementation,
    }


def measure_sampling(model_dir: Path, repeats: int) -> dict[str, Any]:
    import torch

    model = load_torch_model(model_dir)
    gen = torch.Generator().manual_seed(SEED + 2)
    vocab = model.config.vocab_size
    prompt = torch.randint(0, vocab, (BATCH, PROMPT_TOKENS), generator=gen)
    mask = torch.ones_like(prompt)
    kwargs = dict(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=NEW_TOKENS,
        min_new_tokens=NEW_TOKENS,
        pad_token_id=model.config.eos_token_id,
    )

    def once(seed: int) -> float:
        torch.manual_seed(seed)
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=prompt, attention_mask=mask, **kwargs)
        elapsed = time.perf_counter() - start
        new = out.shape[1] - PROMPT_TOKENS
        if new != NEW_TOKENS:
            raise RuntimeError(f"generate produced {new} new tokens, expected {NEW_TOKENS}")
        return elapsed

    once(SEED)  # warm-up
    times = [once(SEED + 1 + i) for i in range(repeats)]
    total = BATCH * NEW_TOKENS
    return {
        "sample_times_s": times,
        "sample_tokens_per_s": total / statistics.median(times),
        "sample_tokens_per_s_best": total / min(times),
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
    }


def run_child(mode: str, model_dir: Path, repeats: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--_measure", mode, "--model-dir", str(model_dir), "--repeats", str(repeats)]
    log(f"pytorch: measuring {mode} ...")
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_torch(model_dir: Path, repeats: int) -> dict[str, Any]:
    prefill = run_child("prefill", model_dir, repeats)
    sample = run_child("sample", model_dir, repeats)
    return {
        "prefill_tokens_per_s": prefill["prefill_tokens_per_s"],
        "prefill_tokens_per_s_median": prefill["prefill_tokens_per_s_median"],
        "prefill_times_s": prefill["prefill_times_s"],
        "prefill_peak_rss_mib": prefill["peak_rss_mib"],
        "sample_tokens_per_s": sample["sample_tokens_per_s"],
        "sample_tokens_per_s_best": sample["sample_tokens_per_s_best"],
        "sample_times_s": sample["sample_times_s"],
        "sample_peak_rss_mib": sample["peak_rss_mib"],
        "peak_rss_mib": max(prefill["peak_rss_mib"], sample["peak_rss_mib"]),
        "threads": prefill["threads"],
        "attn_implementation": prefill["attn_implementation"],
    }


# --------------------------------------------------------------------------
# workbench
# --------------------------------------------------------------------------


def measure_workbench(binary: Path, model_dir: Path, repeats: int) -> dict[str, Any] | None:
    if not binary.is_file() or not os.access(binary, os.X_OK):
        print(f"workbench binary not found at {binary}; reporting PyTorch numbers only.")
        return None
    cmd = [
        str(binary), "bench",
        "--model", str(model_dir),
        "--prefill", str(PREFILL_TOKENS),
        "--batch", str(BATCH),
        "--prompt", str(PROMPT_TOKENS),
        "--new", str(NEW_TOKENS),
        "--repeats", str(repeats),
        "--json",
    ]
    log("workbench: " + " ".join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        print(f"workbench exited with status {proc.returncode}; reporting PyTorch numbers only.")
        return None
    result = last_json_object(proc.stdout)
    if result is None:
        print("could not parse workbench output as JSON:\n" + proc.stdout)
    return result


def last_json_object(stdout: str) -> dict[str, Any] | None:
    """The last line of `stdout` that parses as a JSON object, else the whole text, else None."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        return None


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def print_table(torch_res: dict[str, Any] | None, wb_res: dict[str, Any] | None) -> None:
    rows = [
        (f"prefill tokens/s (1x{PREFILL_TOKENS})", "prefill_tokens_per_s"),
        (f"sample tokens/s ({BATCH}x{NEW_TOKENS})", "sample_tokens_per_s"),
        ("peak RSS MiB", "peak_rss_mib"),
    ]
    header = ("metric", "PyTorch", "workbench", "ratio")
    table = [header]
    for label, key in rows:
        t = torch_res.get(key) if torch_res else None
        w = wb_res.get(key) if wb_res else None
        ratio = f"{w / t:.2f}x" if isinstance(t, (int, float)) and isinstance(w, (int, float)) and t else "-"
        table.append((label, fmt(t), fmt(w), ratio))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    print()
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(widths[j]) if j == 0 else cell.rjust(widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("ratio = workbench / PyTorch (speed: >1 means workbench is faster; RSS: <1 means it uses less memory)")
    if torch_res:
        print(
            f"PyTorch {torch_version()}: fp32, {torch_res['threads']} threads, "
            f"attention={torch_res['attn_implementation']}; prefill best of runs "
            f"(median {fmt(torch_res['prefill_tokens_per_s_median'])}), sample median of runs "
            f"(best {fmt(torch_res['sample_tokens_per_s_best'])}) tokens/s; "
            f"peak RSS prefill {fmt(torch_res['prefill_peak_rss_mib'])} MiB, "
            f"sample {fmt(torch_res['sample_peak_rss_mib'])} MiB"
        )
    if wb_res and "blas_core" in wb_res:
        print(f"workbench blas_core: {wb_res['blas_core']}")


def torch_version() -> str:
    try:
        import importlib.metadata as md

        return md.version("torch")
    except Exception:  # pragma: no cover - informational only
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="workbench vs PyTorch benchmark (Qwen2.5-0.5B shape, random weights)")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help=f"checkpoint directory (default {DEFAULT_MODEL_DIR})")
    parser.add_argument("--workbench", type=Path, default=DEFAULT_WORKBENCH, help="path to the workbench binary")
    parser.add_argument("--skip-torch", action="store_true", help="do not measure PyTorch")
    parser.add_argument("--skip-swift", action="store_true", help="do not run workbench")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (after one warm-up); also passed to workbench")
    parser.add_argument("--json-out", type=Path, help="also write all results to this JSON file")
    parser.add_argument("--_build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_measure", choices=["prefill", "sample"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._build is not None:
        build_checkpoint(args._build)
        return 0
    if args._measure is not None:
        fn = measure_prefill if args._measure == "prefill" else measure_sampling
        print(json.dumps(fn(args.model_dir, max(1, args.repeats))))
        return 0

    model_dir: Path = args.model_dir
    ensure_checkpoint(model_dir)

    torch_res = None if args.skip_torch else measure_torch(model_dir, max(1, args.repeats))
    wb_res = None if args.skip_swift else measure_workbench(args.workbench, model_dir, max(1, args.repeats))

    print_table(torch_res, wb_res)
    if args.json_out:
        args.json_out.write_text(
            json.dumps({"model_dir": str(model_dir), "pytorch": torch_res, "workbench": wb_res}, indent=2) + "\n"
        )
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
