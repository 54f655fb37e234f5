#!/usr/bin/env python3
"""Generate training-loss gradient fixtures for the Swift runtime's model tests.

For a few of the parity fixtures written by ``scripts/make_fixtures.py`` this
loads the saved checkpoint with transformers (float32, eager attention),
evaluates a summed next-token cross-entropy loss on the fixture's reference
batch and writes the loss, its gradients and a few intermediate gradients to
``Tests/ModelTests/Fixtures/<name>/gradients.safetensors``.

Run ``python3 scripts/make_gradient_fixtures.py`` (after ``make_fixtures.py``,
which recreates the fixture directories from scratch) to regenerate.  The
output is deterministic.

Loss definition
---------------
``labels[b, t] = input_ids[b, t + 1]`` except that a position is ignored
(label -100) when it is the last position, when its own token is padding,
when its target token is padding, or when it is listed in ``EXTRA_IGNORED``
(position t = 1 of row 0, an arbitrary hole in the loss mask).  The loss is
the SUM over the remaining positions of ``cross_entropy(logits[b, t],
labels[b, t])`` computed in float32; no division by the token count.

Contents of gradients.safetensors
---------------------------------
* ``labels`` int32 [B, T], ``loss`` float32 [1], ``token_count`` int32 [1].
* ``logits`` float32 [B, T, V] from the same forward (cross-check).
* ``grad.<hf parameter name>`` float32, one per parameter of the model.  For a
  model with tied embeddings there is no ``lm_head.weight`` parameter and
  ``grad.model.embed_tokens.weight`` holds the sum of the input-embedding
  and the output-projection (unembedding) contributions.
* ``grad_residual`` float32 [L + 1, B, T, d]: dLoss/dh_r for the residual
  stream tensors of ``reference.safetensors``'s ``residual`` (h_0 is the
  embedding output, h_r the output of decoder layer r - 1, before the final
  norm).
* ``tap.<module>.input`` float32 [B, T, in] and ``tap.<module>.output_grad``
  float32 [B, T, out] for the MLP linears of decoder layer ``TAP_LAYER``: the
  linear's input activations and dLoss/d(linear output).  The weight gradient
  is ``sum_{b,t} output_grad[b, t]^T input[b, t]``.
* ``grad.steer.<STEER_LAYER>`` float32 [d]: dLoss/ds for a vector s (zero at
  evaluation) added to the output of that decoder layer at every position,
  padding positions included.

Inputs (``input_ids``, ``attention_mask``, ``position_ids``) are not
duplicated: they are read from the fixture's ``reference.safetensors`` and
position ids are passed explicitly to the forward.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
import types
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

import transformers
from transformers import AutoModelForCausalLM

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO_ROOT / "Tests" / "ModelTests" / "Fixtures"

FIXTURES = ["llama_gqa_llama3rope", "qwen2_bias_tied_f16"]
OUTPUT_NAME = "gradients.safetensors"

IGNORE_INDEX = -100
# Positions (row, t) removed from the loss in addition to the padding rule.
EXTRA_IGNORED = [(0, 1)]
STEER_LAYER = 0
TAP_LAYER = 0
TAP_LINEARS = ["gate_proj", "up_proj", "down_proj"]

# Finite-difference check: central differences in float64 on one weight.
FD_PARAM = f"model.layers.{TAP_LAYER}.mlp.down_proj.weight"
FD_FIXED_INDEX = (5, 17)
FD_STEP = 1e-5
FD_TOLERANCE = 1e-3  # relative, float64 FD versus float32 autograd

README_BEGIN = "<!-- gradient fixtures: begin -->"
README_END = "<!-- gradient fixtures: end -->"


# --------------------------------------------------------------------------
# Model, inputs and loss
# --------------------------------------------------------------------------


def load_model(fixture_dir: Path) -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(
        fixture_dir, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    for name, param in model.named_parameters():
        if param.dtype != torch.float32:
            raise RuntimeError(f"{name} loaded as {param.dtype}, expected float32")
        param.requires_grad_(True)
    return model


def load_inputs(fixture_dir: Path) -> dict[str, torch.Tensor]:
    ref = load_file(str(fixture_dir / "reference.safetensors"))
    return {
        "ids": ref["input_ids"].long(),
        "mask": ref["attention_mask"].long(),
        "pos": ref["position_ids"].long(),
        "ref_logits": ref["logits"],
        "ref_residual": ref["residual"],
    }


def make_labels(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Next-token targets with the ignore rules described in the module doc."""
    labels = torch.full_like(ids, IGNORE_INDEX)
    target_real = mask[:, 1:].bool()
    own_real = mask[:, :-1].bool()
    keep = own_real & target_real
    labels[:, :-1] = torch.where(keep, ids[:, 1:], torch.full_like(ids[:, 1:], IGNORE_INDEX))
    for row, t in EXTRA_IGNORED:
        labels[row, t] = IGNORE_INDEX
    return labels


def summed_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of token cross-entropies over positions whose label is not ignored."""
    vocab = logits.shape[-1]
    return F.cross_entropy(
        logits.reshape(-1, vocab),
        labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


def forward(model, ids, mask, pos):
    return model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits


def parameter_grads(model, ids, mask, pos, labels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss and d(loss)/d(parameter) for every named parameter."""
    model.zero_grad(set_to_none=True)
    loss = summed_loss(forward(model, ids, mask, pos), labels)
    loss.backward()
    grads = {}
    for name, param in model.named_parameters():
        if param.grad is None:
            raise RuntimeError(f"no gradient reached {name}")
        grads[name] = param.grad.detach().clone()
    model.zero_grad(set_to_none=True)
    return loss.detach(), grads


# --------------------------------------------------------------------------
# Probed forward/backward: residual-stream gradients and linear taps
# --------------------------------------------------------------------------


def probed_backward(model, ids, mask, pos, labels) -> dict[str, object]:
    backbone = model.model
    residual_grads: dict[int, torch.Tensor] = {}
    residual_values: dict[int, torch.Tensor] = {}
    tap_inputs: dict[str, torch.Tensor] = {}
    tap_output_grads: dict[str, torch.Tensor] = {}
    handles = []

    def residual_hook(index: int):
        def hook(_module, _inputs, output):
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            residual_values[index] = tensor.detach().clone()

            def store(grad):
                residual_grads[index] = grad.detach().clone()

            tensor.register_hook(store)

        return hook

    def tap_hook(name: str):
        def hook(_module, inputs, output):
            tap_inputs[name] = inputs[0].detach().clone()

            def store(grad):
                tap_output_grads[name] = grad.detach().clone()

            output.register_hook(store)

        return hook

    handles.append(backbone.embed_tokens.register_forward_hook(residual_hook(0)))
    for i, layer in enumerate(backbone.layers):
        handles.append(layer.register_forward_hook(residual_hook(i + 1)))
    tap_names = []
    for proj in TAP_LINEARS:
        name = f"model.layers.{TAP_LAYER}.mlp.{proj}"
        tap_names.append(name)
        handles.append(model.get_submodule(name).register_forward_hook(tap_hook(name)))

    model.zero_grad(set_to_none=True)
    try:
        logits = forward(model, ids, mask, pos)
        loss = summed_loss(logits, labels)
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()

    n_layers = model.config.num_hidden_layers
    if sorted(residual_grads) != list(range(n_layers + 1)):
        raise RuntimeError(f"residual gradients captured for {sorted(residual_grads)}")
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return {
        "loss": loss.detach(),
        "logits": logits.detach(),
        "grads": grads,
        "residual": torch.stack([residual_values[i] for i in range(n_layers + 1)]),
        "grad_residual": torch.stack([residual_grads[i] for i in range(n_layers + 1)]),
        "tap_inputs": {n: tap_inputs[n] for n in tap_names},
        "tap_output_grads": {n: tap_output_grads[n] for n in tap_names},
    }


def steering_gradient(model, ids, mask, pos, labels) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """dLoss/ds for s added to decoder layer STEER_LAYER's output everywhere."""
    hidden = model.config.hidden_size
    steer = torch.zeros(hidden, dtype=torch.float32, requires_grad=True)

    def add_steer(_module, _inputs, output):
        if isinstance(output, (tuple, list)):
            return (output[0] + steer,) + tuple(output[1:])
        return output + steer

    handle = model.model.layers[STEER_LAYER].register_forward_hook(add_steer)
    model.zero_grad(set_to_none=True)
    try:
        logits = forward(model, ids, mask, pos)
        loss = summed_loss(logits, labels)
        (grad,) = torch.autograd.grad(loss, [steer])
    finally:
        handle.remove()
    return grad.detach(), loss.detach(), logits.detach()


# --------------------------------------------------------------------------
# Float64 finite differences
# --------------------------------------------------------------------------


def _rms_norm_same_dtype(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


@contextlib.contextmanager
def full_float64(model: torch.nn.Module) -> Iterator[None]:
    """Make a float64 copy of a transformers model compute in float64 end to end.

    ``model.double()`` alone is not enough: the RMSNorm modules upcast to
    float32 and cast back, and eager attention runs its softmax with
    ``dtype=torch.float32``, so float32 rounding noise would dominate a finite
    difference.  Worse, the float64 eager mask value finfo(float64).min becomes
    -inf when the scores are cast to float32, so the fully masked query rows of
    the left-padded row turn into NaN, and 0 * NaN in the next layer's
    attention spreads NaN to the real positions and the loss.  Inside this
    context RMSNorm computes in its input dtype and
    float64 softmax inputs stay float64.  (RoPE cos/sin stay float32-rounded
    constants, which is harmless: they do not depend on the weights.)"""
    patched = []
    for module in model.modules():
        if type(module).__name__.endswith("RMSNorm"):
            module.forward = types.MethodType(_rms_norm_same_dtype, module)
            patched.append(module)
    original_softmax = torch.nn.functional.softmax

    def softmax(input, dim=None, _stacklevel=3, dtype=None):
        if input.dtype == torch.float64 and dtype is not None and dtype != torch.float64:
            dtype = None
        return original_softmax(input, dim=dim, _stacklevel=_stacklevel, dtype=dtype)

    torch.nn.functional.softmax = softmax
    try:
        yield
    finally:
        torch.nn.functional.softmax = original_softmax
        for module in patched:
            del module.forward


def finite_difference_check(model, ids, mask, pos, labels, grads32) -> list[str]:
    model64 = copy.deepcopy(model).double()
    lines = []
    grad32 = grads32[FD_PARAM]
    argmax = divmod(int(grad32.abs().argmax()), grad32.shape[1])
    with full_float64(model64), torch.no_grad():
        param = model64.get_parameter(FD_PARAM)

        def loss_at() -> float:
            return summed_loss(forward(model64, ids, mask, pos), labels).item()

        loss64 = loss_at()
        for index in (argmax, FD_FIXED_INDEX):
            original = param[index].item()
            param[index] = original + FD_STEP
            up = loss_at()
            param[index] = original - FD_STEP
            down = loss_at()
            param[index] = original
            fd = (up - down) / (2 * FD_STEP)
            auto = grad32[index].item()
            rel = abs(fd - auto) / max(abs(fd), 1e-12)
            lines.append(
                f"  FD {FD_PARAM}[{index[0]},{index[1]}]: float64 central diff = {fd:+.9e}, "
                f"float32 autograd = {auto:+.9e}, rel diff = {rel:.2e}"
            )
            if rel > FD_TOLERANCE:
                raise RuntimeError("finite difference disagrees with autograd:\n" + lines[-1])
    # Float64 autograd of the whole tensor, as a tighter reference.
    with full_float64(model64):
        _, grads64 = parameter_grads(model64, ids, mask, pos, labels)
    g64 = grads64[FD_PARAM]
    rel_all = ((grad32.double() - g64).abs().max() / g64.abs().max()).item()
    lines.append(
        f"  float64 loss = {loss64:.9f}; max|grad32 - grad64| / max|grad64| over "
        f"{FD_PARAM} = {rel_all:.2e}"
    )
    return lines


# --------------------------------------------------------------------------
# Consistency checks on the probed results
# --------------------------------------------------------------------------


def check_probes(model, inputs, labels, probe, steer_grad, steer_loss, steer_logits) -> list[str]:
    lines = []
    mask = inputs["mask"].bool()
    pad = ~mask
    logits = probe["logits"]

    # Forward agrees with the stored parity reference at real positions.
    dl = (logits - inputs["ref_logits"])[mask].abs().max().item()
    dr = (probe["residual"] - inputs["ref_residual"])[:, mask].abs().max().item()
    if dl > 1e-4 or dr > 1e-4:
        raise RuntimeError(f"forward differs from reference.safetensors: logits {dl}, residual {dr}")
    lines.append(f"  vs reference.safetensors (real positions): max|dlogits| = {dl:.1e}, max|dresidual| = {dr:.1e}")

    # Masked (all-padding) query rows: eager attention adds finfo.min to every
    # key, so the softmax is uniform over all T keys (no NaN).
    if not torch.isfinite(logits).all() or not torch.isfinite(probe["grad_residual"]).all():
        raise RuntimeError("non-finite logits or residual gradients")

    # Padding positions receive exactly zero gradient: they are not in the loss
    # and no real query attends to them (exp(finfo.min - max) == 0).
    pad_grad = probe["grad_residual"][:, pad].abs().max().item()
    pad_tap = max(g[pad].abs().max().item() for g in probe["tap_output_grads"].values())
    lines.append(f"  max|grad_residual| at padding = {pad_grad:.1e}; max|tap output_grad| at padding = {pad_tap:.1e}")

    # Weight gradient of each tapped linear is output_grad^T @ input.
    for name, x in probe["tap_inputs"].items():
        g = probe["tap_output_grads"][name]
        rebuilt = torch.einsum("bto,bti->oi", g.double(), x.double())
        stored = probe["grads"][name + ".weight"].double()
        err = ((rebuilt - stored).abs().max() / stored.abs().max()).item()
        if err > 1e-5:
            raise RuntimeError(f"{name}: tap statistics do not rebuild the weight gradient ({err})")
    lines.append("  tap output_grad^T @ input reproduces each tapped weight gradient")

    # Steering gradient equals the sum of grad_residual[STEER_LAYER + 1].
    if not torch.equal(steer_loss, probe["loss"]) or not torch.equal(steer_logits, logits):
        raise RuntimeError("steering forward with s = 0 changed the loss or logits")
    gr = probe["grad_residual"][STEER_LAYER + 1].double()
    all_sum = gr.sum(dim=(0, 1))
    real_sum = gr[mask].sum(dim=0)
    d_all = (steer_grad.double() - all_sum).abs().max().item()
    d_real = (steer_grad.double() - real_sum).abs().max().item()
    if d_all > 1e-5:
        raise RuntimeError(f"grad.steer differs from summed grad_residual ({d_all})")
    lines.append(
        f"  grad.steer.{STEER_LAYER} vs sum of grad_residual[{STEER_LAYER + 1}]: all positions {d_all:.1e}, "
        f"real positions only {d_real:.1e}"
    )

    # Embedding gradient = scatter of dLoss/dh_0 over token ids (+ unembedding
    # contribution when the output projection is tied to the embedding).
    emb_name = "model.embed_tokens.weight"
    emb = model.get_parameter(emb_name)
    rebuilt = torch.zeros_like(emb, dtype=torch.float64)
    rebuilt.index_add_(0, inputs["ids"].reshape(-1), probe["grad_residual"][0].reshape(-1, emb.shape[1]).double())
    tied = model.lm_head.weight is emb
    if tied:
        with torch.no_grad():
            normed = model.model.norm(probe["residual"][-1]).double()
            probs = torch.softmax(logits.double(), dim=-1)
            keep = labels != IGNORE_INDEX
            dlogits = probs * keep[..., None]
            dlogits[keep] -= F.one_hot(labels[keep], probs.shape[-1]).double()
            rebuilt += torch.einsum("btv,btd->vd", dlogits, normed)
    stored = probe["grads"][emb_name].double()
    err = (rebuilt - stored).abs().max().item()
    if err > 1e-5:
        raise RuntimeError(f"embedding gradient decomposition off by {err}")
    lines.append(
        "  grad.model.embed_tokens.weight = scatter(grad_residual[0])"
        + (" + (softmax(logits) - onehot)^T norm(h_L) [tied]" if tied else "")
        + f": max err {err:.1e}"
    )
    return lines


def batch_invariance_check(model, inputs, labels, grads) -> list[str]:
    ids, mask, pos = inputs["ids"], inputs["mask"], inputs["pos"]
    lines = []
    loss0, g0 = parameter_grads(model, ids[0:1], mask[0:1], pos[0:1], labels[0:1])
    loss1p, g1p = parameter_grads(model, ids[1:2], mask[1:2], pos[1:2], labels[1:2])
    start = int((mask[1] == 0).sum())
    loss1u, g1u = parameter_grads(
        model,
        ids[1:2, start:],
        mask[1:2, start:],
        pos[1:2, start:],
        labels[1:2, start:],
    )
    for label, loss1, g1 in (("row 1 padded", loss1p, g1p), ("row 1 unpadded", loss1u, g1u)):
        diff = max((grads[n] - (g0[n] + g1[n])).abs().max().item() for n in grads)
        scale = max(grads[n].abs().max().item() for n in grads)
        lines.append(
            f"  batch invariance ({label}): loss row0 + row1 = {loss0.item() + loss1.item():.6f}; "
            f"max|grad(batch) - grad(row0) - grad(row1)| = {diff:.2e} (max|grad| = {scale:.2f})"
        )
        if diff > 1e-4 * max(scale, 1.0):
            raise RuntimeError("summed gradients are not batch-size invariant")
    return lines


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def build(fixture_dir: Path) -> list[str]:
    model = load_model(fixture_dir)
    inputs = load_inputs(fixture_dir)
    ids, mask, pos = inputs["ids"], inputs["mask"], inputs["pos"]
    labels = make_labels(ids, mask)
    token_count = int((labels != IGNORE_INDEX).sum())

    probe = probed_backward(model, ids, mask, pos, labels)
    steer_grad, steer_loss, steer_logits = steering_gradient(model, ids, mask, pos, labels)

    tied = model.lm_head.weight is model.model.embed_tokens.weight
    names = [n for n, _ in model.named_parameters()]
    if tied and "lm_head.weight" in names:
        raise RuntimeError("tied model lists lm_head.weight as a separate parameter")

    tensors: dict[str, torch.Tensor] = {
        "labels": labels.to(torch.int32),
        "loss": probe["loss"].reshape(1).float(),
        "token_count": torch.tensor([token_count], dtype=torch.int32),
        "logits": probe["logits"].float(),
        "grad_residual": probe["grad_residual"].float(),
        f"grad.steer.{STEER_LAYER}": steer_grad.float(),
    }
    # With tie_word_embeddings the single parameter model.embed_tokens.weight
    # serves as both input embedding and lm_head, so its gradient (stored under
    # grad.model.embed_tokens.weight) already includes the unembedding's
    # contribution and there is no grad.lm_head.weight.
    for name, grad in probe["grads"].items():
        tensors[f"grad.{name}"] = grad.float()
    for name in probe["tap_inputs"]:
        tensors[f"tap.{name}.input"] = probe["tap_inputs"][name].float()
        tensors[f"tap.{name}.output_grad"] = probe["tap_output_grads"][name].float()
    tensors = {k: v.contiguous() for k, v in tensors.items()}

    report = [
        f"  loss = {probe['loss'].item():.6f} over token_count = {token_count} "
        f"(mean {probe['loss'].item() / token_count:.6f}); tied embeddings: {tied}",
        f"  labels = {labels.tolist()}",
    ]
    report += check_probes(model, inputs, labels, probe, steer_grad, steer_loss, steer_logits)
    report += finite_difference_check(model, ids, mask, pos, labels, probe["grads"])
    report += batch_invariance_check(model, inputs, labels, probe["grads"])

    out = fixture_dir / OUTPUT_NAME
    # Single metadata key: keeps the file bytes reproducible.
    save_file(tensors, str(out), metadata={"format": "pt"})
    report.insert(0, f"wrote {out}  ({out.stat().st_size / 1024:.1f} KiB, {len(tensors)} tensors)")
    return report


README_SECTION = f"""{README_BEGIN}
## Gradient fixtures (`gradients.safetensors`)

`llama_gqa_llama3rope` and `qwen2_bias_tied_f16` also hold
`gradients.safetensors`, written by `python3 scripts/make_gradient_fixtures.py`
(deterministic; run it after `make_fixtures.py`, which recreates the fixture
directories). The model is loaded in float32 with eager attention and run on
the `reference.safetensors` inputs (explicit `position_ids`). `labels`
(int32 [B, T]) is `input_ids[b, t+1]`, or -100 (ignored) at the last position,
where the token or its target is padding, and at row 0, t = 1. `loss`
(float32 [1]) is the SUM, not the mean, of the float32 cross-entropy over the
counted positions; `token_count` (int32 [1]) is their number. The file also
holds `logits` from that forward; `grad.<name>` for every parameter (the tied
Qwen2 model has no `lm_head` parameter, so `grad.model.embed_tokens.weight`
includes the unembedding's contribution); `grad_residual` (float32
[L+1, B, T, hidden], dLoss/d of the `residual` tensors); `tap.<module>.input` /
`tap.<module>.output_grad` for `model.layers.0.mlp.{{gate,up,down}}_proj`
(linear input and dLoss/d output, [B, T, in] / [B, T, out]); and
`grad.steer.0` (float32 [hidden]), dLoss/ds for a vector s added to decoder
layer 0's output at every position. Gradients at padding positions are
exactly zero (no real query attends to padding), so `grad.steer.0` equals the
sum of `grad_residual[1]` over real positions. The script checks a weight
gradient against float64 central differences and that the batch gradient
equals the sum of the per-row gradients.
{README_END}
"""


def update_readme(root: Path) -> Path:
    path = root / "README.md"
    text = path.read_text() if path.exists() else ""
    if README_BEGIN in text and README_END in text:
        head, rest = text.split(README_BEGIN, 1)
        _, tail = rest.split(README_END, 1)
        text = head + README_SECTION.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + README_SECTION
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="fixture root directory")
    parser.add_argument("--only", nargs="*", choices=FIXTURES, help="fixture names to (re)build")
    args = parser.parse_args(argv)

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    for name in args.only or FIXTURES:
        fixture_dir = args.root / name
        if not (fixture_dir / "reference.safetensors").exists():
            raise SystemExit(f"{fixture_dir} has no reference.safetensors; run scripts/make_fixtures.py first")
        print(f"{name}:")
        for line in build(fixture_dir):
            print(line)
    print(f"updated {update_readme(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
