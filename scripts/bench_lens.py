#!/usr/bin/env python3
"""Benchmark ``lens run`` against a PyTorch logit lens (fp32, CPU).

This is a benchmark, not a test. It uses the random Qwen2.5-0.5B-shaped
checkpoint that ``scripts/bench_runtime.py`` builds (24 layers, hidden 896,
vocab 151936; built in its directory when missing), or the checkpoint --model-dir
names (measured as it is, never written to), and a prompt of --tokens seeded
random token ids.

PyTorch side (a fresh subprocess, all CPU cores): one forward of the base
model with forward hooks that keep the embedding output and every decoder
block's output (L + 1 residual sites, before the final norm). The lens then
walks the positions in chunks; for each chunk the final norm and ``lm_head``
run as one batched matmul over all sites x chunk positions, followed by a
log-softmax, and only the top-5 ids/probabilities, the entropy and
KL(final || site) are kept (never the full [L+1, T, V] tensor). Forward + lens
are timed together (model loading excluded): one warm-up, then --repeats
runs, best time reported.

Workbench side: ``lens run --model DIR --ids ... --top-k 5 --out FILE --json``
run --repeats + 1 times (the first is a warm-up), each in its own process;
the best ``seconds.total`` (which excludes model loading) is reported.

Each measurement runs in its own child process and its peak RSS is read from
``os.wait4``'s rusage, so the two sides' numbers do not mix. As a correctness
spot-check the top-1 id at the last position of every site is compared
between PyTorch and ``/top_ids`` ([1, L+1, T, k]) in the workbench's HDF5
output.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCRIPTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS_DIR))

from bench_runtime import (  # noqa: E402
    DEFAULT_MODEL_DIR, QWEN05B_CONFIG, last_json_object, load_torch_model, log, resolve_model,
)

REPO_ROOT = SCRIPTS_DIR.parent
DEFAULT_LENS = REPO_ROOT / ".build" / "release" / "lens"
DEFAULT_H5 = Path("/tmp/bench-lens.h5")
TOP_K = 5
TOKENS = 512
SEED = 4321
VOCAB = QWEN05B_CONFIG["vocab_size"]
CHUNK = 8  # positions per lens chunk: (L + 1) * CHUNK rows per matmul


def prompt_ids(count: int) -> list[int]:
    """The seeded prompt both sides run on."""
    rng = random.Random(SEED)
    return [rng.randrange(VOCAB) for _ in range(count)]


# --------------------------------------------------------------------------
# Child processes with their own peak RSS
# --------------------------------------------------------------------------


def run_measured(cmd: list[str]) -> tuple[int, str, float]:
    """Run cmd, return (exit code, stdout, peak RSS MiB of that child)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return proc.returncode, stdout, rss


def capture_sites(model, ids):
    """Forward of the base model; returns [L+1, T, d] residual sites."""
    sites = []

    def keep_input(_module, args):
        sites.append(args[0][0])

    def keep_output(_module, _args, out):
        hidden = out[0] if isinstance(out, tuple) else out  # [1, T, d]
        sites.append(hidden[0])

    hooks = [model.model.layers[0].register_forward_pre_hook(keep_input)]
    hooks += [layer.register_forward_hook(keep_output) for layer in model.model.layers]
    try:
        model.model(input_ids=ids, use_cache=False)
    finally:
        for hook in hooks:
            hook.remove()
    return sites


def lens_chunk(model, sites, k: int):
    """sites [S, C, d] -> top ids/probs [S, C, k], entropy and KL [S, C]."""
    import torch

    S, C, d = sites.shape
    logits = model.lm_head(model.model.norm(sites.reshape(S * C, d))).view(S, C, -1)
    logprobs = torch.log_softmax(logits, dim=-1)
    del logits
    top_lp, top_ids = logprobs.topk(k, dim=-1)
    probs = logprobs.exp()
    entropy = -(probs * logprobs).sum(-1)
    final_lp, final_p = logprobs[-1:], probs[-1:]
    kl = (final_p * (final_lp - logprobs)).sum(-1)
    return top_ids, top_lp.exp(), entropy, kl


def torch_lens(model, ids, k: int, chunk: int) -> dict[str, Any]:
    """Forward + lens; returns the kept results and the two phase times."""
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        sites = torch.stack(capture_sites(model, ids))  # [L+1, T, d]
        forward_s = time.perf_counter() - start
        parts = [lens_chunk(model, sites[:, c : c + chunk], k) for c in range(0, sites.shape[1], chunk)]
        top_ids, top_probs, entropy, kl = (torch.cat(p, dim=1) for p in zip(*parts))
    total_s = time.perf_counter() - start
    return {
        "top_ids": top_ids, "top_probs": top_probs, "entropy": entropy, "kl": kl,
        "forward": forward_s, "lens": total_s - forward_s, "total": total_s,
    }


def measure_torch(model_dir: Path, tokens: int, repeats: int, chunk: int) -> dict[str, Any]:
    import torch

    model = load_torch_model(model_dir)  # fp32, torch.set_num_threads(os.cpu_count())
    if model.config.vocab_size != VOCAB:
        raise RuntimeError(f"expected vocab {VOCAB}, checkpoint has {model.config.vocab_size}")
    ids = torch.tensor([prompt_ids(tokens)], dtype=torch.long)
    torch_lens(model, ids, TOP_K, chunk)  # warm-up
    runs = [torch_lens(model, ids, TOP_K, chunk) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["total"])
    return {
        "seconds": {key: best[key] for key in ("forward", "lens", "total")},
        "totals": [r["total"] for r in runs],
        "top1": best["top_ids"][:, :, 0].tolist(),  # [L+1][T]
        "kl_final_max": best["kl"][-1].abs().max().item(),
        "threads": torch.get_num_threads(),
        "attn_implementation": model.config._attn_implementation,
        "torch": torch.__version__,
    }


def run_torch(model_dir: Path, tokens: int, repeats: int, chunk: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--_torch", "--model-dir", str(model_dir),
           "--tokens", str(tokens), "--repeats", str(repeats), "--chunk", str(chunk)]
    log("pytorch: forward + lens ...")
    rc, stdout, rss = run_measured(cmd)
    result = last_json_object(stdout) if rc == 0 else None
    if result is None:
        raise RuntimeError(f"PyTorch child failed (exit {rc})")
    result["peak_rss_mib"] = rss
    return result


# --------------------------------------------------------------------------
# Workbench
# --------------------------------------------------------------------------


def run_workbench(binary: Path, model_dir: Path, tokens: int, repeats: int, h5: Path) -> dict[str, Any] | None:
    if not binary.is_file() or not os.access(binary, os.X_OK):
        print(f"lens binary not found at {binary}; reporting PyTorch numbers only.")
        return None
    ids = ",".join(str(i) for i in prompt_ids(tokens))
    cmd = [str(binary), "run", "--model", str(model_dir), "--ids", ids,
           "--top-k", str(TOP_K), "--out", str(h5), "--json"]
    log(f"workbench: {binary} run --model {model_dir} --ids <{tokens} ids> --top-k {TOP_K} --out {h5} --json")
    runs, peak = [], 0.0
    for i in range(repeats + 1):
        rc, stdout, rss = run_measured(cmd)
        result = last_json_object(stdout) if rc == 0 else None
        if result is None or not isinstance(result.get("seconds"), dict):
            print(f"lens run failed (exit {rc}) or printed no seconds object; reporting PyTorch numbers only.")
            return None
        peak = max(peak, rss)
        if i > 0:  # the first run is a warm-up
            runs.append(result["seconds"])
    best = min(runs, key=lambda s: s["total"])
    return {"seconds": best, "totals": [s["total"] for s in runs], "peak_rss_mib": peak}


def workbench_top1(h5: Path) -> list[list[int]]:
    import h5py

    with h5py.File(h5, "r") as f:
        return f["top_ids"][0, :, :, 0].tolist()  # [L+1][T]


def spot_check(torch_top1: list[list[int]], wb_top1: list[list[int]]) -> None:
    last = [(t[-1], w[-1]) for t, w in zip(torch_top1, wb_top1)]
    agree = sum(t == w for t, w in last)
    print(f"top-1 at the last position: {agree}/{len(last)} sites agree")
    if agree < len(last):
        print("  disagreeing sites (site: pytorch vs workbench): "
              + ", ".join(f"{s}: {t} vs {w}" for s, (t, w) in enumerate(last) if t != w))
    cells = [(t, w) for rt, rw in zip(torch_top1, wb_top1) for t, w in zip(rt, rw)]
    print(f"top-1 over all sites and positions: {sum(t == w for t, w in cells)}/{len(cells)} agree")


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(torch_res: dict[str, Any], wb_res: dict[str, Any] | None, tokens: int) -> None:
    rows = [(f"{key} s", torch_res["seconds"][key], wb_res["seconds"].get(key) if wb_res else None, 3)
            for key in ("forward", "lens", "total")]
    rows.append(("peak RSS MiB", torch_res["peak_rss_mib"], wb_res["peak_rss_mib"] if wb_res else None, 0))
    table = [("metric", "PyTorch", "workbench", "ratio")]
    for label, t, w, digits in rows:
        ratio = f"{t / w:.2f}x" if t is not None and w else "-"
        table.append((label, fmt(t, digits), fmt(w, digits), ratio))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    print(f"\nlogit lens over 1 x {tokens} tokens, top-{TOP_K}, all {len(torch_res['top1'])} sites (best of runs)")
    for i, row in enumerate(table):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(row)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("ratio = PyTorch / workbench (time: the workbench speed-up; RSS: >1 means the workbench uses less memory)")
    print(f"PyTorch {torch_res['torch']}: fp32, {torch_res['threads']} threads, attention="
          f"{torch_res['attn_implementation']}; totals {[round(t, 3) for t in torch_res['totals']]}")
    if wb_res:
        print(f"workbench totals {[round(t, 3) for t in wb_res['totals']]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="lens run vs a PyTorch logit lens (Qwen2.5-0.5B shape, random weights)")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help=f"checkpoint directory, measured as it is (default: the random checkpoint in "
                             f"{DEFAULT_MODEL_DIR}, built there if missing)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side after one warm-up (default 3)")
    parser.add_argument("--workbench-lens", type=Path, default=DEFAULT_LENS, help=f"lens binary (default {DEFAULT_LENS})")
    parser.add_argument("--tokens", type=int, default=TOKENS, help=f"prompt length (default {TOKENS})")
    parser.add_argument("--chunk", type=int, default=CHUNK, help=f"PyTorch lens positions per chunk (default {CHUNK})")
    parser.add_argument("--h5", type=Path, default=DEFAULT_H5, help=f"workbench output file (default {DEFAULT_H5})")
    parser.add_argument("--torch-only", action="store_true", help="measure PyTorch only")
    parser.add_argument("--json-out", type=Path, help="also write all results to this JSON file")
    parser.add_argument("--_torch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeats = max(1, args.repeats)

    if args._torch:
        print(json.dumps(measure_torch(args.model_dir, args.tokens, repeats, args.chunk)))
        return 0

    model_dir = resolve_model(args.model_dir, advice=f"pass --model-dir {DEFAULT_MODEL_DIR} to measure it as it is")
    torch_res = run_torch(model_dir, args.tokens, repeats, args.chunk)
    wb_res = None if args.torch_only else run_workbench(args.workbench_lens, model_dir, args.tokens, repeats, args.h5)

    print_table(torch_res, wb_res, args.tokens)
    if wb_res:
        spot_check(torch_res["top1"], workbench_top1(args.h5))
    if args.json_out:
        args.json_out.write_text(json.dumps({"tokens": args.tokens, "pytorch": torch_res, "workbench": wb_res}) + "\n")
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
