#!/usr/bin/env python3
"""Generate golden parity fixtures for the Swift runtime's model tests.

Each fixture is a tiny, randomly initialised Hugging Face causal LM saved with
``save_pretrained`` plus a ``reference.safetensors`` file holding the outputs
that transformers produces for a fixed batch of inputs (logits, the residual
stream after every decoder layer, and greedy generations).

Everything is deterministic: rerun ``python3 scripts/make_fixtures.py`` to
regenerate all fixtures under ``Tests/ModelTests/Fixtures/``.

Conventions stored in the reference file
-----------------------------------------
* ``input_ids`` / ``attention_mask`` / ``position_ids``: int32 [B, T].  Row 1 is
  left-padded with pad id 0; ``position_ids = cumsum(mask) - 1`` with padding
  positions set to 0.  These position ids are passed explicitly to the model.
* ``logits``: float32 [B, T, V] from an fp32 forward with eager attention.
* ``residual``: float32 [L + 1, B, T, d], the residual stream before the final
  norm (index 0 = embedding output, index l = output of decoder layer l - 1).
* ``greedy_prompt`` / ``greedy_prompt_mask``: int32 [2, 5], row 1 left-padded
  by 2; ``greedy_tokens``: int32 [2, 12], the newly generated tokens only.

Values at padding positions depend on how fully masked attention rows are
handled and are not meant to be compared; compare where ``attention_mask == 1``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import safe_open
from safetensors.torch import save_file

import transformers
from transformers import (
    AutoModelForCausalLM,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "Tests" / "ModelTests" / "Fixtures"

PAD_ID = 0
BATCH = 2
SEQ_LEN = 9
PAD_ROW1 = 3
GREEDY_PROMPT_LEN = 5
GREEDY_PAD_ROW1 = 2
GREEDY_NEW = 12
FIRST_REAL_ID = 3  # real tokens avoid 0..2 so they never collide with pad/bos/eos


@dataclass
class FixtureSpec:
    name: str
    model_cls: type
    config_cls: type
    config: dict[str, Any]
    storage_dtype: torch.dtype
    seed: int
    # Upper bound (exclusive) for token ids used in inputs: emulates a
    # tokenizer smaller than the embedding table ("padded vocabulary").
    token_limit: int | None = None
    max_shard_size: str | None = None
    # Optional edit applied to the saved config.json (dict -> dict).
    config_rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    expect_files: list[str] = field(default_factory=list)
    description: str = ""
    # Initialisation knobs (see randomize_weights).
    embed_std: float = 0.4
    out_gain: float = 1.0


def _old_style_rope(cfg: dict[str, Any]) -> dict[str, Any]:
    """Rewrite transformers-5 ``rope_parameters`` into the pre-v5 layout:
    top-level ``rope_theta`` plus a ``rope_scaling`` dict."""
    params = dict(cfg.pop("rope_parameters"))
    theta = params.pop("rope_theta")
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        out[key] = value
        if key == "rms_norm_eps":
            out["rope_theta"] = theta
            out["rope_scaling"] = params
    if "rope_theta" not in out:
        out["rope_theta"] = theta
        out["rope_scaling"] = params
    return out


SPECS: list[FixtureSpec] = [
    FixtureSpec(
        name="llama_gqa_llama3rope",
        model_cls=LlamaForCausalLM,
        config_cls=LlamaConfig,
        config=dict(
            vocab_size=256,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            rms_norm_eps=1e-6,
            tie_word_embeddings=False,
            attention_bias=False,
            mlp_bias=False,
            bos_token_id=1,
            eos_token_id=2,
            rope_parameters=dict(
                rope_type="llama3",
                rope_theta=10000.0,
                factor=8.0,
                low_freq_factor=1.0,
                high_freq_factor=4.0,
                original_max_position_embeddings=16,
            ),
        ),
        storage_dtype=torch.float32,
        seed=1001,
        config_rewrite=_old_style_rope,
        expect_files=["model.safetensors"],
        description=(
            "LlamaForCausalLM, 2 layers, 4 query heads sharing 2 KV heads (GQA), "
            "head_dim 16, untied lm_head, float32 weights. RoPE uses llama3 "
            "scaling (factor 8, low/high freq factor 1/4, "
            "original_max_position_embeddings 16, theta 10000); with head_dim 16 "
            "one of the 8 rotary frequencies (wavelength 2*pi, between 4 and 16) is "
            "smoothly interpolated and the other 7 (wavelength > 16) are divided by "
            "the factor, so every frequency differs from plain RoPE (none falls in "
            "the unchanged high-frequency regime, which would need a wavelength "
            "< 4). The config is written "
            "in the older layout: top-level `rope_theta` and `rope_scaling` with "
            "`rope_type: \"llama3\"`."
        ),
    ),
    FixtureSpec(
        name="llama_headdim_mqa_bf16",
        model_cls=LlamaForCausalLM,
        config_cls=LlamaConfig,
        config=dict(
            vocab_size=300,
            hidden_size=64,
            intermediate_size=160,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=24,
            max_position_embeddings=128,
            rms_norm_eps=1e-5,
            tie_word_embeddings=False,
            attention_bias=True,
            mlp_bias=False,
            bos_token_id=1,
            eos_token_id=2,
            rope_parameters=dict(rope_type="default", rope_theta=500000.0),
        ),
        storage_dtype=torch.bfloat16,
        seed=2002,
        expect_files=["model.safetensors"],
        description=(
            "LlamaForCausalLM, 3 layers, explicit `head_dim: 24` that differs from "
            "hidden_size / num_attention_heads (64 / 4 = 16), so q_proj is 64->96 "
            "and o_proj 96->64; a single KV head (MQA); `attention_bias: true` "
            "(q/k/v/o biases) with `mlp_bias: false`; rms_norm_eps 1e-5; weights "
            "stored as bfloat16. Config in the transformers 5 layout "
            "(`rope_parameters: {rope_type: default, rope_theta: 500000}`). The "
            "reference is computed in float32 from the stored bf16 values."
        ),
    ),
    FixtureSpec(
        name="qwen2_bias_tied_f16",
        model_cls=Qwen2ForCausalLM,
        config_cls=Qwen2Config,
        config=dict(
            vocab_size=272,
            hidden_size=64,
            intermediate_size=112,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
            bos_token_id=1,
            eos_token_id=2,
            use_sliding_window=False,
            rope_parameters=dict(rope_type="default", rope_theta=1000000.0),
        ),
        storage_dtype=torch.float16,
        seed=3003,
        token_limit=250,
        # With tied embeddings a large embedding scale makes every token its own
        # best continuation; a smaller table and stronger residual updates keep
        # the greedy continuations varied.
        embed_std=0.25,
        out_gain=1.6,
        expect_files=["model.safetensors"],
        description=(
            "Qwen2ForCausalLM, 2 layers, 4 heads / 2 KV heads, q/k/v projection "
            "biases (no o_proj bias), `tie_word_embeddings: true` so the file has "
            "no `lm_head.weight` and the output projection reuses "
            "`model.embed_tokens.weight`; weights stored as float16; "
            "rms_norm_eps 1e-6, rope_theta 1e6. Padded vocabulary: vocab_size is "
            "272 but all input ids are < 250, as when the embedding table has more "
            "rows than the tokenizer has tokens. Logits (and the greedy argmax) still "
            "cover all 272 rows, so generated ids may be >= 250."
        ),
    ),
    FixtureSpec(
        name="llama_sharded",
        model_cls=LlamaForCausalLM,
        config_cls=LlamaConfig,
        config=dict(
            vocab_size=200,
            hidden_size=64,
            intermediate_size=144,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            rms_norm_eps=1e-6,
            tie_word_embeddings=False,
            bos_token_id=1,
            eos_token_id=2,
            rope_parameters=dict(rope_type="default", rope_theta=10000.0),
        ),
        storage_dtype=torch.float32,
        seed=4004,
        max_shard_size="250KB",
        expect_files=["model.safetensors.index.json"],
        description=(
            "LlamaForCausalLM, 3 layers, 4 heads / 2 KV heads, untied, float32, "
            "saved with a small `max_shard_size` so the weights are split over "
            "several `model-0000X-of-0000N.safetensors` shards listed in "
            "`model.safetensors.index.json` (weight_map)."
        ),
    ),
]


# --------------------------------------------------------------------------
# Weight initialisation
# --------------------------------------------------------------------------

# Gain (relative to 1/sqrt(fan_in)) for each projection.  Query/key get a gain
# above one so attention scores have a spread of a few units (non-uniform
# attention); everything else keeps activations near unit scale.
_PROJ_GAIN = {
    "q_proj": 1.4,
    "k_proj": 1.4,
    "v_proj": 1.0,
    "o_proj": 1.0,
    "gate_proj": 1.2,
    "up_proj": 1.0,
    "down_proj": 1.0,
}
LM_HEAD_STD = 0.4
BIAS_STD = 0.2


@torch.no_grad()
def randomize_weights(
    model: torch.nn.Module, seed: int, embed_std: float, out_gain: float
) -> None:
    """Deterministically overwrite every parameter with values large enough
    that logits are far from zero and attention is not uniform.

    ``out_gain`` additionally scales o_proj/down_proj, i.e. how strongly each
    block writes into the residual stream."""
    gen = torch.Generator().manual_seed(seed)
    for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        shape = param.shape
        if name.endswith("embed_tokens.weight"):
            values = torch.randn(shape, generator=gen) * embed_std
        elif name.startswith("lm_head"):
            values = torch.randn(shape, generator=gen) * LM_HEAD_STD
        elif "norm" in name:
            # Non-trivial RMSNorm gains so a missing/incorrect scale is caught.
            values = 0.6 + 0.8 * torch.rand(shape, generator=gen)
        elif name.endswith(".bias"):
            values = torch.randn(shape, generator=gen) * BIAS_STD
        elif name.endswith(".weight"):
            proj = name.split(".")[-2]
            gain = _PROJ_GAIN.get(proj, 1.0)
            if proj in ("o_proj", "down_proj"):
                gain *= out_gain
            fan_in = shape[1]
            values = torch.randn(shape, generator=gen) * (gain / math.sqrt(fan_in))
        else:
            raise RuntimeError(f"no init rule for parameter {name}")
        param.copy_(values.to(param.dtype))


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


def left_padded_batch(
    gen: torch.Generator, rows: int, length: int, pad_row1: int, limit: int
) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(FIRST_REAL_ID, limit, (rows, length), generator=gen)
    mask = torch.ones(rows, length, dtype=torch.long)
    ids[1, :pad_row1] = PAD_ID
    mask[1, :pad_row1] = 0
    return ids, mask


def positions_from_mask(mask: torch.Tensor) -> torch.Tensor:
    pos = mask.long().cumsum(-1) - 1
    return pos.masked_fill(mask == 0, 0)


# --------------------------------------------------------------------------
# Reference computation
# --------------------------------------------------------------------------


@torch.no_grad()
def forward_with_residuals(
    model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    captured: list[torch.Tensor] = []

    def grab(_module, _inputs, output):
        tensor = output[0] if isinstance(output, (tuple, list)) else output
        captured.append(tensor.detach().clone())

    backbone = model.model
    handles = [backbone.embed_tokens.register_forward_hook(grab)]
    handles += [layer.register_forward_hook(grab) for layer in backbone.layers]
    try:
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=pos,
            use_cache=False,
            output_hidden_states=True,
        )
    finally:
        for handle in handles:
            handle.remove()

    n_layers = model.config.num_hidden_layers
    if len(captured) != n_layers + 1:
        raise RuntimeError(f"captured {len(captured)} tensors, expected {n_layers + 1}")
    residual = torch.stack(captured, dim=0)

    # Cross-check hooks against output_hidden_states (entries 0..L-1 are
    # pre-norm; the last one is after the final norm in transformers).
    hs = out.hidden_states
    for i in range(n_layers):
        if not torch.equal(hs[i], residual[i]):
            raise RuntimeError(f"hook/hidden_states mismatch at index {i}")
    normed = backbone.norm(residual[-1])
    if not torch.allclose(normed, hs[-1], atol=1e-6, rtol=0):
        raise RuntimeError("final norm of captured residual differs from last hidden state")
    relogits = model.lm_head(normed)
    if not torch.allclose(relogits, out.logits, atol=1e-5, rtol=0):
        raise RuntimeError("lm_head(norm(residual[L])) does not reproduce logits")
    return out.logits.float(), residual.float()


def greedy_generation_config() -> GenerationConfig:
    return GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=GREEDY_NEW,
        min_new_tokens=GREEDY_NEW,
        eos_token_id=None,
        pad_token_id=PAD_ID,
        bos_token_id=None,
        temperature=None,
        top_k=None,
        top_p=None,
        repetition_penalty=None,
    )


@torch.no_grad()
def greedy_generate(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # generate() treats ``None`` in the passed config as "use the model's
    # default", so EOS has to be removed from the model's own generation config
    # as well; otherwise min_new_tokens would mask the EOS logit and change the
    # argmax whenever EOS happens to be the top token.
    model.generation_config.eos_token_id = None
    model.generation_config.forced_eos_token_id = None
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        generation_config=greedy_generation_config(),
    )
    seq = out.sequences if hasattr(out, "sequences") else out
    new = seq[:, ids.shape[1]:]
    if new.shape != (ids.shape[0], GREEDY_NEW):
        raise RuntimeError(f"generate returned {tuple(new.shape)} new tokens")
    return new


@torch.no_grad()
def greedy_reference_loop(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cache-free greedy decoding with explicit positions: an independent
    check that ``generate`` did plain argmax decoding."""
    cur_ids, cur_mask = ids.clone(), mask.clone()
    produced = []
    for _ in range(GREEDY_NEW):
        pos = positions_from_mask(cur_mask)
        logits = model(input_ids=cur_ids, attention_mask=cur_mask, position_ids=pos, use_cache=False).logits
        nxt = logits[:, -1, :].argmax(-1)
        produced.append(nxt)
        cur_ids = torch.cat([cur_ids, nxt[:, None]], dim=1)
        cur_mask = torch.cat([cur_mask, torch.ones_like(nxt)[:, None]], dim=1)
    return torch.stack(produced, dim=1)


# --------------------------------------------------------------------------
# Fixture writing
# --------------------------------------------------------------------------


def build_fixture(spec: FixtureSpec, out_root: Path) -> dict[str, Any]:
    torch.manual_seed(spec.seed)
    config = spec.config_cls(**spec.config)
    config.architectures = [spec.model_cls.__name__]
    model = spec.model_cls(config).eval()
    randomize_weights(model, spec.seed, spec.embed_std, spec.out_gain)
    model = model.to(spec.storage_dtype)
    # Keep the generation defaults that save_pretrained derives from the config
    # but make sure nothing there implies sampling.
    model.generation_config.do_sample = False

    fixture_dir = out_root / spec.name
    if fixture_dir.exists():
        shutil.rmtree(fixture_dir)
    fixture_dir.mkdir(parents=True)

    save_kwargs: dict[str, Any] = {"safe_serialization": True}
    if spec.max_shard_size is not None:
        save_kwargs["max_shard_size"] = spec.max_shard_size
    model.save_pretrained(fixture_dir, **save_kwargs)

    # Reference model as transformers loads it from the written files (before
    # any config rewrite), computing in fp32.
    def load(path: Path) -> torch.nn.Module:
        loaded = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch.float32, attn_implementation="eager"
        ).eval()
        for name, p in loaded.named_parameters():
            if p.dtype != torch.float32:
                raise RuntimeError(f"{name} loaded as {p.dtype}, expected float32")
        return loaded

    baseline = load(fixture_dir) if spec.config_rewrite is not None else None

    config_path = fixture_dir / "config.json"
    if spec.config_rewrite is not None:
        cfg = json.loads(config_path.read_text())
        cfg = spec.config_rewrite(cfg)
        config_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")

    model = load(fixture_dir)
    check_saved(spec, fixture_dir, model)

    # ---- inputs
    gen = torch.Generator().manual_seed(spec.seed + 17)
    limit = spec.token_limit or config.vocab_size
    ids, mask = left_padded_batch(gen, BATCH, SEQ_LEN, PAD_ROW1, limit)
    pos = positions_from_mask(mask)
    g_ids, g_mask = left_padded_batch(gen, BATCH, GREEDY_PROMPT_LEN, GREEDY_PAD_ROW1, limit)

    # ---- forward
    logits, residual = forward_with_residuals(model, ids, mask, pos)

    if baseline is not None:
        # The rewritten (old-style) config must load to the same model.
        if baseline.config.rope_parameters != model.config.rope_parameters:
            raise RuntimeError(
                f"rope parameters changed by rewrite: {baseline.config.rope_parameters} "
                f"vs {model.config.rope_parameters}"
            )
        base_logits, base_residual = forward_with_residuals(baseline, ids, mask, pos)
        if not (torch.equal(base_logits, logits) and torch.equal(base_residual, residual)):
            raise RuntimeError("old-style config does not reproduce the original outputs")
        inv_a = baseline.model.rotary_emb.inv_freq
        inv_b = model.model.rotary_emb.inv_freq
        if not torch.equal(inv_a, inv_b):
            raise RuntimeError("rotary inv_freq differs after config rewrite")

    # ---- greedy generation
    greedy = greedy_generate(model, g_ids, g_mask)
    manual = greedy_reference_loop(model, g_ids, g_mask)
    if not torch.equal(greedy, manual):
        raise RuntimeError(f"generate() is not plain greedy:\n{greedy}\nvs\n{manual}")

    tensors = {
        "input_ids": ids.to(torch.int32),
        "attention_mask": mask.to(torch.int32),
        "position_ids": pos.to(torch.int32),
        "logits": logits.contiguous(),
        "residual": residual.contiguous(),
        "greedy_prompt": g_ids.to(torch.int32),
        "greedy_prompt_mask": g_mask.to(torch.int32),
        "greedy_tokens": greedy.to(torch.int32).contiguous(),
    }
    # A single metadata entry only: safetensors serialises the metadata map in
    # hash order, so more keys would make the file bytes vary between runs.
    save_file(tensors, str(fixture_dir / "reference.safetensors"), metadata={"format": "pt"})

    real = mask.bool()
    summary = {
        "name": spec.name,
        "files": sorted(p.name for p in fixture_dir.iterdir()),
        "bytes": sum(p.stat().st_size for p in fixture_dir.iterdir()),
        "max_abs_logit": logits[real].abs().max().item(),
        "logit_std": logits[real].std().item(),
        "max_abs_residual": residual[:, real].abs().max().item(),
        "greedy": greedy.tolist(),
        "greedy_distinct": [len(set(row)) for row in greedy.tolist()],
    }
    return summary


def check_saved(spec: FixtureSpec, fixture_dir: Path, model: torch.nn.Module) -> None:
    cfg = json.loads((fixture_dir / "config.json").read_text())
    expected_arch = [spec.model_cls.__name__]
    if cfg.get("architectures") != expected_arch:
        raise RuntimeError(f"{spec.name}: architectures {cfg.get('architectures')} != {expected_arch}")
    if cfg.get("model_type") != spec.config_cls.model_type:
        raise RuntimeError(f"{spec.name}: model_type {cfg.get('model_type')}")
    for fname in spec.expect_files:
        if not (fixture_dir / fname).exists():
            raise RuntimeError(f"{spec.name}: missing {fname}")

    # Inspect the stored tensors: dtype and presence of lm_head.
    shard_files: list[Path]
    index_path = fixture_dir / "model.safetensors.index.json"
    if index_path.exists():
        index = json.loads(index_path.read_text())
        shard_files = sorted({fixture_dir / f for f in index["weight_map"].values()})
        if len(shard_files) < 2:
            raise RuntimeError(f"{spec.name}: expected several shards, got {len(shard_files)}")
    else:
        shard_files = [fixture_dir / "model.safetensors"]
    names: set[str] = set()
    want = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}[spec.storage_dtype]
    for shard in shard_files:
        with safe_open(str(shard), framework="pt") as fh:
            for key in fh.keys():
                names.add(key)
                dtype = fh.get_slice(key).get_dtype()
                if dtype != want:
                    raise RuntimeError(f"{spec.name}: {key} stored as {dtype}, expected {want}")
    tied = bool(cfg.get("tie_word_embeddings", False))
    if tied and "lm_head.weight" in names:
        raise RuntimeError(f"{spec.name}: tied model still stores lm_head.weight")
    if not tied and "lm_head.weight" not in names:
        raise RuntimeError(f"{spec.name}: untied model lacks lm_head.weight")
    expected_names = set(model.state_dict().keys())
    if tied:
        expected_names.discard("lm_head.weight")
    if names != expected_names:
        raise RuntimeError(
            f"{spec.name}: stored tensors differ from model state dict: "
            f"extra={sorted(names - expected_names)} missing={sorted(expected_names - names)}"
        )


def write_readme(out_root: Path) -> None:
    lines = [
        "# Model parity fixtures",
        "",
        "Tiny randomly initialised Hugging Face checkpoints together with the outputs",
        "transformers computes for them. Regenerate everything (deterministic) with:",
        "",
        "```",
        "python3 scripts/make_fixtures.py",
        "```",
        "",
        "Every directory holds `config.json` and the weights exactly as",
        "`save_pretrained` wrote them (plus `generation_config.json`), and",
        "`reference.safetensors` with: `input_ids`, `attention_mask`, `position_ids`",
        f"(int32 [{BATCH}, {SEQ_LEN}]; row 1 is left-padded by {PAD_ROW1} with pad id {PAD_ID};",
        "positions are `cumsum(mask) - 1` with padding set to 0 and were passed",
        "explicitly to the forward), `logits` (float32 [B, T, V], fp32 eager forward",
        "even when the weights are stored in bf16/f16), `residual` (float32",
        "[L+1, B, T, hidden]: the residual stream before the final norm; index 0 is the",
        "embedding output, index l the output of decoder layer l-1),",
        f"`greedy_prompt` / `greedy_prompt_mask` (int32 [2, {GREEDY_PROMPT_LEN}], row 1 left-padded",
        f"by {GREEDY_PAD_ROW1}) and `greedy_tokens` (int32 [2, {GREEDY_NEW}], new tokens only, from",
        "`generate` with `do_sample=False` and no EOS, checked against a cache-free",
        "argmax loop). EOS is disabled for generation, so a fixture may generate the",
        "config's `eos_token_id` (2) and keep going. Values at padding positions are",
        "implementation-defined: compare only where `attention_mask == 1`.",
        "",
    ]
    for spec in SPECS:
        lines += [f"## `{spec.name}`", "", spec.description, ""]
    (out_root / "README.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixture root directory")
    parser.add_argument("--only", nargs="*", help="fixture names to (re)build")
    args = parser.parse_args(argv)

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    out_root: Path = args.out
    out_root.mkdir(parents=True, exist_ok=True)
    specs = [s for s in SPECS if not args.only or s.name in args.only]
    if args.only and len(specs) != len(args.only):
        known = ", ".join(s.name for s in SPECS)
        parser.error(f"unknown fixture name; known: {known}")

    total = 0
    for spec in specs:
        summary = build_fixture(spec, out_root)
        total += summary["bytes"]
        print(f"wrote {out_root / spec.name}  ({summary['bytes'] / 1024:.1f} KiB)")
        print(f"  files: {', '.join(summary['files'])}")
        print(
            f"  max|logit| = {summary['max_abs_logit']:.3f}  logit std = {summary['logit_std']:.3f}  "
            f"max|residual| = {summary['max_abs_residual']:.3f}"
        )
        for row, distinct in zip(summary["greedy"], summary["greedy_distinct"]):
            note = "" if distinct > 1 else "   <-- single repeated token"
            print(f"  greedy: {row}  ({distinct} distinct){note}")
    write_readme(out_root)
    print(f"wrote {out_root / 'README.md'}")
    print(f"total fixture size: {total / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
