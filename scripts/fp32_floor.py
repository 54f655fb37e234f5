"""The fp32 floor of a benchmark: the matrix products it must do, at the sgemm rate the machine
reaches (`workbench info`), counting 2 FLOP per weight per row and leaving out attention scores,
norms and the optimizer (a few percent at these lengths). Imported by the benchmark scripts."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path


def linear_weights(model_dir: Path) -> tuple[int, int]:
    """(weights of the blocks' linear layers, weights of the unembedding) from config.json."""
    c = json.loads((Path(model_dir) / "config.json").read_text())
    d, ffn, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    heads = c["num_attention_heads"]
    kv_heads = c.get("num_key_value_heads", heads)
    head_dim = c.get("head_dim") or d // heads
    per_block = d * heads * head_dim * 2 + d * kv_heads * head_dim * 2 + 3 * d * ffn
    return layers * per_block, c["vocab_size"] * d


def sgemm_gflops(workbench: Path) -> float | None:
    """The sgemm rate `workbench info` measures on this machine (GFLOP/s), or None."""
    try:
        out = subprocess.run([str(workbench), "info", "--runtime-only"], capture_output=True, text=True,
                             timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"sgemm \(1024³\)\s+([0-9.]+) GFLOP/s", out)
    return float(match.group(1)) if match else None


def sampling_gflop(model_dir: Path, batch: int, prompt: int, new: int) -> float:
    """`workbench bench` sampling: the batch's prompts in one prefill (logits for the last
    position), then new − 1 decoding steps of `batch` rows with logits."""
    blocks, unembed = linear_weights(model_dir)
    prefill = 2 * blocks * batch * prompt + 2 * unembed * batch
    decode = 2 * (blocks + unembed) * batch * (new - 1)
    return (prefill + decode) / 1e9


def rl_step_gflop(model_dir: Path, *, prompt_tokens: float, prompts: int, group: int, completion_tokens: float,
                  trained_sequences: int, trained_completion_tokens: float, weight_gradients: bool) -> dict[str, float]:
    """One steer RL step as steer computes it: rollouts prefill each distinct prompt once and
    decode one row per sampled token after the first; training packs each trained group into
    one row set (its prompt once, then its completions), computes logits on completion rows
    only, and runs backward to the inputs (×2 of the forward), plus the weight gradients for
    full fine-tuning (×3)."""
    blocks, unembed = linear_weights(model_dir)
    rollout = 2 * blocks * prompts * prompt_tokens + 2 * unembed * prompts \
        + 2 * (blocks + unembed) * max(0.0, completion_tokens - prompts * group)
    groups = trained_sequences / group
    rows = trained_completion_tokens + prompt_tokens * groups
    forward = 2 * blocks * rows + 2 * unembed * trained_completion_tokens
    training = forward * (3 if weight_gradients else 2)
    return {"rollout_gflop": rollout / 1e9, "training_gflop": training / 1e9}
