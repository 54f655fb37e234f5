#!/usr/bin/env python3
"""One RL step, `steer train` vs TRL's GRPOTrainer (PyTorch fp32, CPU), same model, same
settings, measured in the same run. A benchmark, not a test.

Settings on both sides: 16 prompts per step x 8 samples, up to 48 new tokens, temperature 1,
top-p 1 (no top-k), objective "dapo" with scaling "none" (A = r - mean of the group; loss summed
over completion tokens / completion tokens in the step), beta 0, one iteration, gradient-norm
clip 2, AdamW (0.9, 0.95), no weight decay, micro-batches of 16 sequences. Reward +1 when the
last \\boxed{N} of the completion equals the problem's answer, else -1. Prompts are the raw
"prompt" text of the first 16 x --steps problems of notebooks-data/rl/train.jsonl (no chat
template), so that every step sees fresh prompts. --steps (default 2) steps are run on each
side; the first is a warm-up, the second (the median of the others) is reported.

Three comparisons:
  full     every weight trained (lr 1e-6): `steer train --method full` vs GRPOTrainer on the model;
  vectors  steering vectors (lr 1e-3): `steer train --method vectors` (one vector per block,
           all blocks) vs GRPOTrainer training only a zero-initialised bias Parameter added to
           every mlp.down_proj with everything else frozen (what the published steering code
           does; the down_proj output is the last term added to the block's residual, so the
           bias is the same parameterisation as a vector added to the block's output);
  lora     LoRA rank 1, alpha 2, on every linear of every block (lr 1e-4): `steer train --method lora`
           vs GRPOTrainer with peft_config=LoraConfig(r=1, lora_alpha=2, target_modules="all-linear").

Ours: rollout and training seconds, completion lengths and training tokens come from the run's
training.h5. TRL: a TrainerCallback times each optimizer step (on_step_begin .. on_step_end);
a GRPOTrainer subclass times _generate_and_score_completions (generation, decoding, rewards,
advantages: the rollout) and _generate (generation alone); training = step - rollout. Training
tokens = prompt + completion tokens of the step (padding excluded) on both sides. Each side runs
in its own process. Peak RSS, whole process: wait4's. Peak RSS, steps: steer's RSS sampled every
0.1 s until it reports its last step; after that it writes checkpoint.safetensors (parameters +
AdamW moments) and, for full, the model, which even with --checkpoint-every 0 cannot be turned
off and on the 0.5B model raised its peak from ~14 to ~21 GiB. TRL saves nothing, so both rows
are its process peak. TRL: torch.set_num_threads(2),
no vLLM, fp32, gradient checkpointing off (GRPOConfig turns it on by default; off, TRL is
faster and the comparison is of compute, not of memory-saving choices).

Run it on a quiet machine: the script warns when the CPUs are busy before it starts. With
another process on one of the two cores, PyTorch's two OpenMP threads slowed TRL's steps by
up to 15x (the embedded model: 50 s instead of 1.6 s per step) while steer slowed far less.

    swift build -c release
    pip install trl peft     # with the CPU torch of the other benchmarks
    python3 scripts/bench_rl.py [--qwen05b] [--comparisons full,vectors,lora] [--steps N] [--json-out FILE]

--smollm2 runs SmolLM2-135M-Instruct (scripts/get_smollm2.sh) with ChatML and steer's boxed-answer
system line on both sides (TRL renders conversational prompts with the model's own template), up
to 128 new tokens and single-digit additions as problems. Each method's steer run is repeated
with --train-flat-groups: steer leaves the sequences whose advantage is 0 (groups with equal
rewards) out of its training pass, which with beta 0 changes nothing; the second run computes
them, as TRL does, for a like-for-like step. After each method the script prints the fp32 floor
of steer's step (scripts/fp32_floor.py) at the sgemm rate `workbench info` measures.

--qwen05b runs the Qwen2.5-0.5B-shaped random checkpoint of bench_runtime.py (built there if
missing) instead of the embedded model, from a copy of its directory (weights linked) with the
embedded model's tokenizer.json and a tokenizer_config.json without a chat template added
(both sides then tokenize alike; steer gets --template raw); with random weights every reward
is -1 and almost every completion runs to 48 tokens, which is fine for timing. TRL's step on
that model takes several minutes, the whole run well over half an hour.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_runtime  # noqa: E402  (checkpoint creation, helpers)
import fp32_floor  # noqa: E402  (the products a step must do)

REPO_ROOT = bench_runtime.REPO_ROOT
DEFAULT_STEER = REPO_ROOT / ".build" / "release" / "steer"
DEFAULT_MODEL = REPO_ROOT / "notebooks-data" / "model"
DEFAULT_PROBLEMS = REPO_ROOT / "notebooks-data" / "rl" / "train.jsonl"
QWEN_TOKENIZED_DIR = Path("/tmp/qwen05b-random-tok")

PROMPTS, GROUP, MAX_NEW = 16, 8, 48
TEMPLATE = "raw"  # --template: raw prompt text, or chatml with SYSTEM_LINE on both sides
# steer's default system line for the chat templates (the published steering code's).
SYSTEM_LINE = "Please reason step by step, and put your final answer within \\boxed{}."
SMOLLM2_DIR = REPO_ROOT / "models" / "smollm2-135m-instruct"
STEPS = 2  # --steps; the first is a warm-up
LR = {"full": 1e-6, "vectors": 1e-3, "lora": 1e-4}
LORA_RANK, LORA_ALPHA = 1, 2
CLIP = 2.0
SEED = 0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Reward (TRL side), mirroring steer's pm1 reward with an exact integer compare
# --------------------------------------------------------------------------


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} with matched braces, or None."""
    start = text.rfind("\\boxed{")
    while start != -1:
        i, depth = start + len("\\boxed{"), 1
        j = i
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        if depth == 0:
            return text[i:j - 1]
        start = text.rfind("\\boxed{", 0, start)
    return None


def answer_reward(completions: list[Any], answer: list[str], **_: Any) -> list[float]:
    out = []
    for completion, ans in zip(completions, answer):
        # Conversational prompts give completions as [{"role": "assistant", "content": ...}].
        text = completion[0]["content"] if isinstance(completion, list) else completion
        got = last_boxed(text)
        try:
            ok = got is not None and int(got.strip().replace(",", "")) == int(str(ans).strip().replace(",", ""))
        except ValueError:
            ok = False
        out.append(1.0 if ok else -1.0)
    return out


def addition_problems(count: int, seed: int = 0) -> list[str]:
    """`count` problem lines "What is a + b?" for seeded single digits (answers 0-18)."""
    import random
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        lines.append(json.dumps({"id": f"add-{i}", "prompt": f"What is {a} + {b}?", "answer": str(a + b),
                                 "task": "single_digit_addition"}))
    return lines


# --------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def run_measured(cmd: list[str], env: dict[str, str] | None = None, pass_stderr: bool = False,
                 until: str | None = None) -> dict[str, Any]:
    """Runs cmd. Returns status, stdout, stderr ("" with pass_stderr: it goes to ours), wall seconds,
    peak_rss_mib (the process's, from wait4) and sampled_peak_rss_mib: VmRSS sampled every 0.1 s
    (Linux) until `until` appears in its stderr (the end of the steps; steer then writes its
    checkpoint and model, which the steps do not need), or until it exits."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=None if pass_stderr else subprocess.PIPE, text=True, env=env)
        err: list[str] = []
        seen = threading.Event()
        peak = [0.0]

        def read_stderr() -> None:
            tail = ""
            while chunk := proc.stderr.read(256):
                err.append(chunk)
                tail = (tail + chunk)[-512:]
                if until and until in tail:
                    seen.set()

        def sample() -> None:
            while not seen.is_set():
                value = rss_mib(proc.pid)
                if value is None:
                    return
                peak[0] = max(peak[0], value)
                time.sleep(0.1)

        threads = [threading.Thread(target=sample, daemon=True)]
        if not pass_stderr:
            threads.append(threading.Thread(target=read_stderr, daemon=True))
        for t in threads:
            t.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        seen.set()
        for t in threads:
            t.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return {"status": proc.returncode, "stdout": out.read(), "stderr": "".join(err), "wall_s": wall,
                "peak_rss_mib": usage.ru_maxrss / 1024, "sampled_peak_rss_mib": peak[0] or None}


def run_steer(steer: Path, model_dir: Path, problems: Path, method: str, work: Path,
              train_flat_groups: bool = False) -> dict[str, Any]:
    import h5py

    run_dir = work / (f"steer-{method}" + ("-all" if train_flat_groups else ""))
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cmd = [str(steer), "train", "--problems", str(problems), "--out", str(run_dir), "--model", str(model_dir),
           "--method", method, "--lr", str(LR[method]), "--steps", str(STEPS), "--prompts-per-step", str(PROMPTS),
           "--group", str(GROUP), "--max-new", str(MAX_NEW), "--temperature", "1", "--top-p", "1",
           "--objective", "dapo", "--scaling", "none", "--kl", "0", "--iterations", "1", "--clip", str(CLIP),
           "--micro-batch", "16", "--checkpoint-every", "0", "--template", TEMPLATE, "--seed", str(SEED)]
    if method == "lora":
        cmd += ["--rank", str(LORA_RANK), "--alpha", str(LORA_ALPHA), "--targets", "all-linear"]
    if train_flat_groups:
        cmd.append("--train-flat-groups")
    log("steer: " + " ".join(cmd))
    run = run_measured(cmd, until=f"step {STEPS}/{STEPS}")
    if run["status"] != 0:
        raise RuntimeError(f"steer exited with status {run['status']}:\n{run['stdout']}\n{run['stderr'][-3000:]}")
    with h5py.File(run_dir / "training.h5", "r") as f:
        cols = {k: f[k][()].tolist() for k in f.keys() if getattr(f[k], "ndim", 0) == 1}
    steps = []
    for i in range(len(cols["step"])):
        rollout, training = cols["rollout_seconds"][i], cols["training_seconds"][i]
        steps.append({
            "rollout_s": rollout,
            "training_s": training,
            "step_s": rollout + training,
            "completion_tokens": cols["completion_mean"][i] * PROMPTS * GROUP,
            "completion_mean": cols["completion_mean"][i],
            "training_tokens": cols["training_tokens_per_second"][i] * training,
            "reward_mean": cols["reward_mean"][i],
            "flat_groups": cols["zero_spread_fraction"][i],
        })
    return {"steps": steps, "peak_rss_mib": run["peak_rss_mib"], "steps_peak_rss_mib": run["sampled_peak_rss_mib"],
            "wall_s": run["wall_s"], "run_dir": str(run_dir), "train_flat_groups": train_flat_groups}


def trl_child(model_dir: Path, problems: Path, method: str, out_dir: Path, threads: int) -> dict[str, Any]:
    """Runs in its own process (--_trl)."""
    import torch
    import transformers
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)

    rows = [json.loads(line) for line in problems.read_text().splitlines() if line.strip()]
    if TEMPLATE == "chatml":
        # Conversational prompts: TRL renders them with the model's own chat template, as steer's
        # --template chatml does, with the same system line.
        from transformers import AutoTokenizer
        dataset = Dataset.from_list([{"prompt": [{"role": "system", "content": SYSTEM_LINE},
                                                 {"role": "user", "content": r["prompt"]}],
                                      "answer": str(r["answer"])} for r in rows])
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    else:
        dataset = Dataset.from_list([{"prompt": r["prompt"], "answer": str(r["answer"])} for r in rows])
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"),
                                            eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if method == "vectors":
        model.requires_grad_(False)
        for layer in model.model.layers:
            proj = layer.mlp.down_proj
            assert proj.bias is None
            proj.bias = torch.nn.Parameter(torch.zeros(proj.out_features, dtype=proj.weight.dtype))
    peft_config = None
    if method == "lora":
        from peft import LoraConfig
        peft_config = LoraConfig(r=LORA_RANK, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules="all-linear",
                                 task_type="CAUSAL_LM")

    fields = GRPOConfig.__dataclass_fields__
    scale_none: Any = "none" if isinstance(fields["scale_rewards"].default, str) else False
    # TRL turns gradient checkpointing on by default; transformers 5 renamed it activation_checkpointing.
    checkpointing_arg = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    no_checkpointing = {checkpointing_arg: False}
    config = GRPOConfig(
        output_dir=str(out_dir), max_steps=STEPS, per_device_train_batch_size=16,
        gradient_accumulation_steps=PROMPTS * GROUP // 16, num_generations=GROUP,
        max_completion_length=MAX_NEW, temperature=1.0, top_p=1.0, top_k=0,
        loss_type="dapo", scale_rewards=scale_none, beta=0.0, num_iterations=1,
        learning_rate=LR[method], lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=CLIP,
        adam_beta1=0.9, adam_beta2=0.95, weight_decay=0.0, **no_checkpointing,
        use_vllm=False, bf16=False, fp16=False, use_cpu=True, report_to="none", logging_steps=1,
        save_strategy="no", disable_tqdm=True, seed=SEED, dataloader_num_workers=0,
    )

    steps: list[dict[str, Any]] = []

    class Timed(GRPOTrainer):
        def _generate(self, prompts):
            t0 = time.perf_counter()
            result = super()._generate(prompts)
            steps[-1]["generate_s"] = steps[-1].get("generate_s", 0.0) + time.perf_counter() - t0
            return result

        def _generate_and_score_completions(self, inputs):
            t0 = time.perf_counter()
            batch = super()._generate_and_score_completions(inputs)
            cur = steps[-1]
            cur["rollout_s"] = cur.get("rollout_s", 0.0) + time.perf_counter() - t0
            completion = int(batch["completion_mask"].sum())
            cur["completion_tokens"] = cur.get("completion_tokens", 0) + completion
            cur["training_tokens"] = cur.get("training_tokens", 0) + completion + int(batch["prompt_mask"].sum())
            cur["sequences"] = cur.get("sequences", 0) + int(batch["completion_mask"].shape[0])
            return batch

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            steps.append({"t0": time.perf_counter()})

        def on_step_end(self, args, state, control, **kwargs):
            cur = steps[-1]
            cur["step_s"] = time.perf_counter() - cur.pop("t0")
            log(f"  TRL step {len(steps)}: {cur['step_s']:.2f} s (rollout {cur.get('rollout_s', 0.0):.2f} s)")

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and steps and "reward" in logs:
                steps[-1]["reward_mean"] = logs["reward"]

    trainer = Timed(model=model, reward_funcs=[answer_reward], args=config, train_dataset=dataset,
                    processing_class=tokenizer, callbacks=[StepTimer()], peft_config=peft_config)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    trainer.train()
    trained = trainer.model
    checkpointing = bool(getattr(trained, "is_activation_checkpointing", None)
                         or getattr(trained, "is_gradient_checkpointing", False))
    for s in steps:
        s["training_s"] = s["step_s"] - s.get("rollout_s", 0.0)
        s["completion_mean"] = s["completion_tokens"] / max(1, s["sequences"])
    return {"steps": steps, "trainable_parameters": trainable, "trl_version": trl.__version__,
            "torch_version": torch.__version__, "transformers_version": transformers.__version__,
            "threads": torch.get_num_threads(), "gradient_checkpointing": checkpointing,
            "peak_rss_self_mib": bench_runtime.peak_rss_mib()}


def run_trl(model_dir: Path, problems: Path, method: str, work: Path, threads: int) -> dict[str, Any]:
    out_dir = work / f"trl-{method}"
    cmd = [sys.executable, __file__, "--_trl", method, "--model-dir", str(model_dir), "--_problems", str(problems),
           "--_out", str(out_dir), "--threads", str(threads), "--steps", str(STEPS), "--max-new", str(MAX_NEW),
           "--template", TEMPLATE]
    log(f"trl: GRPOTrainer, {method} ...")
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(threads))
    run = run_measured(cmd, env, pass_stderr=True)
    if run["status"] != 0:
        raise RuntimeError(f"TRL child exited with status {run['status']} (its error is above)")
    res = bench_runtime.last_json_object(run["stdout"])
    if res is None:
        raise RuntimeError("could not parse the TRL child's output:\n" + run["stdout"][-3000:])
    # TRL saves nothing (save_strategy "no"): its whole-process peak is its steps' peak.
    res.update(peak_rss_mib=run["peak_rss_mib"], steps_peak_rss_mib=run["peak_rss_mib"], wall_s=run["wall_s"])
    return res


# --------------------------------------------------------------------------
# Model directory for --qwen05b
# --------------------------------------------------------------------------


def qwen_with_tokenizer() -> Path:
    advice = "move it away; this benchmark builds its random checkpoint there"
    src = bench_runtime.DEFAULT_MODEL_DIR
    bench_runtime.ensure_checkpoint(src, advice)
    dst = QWEN_TOKENIZED_DIR
    # Ours once it holds the copied marker: a directory that does not is someone else's.
    bench_runtime.refuse_foreign_dir(dst, advice)
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "generation_config.json", bench_runtime.MARKER_NAME):
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)
    link = dst / "model.safetensors"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(src / "model.safetensors")
    shutil.copyfile(DEFAULT_MODEL / "tokenizer.json", dst / "tokenizer.json")
    # No chat_template key: `steer --template auto` refuses models that carry one (we pass raw anyway).
    (dst / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "model_max_length": 32768}, indent=2) + "\n")
    return dst


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def cpu_busy_fraction(seconds: float = 1.0) -> float | None:
    """Fraction of all CPU time spent busy over `seconds` (Linux /proc/stat), before anything starts."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def per_s(tokens: float | None, seconds: float | None) -> float | None:
    return tokens / seconds if tokens is not None and seconds else None


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """Medians over the steps after the first (the warm-up)."""
    timed = res["steps"][1:] or res["steps"]
    for s in timed:
        s["rollout_tokens_per_s"] = per_s(s.get("completion_tokens"), s.get("rollout_s"))
        s["training_tokens_per_s"] = per_s(s.get("training_tokens"), s.get("training_s"))

    def median(key: str) -> float | None:
        values = [s[key] for s in timed if s.get(key) is not None]
        return statistics.median(values) if values else None

    keys = ("step_s", "rollout_s", "training_s", "rollout_tokens_per_s", "training_tokens_per_s",
            "completion_mean", "reward_mean", "flat_groups")
    return {**{k: median(k) for k in keys}, "peak_rss_mib": res["peak_rss_mib"],
            "steps_peak_rss_mib": res.get("steps_peak_rss_mib") or res["peak_rss_mib"]}


def print_table(title: str, trl_res: dict[str, Any], ours: dict[str, Any]) -> None:
    t, o = summary(trl_res), summary(ours)
    rows = [
        ("seconds per step", "step_s", "time"),
        ("  rollout seconds", "rollout_s", "time"),
        ("  training seconds", "training_s", "time"),
        ("rollout tokens/s (generated)", "rollout_tokens_per_s", "rate"),
        ("training tokens/s (prompt+completion)", "training_tokens_per_s", "rate"),
        ("completion mean tokens", "completion_mean", None),
        ("reward mean", "reward_mean", None),
        ("groups with equal rewards (steer leaves them out)", "flat_groups", None),
        ("peak RSS MiB, steps", "steps_peak_rss_mib", "rss"),
        ("peak RSS MiB, whole process", "peak_rss_mib", "rss"),
    ]
    table = [("metric", "TRL", "steer", "ratio")]
    for label, key, kind in rows:
        a, b = t.get(key), o.get(key)
        ratio = "-"
        if kind and isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > 0.01 and b > 0.01:
            ratio = f"{a / b:.2f}x" if kind in ("time", "rss") else f"{b / a:.2f}x"
        digits = 3 if key in ("reward_mean", "flat_groups") else (2 if kind == "time" else 1)
        table.append((label, bench_runtime.fmt(a, digits), bench_runtime.fmt(b, digits), ratio))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    print(f"\n{title}", flush=True)
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(widths[j]) if j == 0 else cell.rjust(widths[j]) for j, cell in enumerate(row)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def prompt_token_mean(model_dir: Path, lines: list[str]) -> float:
    """Mean prompt length in tokens as both sides render it (ChatML with the system line, or raw)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    prompts = [json.loads(line)["prompt"] for line in lines]
    if TEMPLATE == "chatml":
        tok = AutoTokenizer.from_pretrained(model_dir)
        counts = [len(tok.apply_chat_template([{"role": "system", "content": SYSTEM_LINE}, {"role": "user", "content": p}],
                                              add_generation_prompt=True, tokenize=True, return_dict=False)) for p in prompts]
    else:
        tok = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
        counts = [len(tok.encode(p)) for p in prompts]
    return sum(counts) / len(counts)


def print_floor(method: str, ours: dict[str, Any], trl_res: dict[str, Any], model_dir: Path, prompt_tokens: float,
                gflops: float | None) -> dict[str, Any] | None:
    """steer's step against the fp32 floor of the products it must do (fp32_floor.py)."""
    if not gflops:
        print("(no sgemm rate from `workbench info`: floor not computed)")
        return None
    timed = ours["steps"][1:] or ours["steps"]
    floors = []
    for s in timed:
        sequences = PROMPTS * GROUP
        trained = sequences if ours.get("train_flat_groups") else round(sequences * (1 - s["flat_groups"]))
        trained_completion = max(0.0, s["training_tokens"] - prompt_tokens * trained)
        g = fp32_floor.rl_step_gflop(model_dir, prompt_tokens=prompt_tokens, prompts=PROMPTS, group=GROUP,
                                     completion_tokens=s["completion_tokens"], trained_sequences=trained,
                                     trained_completion_tokens=trained_completion, weight_gradients=method == "full")
        floors.append({"rollout_s": g["rollout_gflop"] / gflops, "training_s": g["training_gflop"] / gflops,
                       "step_s": (g["rollout_gflop"] + g["training_gflop"]) / gflops, "measured_s": s["step_s"],
                       "measured_rollout_s": s["rollout_s"], "measured_training_s": s["training_s"]})
    f = {k: statistics.median(x[k] for x in floors) for k in floors[0]}
    trl_step = summary(trl_res)["step_s"]
    which = "with --train-flat-groups" if ours.get("train_flat_groups") else "as run"
    print(f"fp32 floor of steer's step ({which}) at {gflops:.1f} GFLOP/s (sgemm, workbench info): {f['step_s']:.1f} s "
          f"(rollout {f['rollout_s']:.1f} s, training {f['training_s']:.1f} s); steer runs at "
          f"{100 * f['step_s'] / f['measured_s']:.0f}% of it (rollout {100 * f['rollout_s'] / f['measured_rollout_s']:.0f}%, "
          f"training {100 * f['training_s'] / max(f['measured_training_s'], 1e-9):.0f}%); TRL / floor = "
          f"{trl_step / f['step_s']:.1f}x, the best ratio an fp32 implementation of this step could show")
    return f


def main(argv: list[str] | None = None) -> int:
    global STEPS, MAX_NEW, TEMPLATE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steer", type=Path, default=DEFAULT_STEER, help=f"steer binary (default {DEFAULT_STEER})")
    ap.add_argument("--model-dir", type=Path, default=None, help=f"model directory (default {DEFAULT_MODEL})")
    ap.add_argument("--qwen05b", action="store_true", help="use the Qwen2.5-0.5B-shaped random checkpoint")
    ap.add_argument("--problems", type=Path, default=DEFAULT_PROBLEMS,
                    help="problems .jsonl (the first 16 x --steps are used)")
    ap.add_argument("--smollm2", action="store_true",
                    help="SmolLM2-135M-Instruct (scripts/get_smollm2.sh) with --template chatml, --max-new 128 and "
                         "--addition unless given otherwise")
    ap.add_argument("--addition", action="store_true",
                    help="problems 'What is a + b?' for seeded single digits a, b instead of --problems: a task "
                         "SmolLM2 gets right some of the time, so groups' rewards vary as in real training")
    ap.add_argument("--max-new", type=int, help=f"new tokens per completion (default {MAX_NEW}; 128 with --smollm2)")
    ap.add_argument("--template", choices=["raw", "chatml"],
                    help="raw prompt text (default) or ChatML with steer's system line on both sides (--smollm2)")
    ap.add_argument("--comparisons", default="full,vectors", help="comma-separated: full, vectors, lora")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on the TRL side")
    ap.add_argument("--steps", type=int, default=STEPS,
                    help="RL steps per run; the first is a warm-up, the median of the others is shown (default 2)")
    ap.add_argument("--work-dir", type=Path, help="keep run directories here (default: a temporary directory)")
    ap.add_argument("--json-out", type=Path, help="also write all results to this JSON file")
    ap.add_argument("--_trl", choices=["full", "vectors", "lora"], help=argparse.SUPPRESS)
    ap.add_argument("--_problems", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    STEPS = max(2, args.steps)
    MAX_NEW = args.max_new or (128 if args.smollm2 else MAX_NEW)
    TEMPLATE = args.template or ("chatml" if args.smollm2 else TEMPLATE)
    if MAX_NEW < 1:
        ap.error("--max-new must be at least 1")

    if args._trl:
        print(json.dumps(trl_child(args.model_dir, args._problems, args._trl, args._out, args.threads)))
        return 0

    comparisons = [c.strip() for c in args.comparisons.split(",") if c.strip()]
    if not set(comparisons) <= {"full", "vectors", "lora"}:
        ap.error("--comparisons takes full, vectors and/or lora")
    if not args.steer.is_file():
        ap.error(f"steer binary not found at {args.steer} (swift build -c release, or --steer PATH)")
    if args.smollm2 and not (SMOLLM2_DIR / "model.safetensors").is_file():
        ap.error(f"{SMOLLM2_DIR}: SmolLM2 is not there; run bash scripts/get_smollm2.sh first")
    model_dir = args.model_dir or (SMOLLM2_DIR if args.smollm2 else
                                   qwen_with_tokenizer() if args.qwen05b else DEFAULT_MODEL)

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-rl-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.addition or (args.smollm2 and args.problems == DEFAULT_PROBLEMS):
        lines = addition_problems(PROMPTS * STEPS)
    else:
        lines = [line for line in args.problems.read_text().splitlines() if line.strip()][: PROMPTS * STEPS]
    problems = work / "problems.jsonl"
    problems.write_text("\n".join(lines) + "\n")

    busy = cpu_busy_fraction()
    if busy is not None and busy > 0.25:
        log(f"warning: the CPUs are {busy:.0%} busy before the run; other processes slow both sides, "
            f"TRL's OpenMP threads by up to 15x (measure on a quiet machine)")
    started = time.perf_counter()
    results: dict[str, Any] = {}
    names = {"full": f"full fine-tuning (lr {LR['full']:g})",
             "vectors": f"steering vectors (lr {LR['vectors']:g}; TRL: zero bias on every mlp.down_proj)",
             "lora": f"LoRA r {LORA_RANK}, alpha {LORA_ALPHA}, all linears (lr {LR['lora']:g}; TRL: GRPOTrainer with PEFT's LoraConfig)"}
    print(f"model {model_dir}; {PROMPTS} prompts x {GROUP} samples, <= {MAX_NEW} new tokens, template {TEMPLATE}, "
          f"dapo, scaling none, "
          f"beta 0, 1 iteration; {STEPS} steps, " + ("step 2 shown" if STEPS == 2 else f"median of steps 2-{STEPS}")
          + " (step 1 = warm-up)", flush=True)
    gflops = fp32_floor.sgemm_gflops(args.steer.parent / "workbench")
    prompt_tokens = prompt_token_mean(model_dir, lines)
    for method in comparisons:
        trl_res = run_trl(model_dir, problems, method, work, args.threads)
        ours = run_steer(args.steer, model_dir, problems, method, work)
        # The same step with the groups whose rewards are all equal trained too (they change nothing
        # at beta 0, and steer leaves them out by default; TRL computes them): like for like.
        every = run_steer(args.steer, model_dir, problems, method, work, train_flat_groups=True)
        results[method] = {"trl": trl_res, "steer": ours, "steer_train_flat_groups": every,
                           "trl_summary": summary(trl_res), "steer_summary": summary(ours),
                           "steer_train_flat_groups_summary": summary(every)}
        print_table(f"{names[method]}: TRL trains {trl_res['trainable_parameters']:,} parameters", trl_res, ours)
        print_table("the same, steer with --train-flat-groups (every sequence through the training pass, as TRL)",
                    trl_res, every)
        results[method]["floor"] = print_floor(method, ours, trl_res, model_dir, prompt_tokens, gflops)
        results[method]["floor_train_flat_groups"] = print_floor(method, every, trl_res, model_dir, prompt_tokens, gflops)

    print()
    print("ratio = TRL / steer for seconds and RSS (>1: steer is faster / uses less), steer / TRL for tokens/s")
    if results:
        any_trl = next(iter(results.values()))["trl"]
        print(f"TRL {any_trl['trl_version']}, transformers {any_trl['transformers_version']}, "
              f"PyTorch {any_trl['torch_version']} fp32, {any_trl['threads']} threads, no vLLM, "
              f"gradient checkpointing {'on' if any_trl['gradient_checkpointing'] else 'off'}; "
              f"TRL rollout = _generate_and_score_completions, training = step - rollout")
    print(("" if busy is None else f"CPUs {busy:.0%} busy before the run; ")
          + f"total wall time {time.perf_counter() - started:.0f} s"
          + (f"; run directories in {work}" if args.work_dir else ""))
    if args.json_out:
        args.json_out.write_text(json.dumps({"model_dir": str(model_dir), "cpu_busy_before": busy, "settings": {
            "prompts": PROMPTS, "group": GROUP, "max_new": MAX_NEW, "template": TEMPLATE, "steps": STEPS, "lr": LR,
            "clip": CLIP, "prompt_tokens": prompt_tokens, "sgemm_gflops": gflops},
            "results": results}, indent=2) + "\n")
        print(f"wrote {args.json_out}")
    if args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
