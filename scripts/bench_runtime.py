#!/usr/bin/env python3
"""Compare the workbench runtime against PyTorch (fp32, CPU).

This is a benchmark, not a test. Which checkpoint:

* ``--model DIR`` measures the Hugging Face checkpoint in DIR exactly as it is:
  nothing is ever written there.
* Without it, a random Qwen2 checkpoint with the Qwen2.5-0.5B shape (hidden 896,
  intermediate 4864, 24 layers, 14 heads / 2 KV heads, vocab 151936, tied
  embeddings, q/k/v biases, float32) is built in a directory this script owns:
  ``--random-dir`` (default /tmp/qwen05b-random). It is (re)built only when that
  directory does not exist, is empty, or carries this script's marker file
  (written last, after a complete build) with other settings; a non-empty
  directory without the marker is refused, never overwritten.

Steps:

1. Check (``--model``) or build/reuse (``--random-dir``) the checkpoint.
2. Measure PyTorch in fresh subprocesses (one per measurement, so the peak RSS
   belongs to that measurement alone), using all CPU cores:
   * prefill: one forward over 1 x ``--prefill`` tokens (KV cache built, logits
     only for the last position), one warm-up, then ``--repeats`` timed runs;
   * sampling: ``generate`` on ``--batch`` rows x ``--prompt`` prompt tokens,
     ``--new`` new tokens each, do_sample=True, temperature 1.0, top_k 0
     (disabled), top_p 1.0, min_new_tokens = ``--new``; tokens/s = batch * new /
     wall time of the whole generate call (prompt prefill included). One
     warm-up, then ``--repeats`` runs.
   Prefill reports the best timed run (as ``workbench bench`` does), sampling
   the median; the other statistic is printed underneath the table.
3. Run ``workbench bench --model DIR --prefill P --batch B --prompt T --new N
   --repeats R --json`` and read the JSON object it prints.
4. Print a table with both sides and the workbench/PyTorch ratios.

torch and transformers are imported only where a measurement or a build needs
them, so checking arguments and directories works without them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

REPO_ROOT = Path(__file__).resolve().parent.parent
# The directory this script owns for its random checkpoint; the other benchmarks import this name.
DEFAULT_MODEL_DIR = Path("/tmp/qwen05b-random")
DEFAULT_WORKBENCH = REPO_ROOT / ".build" / "release" / "workbench"
# Written into a random checkpoint's directory after a complete build: its presence is what
# makes a directory this script's to rebuild. Never written anywhere else.
MARKER_NAME = ".bench-checkpoint.json"

PREFILL_TOKENS = 512
BATCH = 8
PROMPT_TOKENS = 16
NEW_TOKENS = 32
SEED = 1234


@dataclass(frozen=True)
class Shape:
    """The token counts of one run; the defaults are the documented benchmark."""

    prefill: int = PREFILL_TOKENS
    batch: int = BATCH
    prompt: int = PROMPT_TOKENS
    new: int = NEW_TOKENS

    def options(self) -> list[str]:
        """The same shape as command-line options (this script's and `workbench bench`'s)."""
        return ["--prefill", str(self.prefill), "--batch", str(self.batch),
                "--prompt", str(self.prompt), "--new", str(self.new)]

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


def fail(message: str) -> NoReturn:
    """Stop with one line on stderr and exit status 1, without a traceback."""
    raise SystemExit(f"error: {message}")


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        return rss / (1024 * 1024)
    return rss / 1024


# --------------------------------------------------------------------------
# Checkpoint
# --------------------------------------------------------------------------


def check_given_checkpoint(model_dir: Path) -> Path:
    """A checkpoint the user named: it is measured as it is and never written to."""
    if not model_dir.exists():
        fail(f"{model_dir}: no such directory")
    if not model_dir.is_dir():
        fail(f"{model_dir}: not a directory; a Hugging Face checkpoint directory is needed")
    if not (model_dir / "config.json").is_file():
        fail(f"{model_dir}: no config.json there, so not a Hugging Face checkpoint directory")
    return model_dir


def resolve_model(given: Path | None, random_dir: Path = DEFAULT_MODEL_DIR, advice: str | None = None) -> Path:
    """The checkpoint to measure: `given` as it is, else the random one in `random_dir`."""
    if given is not None:
        return check_given_checkpoint(given)
    ensure_checkpoint(random_dir, advice)
    return random_dir


def checkpoint_ready(model_dir: Path) -> bool:
    marker = model_dir / MARKER_NAME
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()) == json.loads(json.dumps(MARKER))
    except (OSError, json.JSONDecodeError):
        return False


def is_empty_dir(directory: Path) -> bool:
    return directory.is_dir() and next(directory.iterdir(), None) is None


def refuse_foreign_dir(directory: Path, advice: str | None = None) -> None:
    """Stop unless `directory` may hold a random checkpoint: it does not exist, is empty, or
    carries this script's marker (so this script created it)."""
    if not directory.exists() and not directory.is_symlink():
        return
    if directory.is_symlink() or not directory.is_dir():
        fail(f"{directory} exists and is not a directory this script created; choose another --random-dir")
    if (directory / MARKER_NAME).is_file() or is_empty_dir(directory):
        return
    advice = advice or f"pass --model {directory} to measure it as it is, or choose another --random-dir"
    fail(f"{directory} exists and was not created by this script; {advice}")


def build_checkpoint(model_dir: Path) -> None:
    """Runs in a child process (see --_build); `model_dir` is a fresh staging directory."""
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
    # Last, so that only a complete checkpoint carries it.
    (model_dir / MARKER_NAME).write_text(json.dumps(MARKER, indent=2, sort_keys=True) + "\n")


def ensure_checkpoint(random_dir: Path, advice: str | None = None) -> None:
    """Make sure `random_dir` holds the current random checkpoint, building it if needed.

    Only a directory this script owns is written (see refuse_foreign_dir); `advice` ends the
    refusal's line (the default names this script's options). The checkpoint is built in a
    staging directory beside it and moved into place when complete, so an interrupted build
    leaves `random_dir` as it was."""
    random_dir = Path(os.path.abspath(random_dir))  # "." has no name to stage beside; links kept
    if checkpoint_ready(random_dir):
        log(f"reusing checkpoint in {random_dir}")
        return
    refuse_foreign_dir(random_dir, advice)
    staging = random_dir.with_name(f".{random_dir.name}.building-{os.getpid()}")
    random_dir.parent.mkdir(parents=True, exist_ok=True)
    log(f"building random Qwen2.5-0.5B-shaped checkpoint in {random_dir} ...")
    start = time.perf_counter()
    build = subprocess.run([sys.executable, __file__, "--_build", str(staging)])
    if build.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        fail(f"{random_dir}: building the random checkpoint failed (status {build.returncode}; "
             "its error is above; it needs torch and transformers)")
    replace_owned_dir(random_dir, staging, advice)
    size = sum(p.stat().st_size for p in random_dir.iterdir() if p.is_file())
    log(f"  done in {time.perf_counter() - start:.1f} s ({size / 2**30:.2f} GiB)")


def replace_owned_dir(random_dir: Path, staging: Path, advice: str | None) -> None:
    """Move the finished `staging` to `random_dir`, dropping a stale checkpoint of ours there."""
    try:
        refuse_foreign_dir(random_dir, advice)  # again: it may have changed during the build
    except SystemExit:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if is_empty_dir(random_dir):
        random_dir.rmdir()
    elif random_dir.exists():
        shutil.rmtree(random_dir)  # carries our marker: a stale build of this script
    staging.rename(random_dir)


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


def measure_prefill(model_dir: Path, repeats: int, shape: Shape) -> dict[str, Any]:
    import torch

    model = load_torch_model(model_dir)
    gen = torch.Generator().manual_seed(SEED + 1)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (1, shape.prefill), generator=gen)
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
        "prefill_tokens_per_s": shape.prefill / min(times),
        "prefill_tokens_per_s_median": shape.prefill / statistics.median(times),
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
        "attn_implementation": model.config._attn_implementation,
    }


def measure_sampling(model_dir: Path, repeats: int, shape: Shape) -> dict[str, Any]:
    import torch

    model = load_torch_model(model_dir)
    gen = torch.Generator().manual_seed(SEED + 2)
    vocab = model.config.vocab_size
    prompt = torch.randint(0, vocab, (shape.batch, shape.prompt), generator=gen)
    mask = torch.ones_like(prompt)
    kwargs = dict(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=shape.new,
        min_new_tokens=shape.new,
        pad_token_id=model.config.eos_token_id,
    )

    def once(seed: int) -> float:
        torch.manual_seed(seed)
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(input_ids=prompt, attention_mask=mask, **kwargs)
        elapsed = time.perf_counter() - start
        new = out.shape[1] - shape.prompt
        if new != shape.new:
            raise RuntimeError(f"generate produced {new} new tokens, expected {shape.new}")
        return elapsed

    once(SEED)  # warm-up
    times = [once(SEED + 1 + i) for i in range(repeats)]
    total = shape.batch * shape.new
    return {
        "sample_times_s": times,
        "sample_tokens_per_s": total / statistics.median(times),
        "sample_tokens_per_s_best": total / min(times),
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
    }


def run_child(mode: str, model_dir: Path, repeats: int, shape: Shape) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--_measure", mode, "--model", str(model_dir), "--repeats", str(repeats),
           *shape.options()]
    log(f"pytorch: measuring {mode} ...")
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_torch(model_dir: Path, repeats: int, shape: Shape) -> dict[str, Any]:
    prefill = run_child("prefill", model_dir, repeats, shape)
    sample = run_child("sample", model_dir, repeats, shape)
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


def measure_workbench(binary: Path, model_dir: Path, repeats: int, shape: Shape) -> dict[str, Any] | None:
    if not binary.is_file() or not os.access(binary, os.X_OK):
        print(f"workbench binary not found at {binary}; reporting PyTorch numbers only.")
        return None
    cmd = [
        str(binary), "bench",
        "--model", str(model_dir),
        *shape.options(),
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


def print_table(torch_res: dict[str, Any] | None, wb_res: dict[str, Any] | None, shape: Shape) -> None:
    rows = [
        (f"prefill tokens/s (1×{shape.prefill})", "prefill_tokens_per_s"),
        (f"sampling tokens/s ({shape.batch}×{shape.new})", "sample_tokens_per_s"),
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


def print_floor(workbench: Path, model_dir: Path, shape: Shape, torch_res: dict[str, Any] | None,
                wb_res: dict[str, Any] | None) -> dict[str, Any] | None:
    """Prefill and sampling against their fp32 floors: the linear products they must do at the
    sgemm rate `workbench info` measures (scripts/fp32_floor.py; attention left out)."""
    import fp32_floor
    gflops = fp32_floor.sgemm_gflops(workbench)
    if not gflops or not wb_res:
        return None
    blocks, unembed = fp32_floor.linear_weights(model_dir)
    prefill_s = (2 * blocks * shape.prefill + 2 * unembed) / 1e9 / gflops
    sample_s = fp32_floor.sampling_gflop(model_dir, shape.batch, shape.prompt, shape.new) / gflops
    floor = {"sgemm_gflops": gflops, "prefill_tokens_per_s": shape.prefill / prefill_s,
             "sample_tokens_per_s": shape.batch * shape.new / sample_s}
    parts = []
    for key, label in (("prefill_tokens_per_s", "prefill"), ("sample_tokens_per_s", "sampling")):
        ours = wb_res.get(key)
        share = f", workbench at {100 * ours / floor[key]:.0f}% of it" if ours else ""
        theirs = torch_res.get(key) if torch_res else None
        best = f", best possible ratio {floor[key] / theirs:.2f}x" if theirs else ""
        parts.append(f"{label} {floor[key]:.1f} tokens/s{share}{best}")
    print(f"fp32 floor at {gflops:.1f} GFLOP/s (sgemm, workbench info; linear products only): " + "; ".join(parts))
    return floor


def torch_version() -> str:
    try:
        import importlib.metadata as md

        return md.version("torch")
    except Exception:  # pragma: no cover - informational only
        return "?"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="workbench vs PyTorch benchmark (fp32, CPU)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path, metavar="DIR",
                       help="Hugging Face checkpoint directory to measure as it is (never written to)")
    which.add_argument("--model-dir", dest="model_dir_alias", type=Path, metavar="DIR", help="deprecated alias of --model")
    which.add_argument("--random-dir", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR",
                       help=f"without --model: directory this script owns for its random Qwen2.5-0.5B-shaped "
                            f"checkpoint (default {DEFAULT_MODEL_DIR}); an existing one it did not create is refused")
    parser.add_argument("--prefill", type=positive_int, default=PREFILL_TOKENS, help=f"prefill tokens (default {PREFILL_TOKENS})")
    parser.add_argument("--batch", type=positive_int, default=BATCH, help=f"sampling rows (default {BATCH})")
    parser.add_argument("--prompt", type=positive_int, default=PROMPT_TOKENS, help=f"prompt tokens per row (default {PROMPT_TOKENS})")
    parser.add_argument("--new", type=positive_int, default=NEW_TOKENS, help=f"new tokens per row (default {NEW_TOKENS})")
    parser.add_argument("--workbench", type=Path, default=DEFAULT_WORKBENCH, help="path to the workbench binary")
    parser.add_argument("--skip-torch", action="store_true", help="do not measure PyTorch")
    parser.add_argument("--skip-swift", action="store_true", help="do not run workbench")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (after one warm-up); also passed to workbench")
    parser.add_argument("--json-out", type=Path, help="also write all results to this JSON file")
    parser.add_argument("--_build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_measure", choices=["prefill", "sample"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.model_dir_alias is not None:
        log("note: --model-dir is deprecated and now means --model: the checkpoint is measured as it is, never written")
        args.model = args.model_dir_alias
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shape = Shape(prefill=args.prefill, batch=args.batch, prompt=args.prompt, new=args.new)
    repeats = max(1, args.repeats)

    if args._build is not None:
        build_checkpoint(args._build)
        return 0
    if args._measure is not None:
        fn = measure_prefill if args._measure == "prefill" else measure_sampling
        print(json.dumps(fn(args.model, repeats, shape)))
        return 0

    model_dir = resolve_model(args.model, args.random_dir)
    torch_res = None if args.skip_torch else measure_torch(model_dir, repeats, shape)
    wb_res = None if args.skip_swift else measure_workbench(args.workbench, model_dir, repeats, shape)

    print_table(torch_res, wb_res, shape)
    floor = None if args.skip_swift else print_floor(args.workbench, model_dir, shape, torch_res, wb_res)
    if args.json_out:
        args.json_out.write_text(json.dumps(
            {"model_dir": str(model_dir), "shape": asdict(shape), "pytorch": torch_res, "workbench": wb_res, "floor": floor},
            indent=2) + "\n")
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
