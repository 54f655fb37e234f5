#!/usr/bin/env python3
"""Write the PyTorch golden reference for the logit lens.

Output: ``Tests/LensTests/Fixtures/lens_golden.json`` (deterministic; run
``python3 scripts/make_lens_fixtures.py`` to regenerate it).

For each fixture checkpoint in ``Tests/ModelTests/Fixtures`` (see FIXTURES)
the model is loaded with transformers in float32 with eager attention, and one
forward over a fixed, seeded list of token ids is run with hooks that capture
float32 residual-stream tensors:

* "post" sites r = 0..L: r = 0 is the embedding output, r = l + 1 the output
  of decoder block l, all BEFORE the final norm.  They come from forward
  hooks on every decoder layer, not from ``output_hidden_states``, whose last
  element has already been through ``model.model.norm``.
* "mid" sites l = 0..L-1: the residual after block l's attention sublayer,
  i.e. the block's input (forward pre-hook on ``layers[l]``) plus its
  ``self_attn`` output (forward hook on ``layers[l].self_attn``, output[0]).

Every site is then read in float64: the final RMSNorm (applied exactly once,
re-implemented in float64 with the model's weight and epsilon), the
unembedding ``lm_head.weight`` and a log-softmax.  Per site and position the
file stores the top-k ids (ties: lower id first) and probabilities, the
entropy (nats), KL(final || site) in nats where "final" is post site r = L,
and the target token's probability, log-probability and rank (the number of
vocabulary entries whose logit is strictly larger than the target's).

Token ids are seeded draws below the vocabulary size.  The target id is the
first seeded draw whose logit stays at least MIN_MARGIN away from every other
logit at every site, and the script asserts the same margin inside the top
k + 1, so ranks and top-k orders do not depend on float32 rounding.

The "inspect" part holds two seeded random vectors v (shape [2, d]) and their
full-vocabulary scores under three readings: raw = W_U v, normed =
W_U (gamma * v) with gamma the final norm's weight (no RMS normalisation),
and cosine = cos(v, W_U[i]) for every row i.

Sanity checks run before writing: the hooked block outputs match
``output_hidden_states`` for r < L, the final norm of the last block output
matches ``hidden_states[L]``, the float64 lens at r = L reproduces the model's
own logits, and mid + MLP(post_attention_layernorm(mid)) equals the next post
site.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

import transformers
from transformers import AutoModelForCausalLM

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE_ROOT = REPO_ROOT / "Tests" / "ModelTests" / "Fixtures"
DEFAULT_OUT = REPO_ROOT / "Tests" / "LensTests" / "Fixtures" / "lens_golden.json"

FIXTURES = ["qwen2_bias_tied_f16", "llama_gqa_llama3rope"]
TOKEN_COUNT = 7
TOP_K = 5
INSPECT_ROWS = 2
SEED = 20240611
SIGNIFICANT_DIGITS = 9
# Smallest logit gap allowed where a float32 implementation must agree on an
# order: between the target and any other token, and within the top k + 1.
MIN_MARGIN = 1e-3


# --------------------------------------------------------------------------
# Model and capture
# --------------------------------------------------------------------------


def load_model(directory: Path):
    model = AutoModelForCausalLM.from_pretrained(
        directory, dtype=torch.float32, attn_implementation="eager"
    )
    return model.eval()


def draw_tokens(vocab: int, gen: torch.Generator) -> list[int]:
    """Seeded token ids, all < vocab."""
    return torch.randint(0, vocab, (TOKEN_COUNT,), generator=gen).tolist()


def pick_target(site_logits: torch.Tensor, gen: torch.Generator) -> int:
    """The first seeded draw whose logit is at least MIN_MARGIN away from every
    other logit at every site and position, so that its rank does not hinge on
    float32 rounding.  site_logits: [S, T, V] float64."""
    vocab = site_logits.shape[-1]
    for _ in range(100):
        target = int(torch.randint(0, vocab, (1,), generator=gen).item())
        gap = (site_logits - site_logits[..., target : target + 1]).abs()
        gap[..., target] = float("inf")
        if gap.min().item() >= MIN_MARGIN:
            return target
    raise RuntimeError("no target token with a clear logit margin")


def check_top_k_margin(site_logits: torch.Tensor, k: int) -> None:
    """The k + 1 largest logits must be MIN_MARGIN apart (unambiguous top-k)."""
    top = site_logits.topk(k + 1, dim=-1).values
    gap = (top[..., :-1] - top[..., 1:]).min().item()
    assert gap >= MIN_MARGIN, f"top-{k} logits only {gap:.2e} apart; change SEED"


def first_tensor(value: Any) -> torch.Tensor:
    """A module's output may be a tensor or a tuple whose first item is one."""
    return value[0] if isinstance(value, (tuple, list)) else value


def capture_residuals(model, tokens: list[int]) -> dict[str, Any]:
    """One forward; returns float32 post sites [L+1, T, d], mid sites [L, T, d],
    the model's logits [T, V] and transformers' hidden_states [L+1, T, d]."""
    layers = model.model.layers
    block_inputs: dict[int, torch.Tensor] = {}
    block_outputs: dict[int, torch.Tensor] = {}
    attn_outputs: dict[int, torch.Tensor] = {}
    handles = []

    for index, layer in enumerate(layers):
        def pre_hook(_module, args, kwargs, index=index):
            hidden = args[0] if args else kwargs["hidden_states"]
            block_inputs[index] = hidden.detach().clone()

        def post_hook(_module, _args, output, index=index):
            block_outputs[index] = first_tensor(output).detach().clone()

        def attn_hook(_module, _args, output, index=index):
            attn_outputs[index] = first_tensor(output).detach().clone()

        handles.append(layer.register_forward_pre_hook(pre_hook, with_kwargs=True))
        handles.append(layer.register_forward_hook(post_hook))
        handles.append(layer.self_attn.register_forward_hook(attn_hook))

    try:
        with torch.no_grad():
            ids = torch.tensor([tokens], dtype=torch.long)
            out = model(input_ids=ids, output_hidden_states=True, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()

    n_layers = len(layers)
    post = [block_inputs[0][0]] + [block_outputs[l][0] for l in range(n_layers)]
    mid = [block_inputs[l][0] + attn_outputs[l][0] for l in range(n_layers)]
    return {
        "post": torch.stack(post),
        "mid": torch.stack(mid),
        "logits": out.logits[0].detach(),
        "hidden_states": torch.stack([h[0] for h in out.hidden_states]),
    }


# --------------------------------------------------------------------------
# Float64 lens
# --------------------------------------------------------------------------


def final_norm_f64(model, h: torch.Tensor) -> torch.Tensor:
    """The model's final RMSNorm, computed in float64."""
    norm = model.model.norm
    h = h.to(torch.float64)
    scale = torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
    return norm.weight.detach().to(torch.float64) * (h * scale)


def unembedding_f64(model) -> torch.Tensor:
    return model.lm_head.weight.detach().to(torch.float64)


def lens_logits(model, h: torch.Tensor) -> torch.Tensor:
    """[..., d] residual -> [..., V] float64 logits."""
    return final_norm_f64(model, h) @ unembedding_f64(model).T


def top_k_lower_id_first(logprobs: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values per row; ties broken by lower id."""
    order = np.argsort(-logprobs, axis=-1, kind="stable")
    return order[..., :k]


def site_statistics(logits: torch.Tensor, final_logprobs: torch.Tensor, target: int, k: int) -> dict[str, np.ndarray]:
    """Per-position quantities for one site; logits [T, V] float64."""
    logprobs = torch.log_softmax(logits, dim=-1)
    probs = logprobs.exp()
    lp = logprobs.numpy()
    top_ids = top_k_lower_id_first(lp, k)
    top_probs = np.take_along_axis(probs.numpy(), top_ids, axis=-1)
    entropy = -(probs * logprobs).sum(-1)
    kl = (final_logprobs.exp() * (final_logprobs - logprobs)).sum(-1)
    target_logit = logits[:, target : target + 1]
    rank = (logits > target_logit).sum(-1)
    return {
        "top_ids": top_ids,
        "top_probs": top_probs,
        "entropy": entropy.numpy(),
        "kl_to_final": kl.numpy(),
        "target_prob": probs[:, target].numpy(),
        "target_logprob": logprobs[:, target].numpy(),
        "target_rank": rank.numpy(),
    }


def lens_over_sites(model, sites: torch.Tensor, final_logprobs: torch.Tensor, target: int, k: int) -> dict[str, list]:
    """Stack site_statistics over the first dimension of sites [S, T, d]."""
    per_site = [site_statistics(lens_logits(model, h), final_logprobs, target, k) for h in sites]
    return {key: np.stack([s[key] for s in per_site]) for key in per_site[0]}


def inspect_readings(model, seed: int) -> dict[str, np.ndarray]:
    """Full-vocabulary raw / normed / cosine scores of seeded random vectors."""
    d = model.config.hidden_size
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(INSPECT_ROWS, d, generator=gen, dtype=torch.float64)
    w_u = unembedding_f64(model)
    gamma = model.model.norm.weight.detach().to(torch.float64)
    cosine = (v @ w_u.T) / (v.norm(dim=-1, keepdim=True) * w_u.norm(dim=-1)[None, :])
    return {
        "vectors": v.numpy(),
        "raw": (v @ w_u.T).numpy(),
        "normed": ((gamma * v) @ w_u.T).numpy(),
        "cosine": cosine.numpy(),
    }


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def check_capture(model, cap: dict[str, Any]) -> None:
    post, mid, hidden = cap["post"], cap["mid"], cap["hidden_states"]
    n_layers = mid.shape[0]
    assert post.shape[0] == hidden.shape[0] == n_layers + 1
    torch.testing.assert_close(post[:n_layers], hidden[:n_layers], rtol=0, atol=0)
    # transformers' last hidden state is already normed; ours is not.
    torch.testing.assert_close(model.model.norm(post[n_layers]), hidden[n_layers], rtol=0, atol=0)
    gap = (post[n_layers] - hidden[n_layers]).abs().max().item()
    assert gap > 1e-3, "expected hidden_states[L] to differ from the un-normed block output"
    # The float64 lens at the last site reproduces the model's own logits.
    torch.testing.assert_close(lens_logits(model, post[n_layers]), cap["logits"].to(torch.float64), rtol=1e-4, atol=1e-4)
    # mid + MLP(post_attention_layernorm(mid)) is the block output.
    with torch.no_grad():
        for l, layer in enumerate(model.model.layers):
            rebuilt = mid[l] + layer.mlp(layer.post_attention_layernorm(mid[l]))
            torch.testing.assert_close(rebuilt, post[l + 1], rtol=1e-5, atol=1e-5)


def check_lens(post: dict[str, np.ndarray]) -> None:
    assert np.all(np.abs(post["kl_to_final"][-1]) < 1e-12), "KL of the final site to itself must be 0"
    assert np.all(post["kl_to_final"] > -1e-12)
    assert np.all(post["target_rank"] >= 0)


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def rounded(value: Any) -> Any:
    """Nested lists with floats rounded to SIGNIFICANT_DIGITS digits."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


def fixture_entry(name: str, seed: int) -> dict[str, Any]:
    model = load_model(FIXTURE_ROOT / name)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(seed)
    tokens = draw_tokens(vocab, gen)
    cap = capture_residuals(model, tokens)
    check_capture(model, cap)
    all_logits = lens_logits(model, torch.cat([cap["post"], cap["mid"]]))
    check_top_k_margin(all_logits, TOP_K)
    target = pick_target(all_logits, gen)

    final_logprobs = torch.log_softmax(lens_logits(model, cap["post"][-1]), dim=-1)
    post = lens_over_sites(model, cap["post"], final_logprobs, target, TOP_K)
    mid = lens_over_sites(model, cap["mid"], final_logprobs, target, TOP_K)
    check_lens(post)
    inspect = inspect_readings(model, seed + 1)

    last_top1 = post["top_ids"][:, -1, 0].tolist()
    print(f"{name}: L={len(model.model.layers)} V={vocab} tokens={tokens} target={target} "
          f"top-1 at last position per post site: {last_top1}")
    return {
        "tokens": tokens,
        "k": TOP_K,
        "target": target,
        "post": {key: rounded(val) for key, val in post.items()},
        "mid": {key: rounded(val) for key, val in mid.items()},
        "inspect": {key: rounded(val) for key, val in inspect.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    args = parser.parse_args()

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    golden = {name: fixture_entry(name, SEED + 100 * i) for i, name in enumerate(FIXTURES)}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
