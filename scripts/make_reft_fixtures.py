#!/usr/bin/env python3
"""Reference gradients of ReFT interventions for the intervention tests.

Writes into ``Tests/SteeringTests/Fixtures/reft/``, from the fixture checkpoint
``Tests/ModelTests/Fixtures/llama_gqa_llama3rope`` (transformers, float32, eager attention):

* ``<kind>.safetensors`` for each of loreft, noreft, direft, nodireft, consreft, lobireft: rank-2
  interventions on the output of both blocks (layers 0 and 1), positions f3+l2 untied (one
  intervention for the first positions, one for the last), in the workbench's run format
  (tensors ``reft.<layer>.<first|last>.R`` [r, d] (P), ``.W`` [r, d], ``.b`` [r]; metadata
  ``reft_settings``). R has orthonormal rows for the kinds that keep them; every value random.
* ``reference.safetensors``: 6 prompts of 3–8 token ids (so the paper's clamping of the counts,
  p ← min(p, ⌊n/2⌋), s ← min(s, ⌈n/2⌉), is exercised) with completions of 2–5 ids, rewards,
  π_old, and per kind
  - ``<kind>.sft.loss`` / ``<kind>.sft.grad.<parameter>``: mean cross-entropy over the completion
    tokens, interventions on prompt positions only;
  - ``<kind>.rl.loss`` / ``<kind>.rl.grad.<parameter>``: the DAPO-reduced clipped policy-gradient
    loss with the k3 KL term (RLOO advantages, no std scaling, ε 0.2 / 0.28, β 0.05, π_ref = the
    model without interventions), as in make_adapter_fixtures.py.

Φ(h) = h + Pᵀ(z), z = W h + b − P h with the parts each kind has (methods.md §4). Gradients are
taken with respect to P, W and b as plain tensors (no orthogonal parametrisation: the workbench
keeps R orthonormal by a QR retraction after each update). Run
``python3 scripts/make_reft_fixtures.py``; the output is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

import policy_reference  # scripts/policy_reference.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "Tests" / "ModelTests" / "Fixtures" / "llama_gqa_llama3rope"
OUT = ROOT / "Tests" / "SteeringTests" / "Fixtures" / "reft"
KINDS = {  # orthonormal, has W, subtracts P h
    "loreft": (True, True, True), "noreft": (False, True, True), "direft": (True, True, False),
    "nodireft": (False, True, False), "consreft": (True, False, True), "lobireft": (True, False, False),
}
FIRST, LAST, RANK, LAYERS = 3, 2, 2, [0, 1]
GROUP, EPS_LOW, EPS_HIGH, BETA = 3, 0.2, 0.28, 0.05


def positions(n: int, group: str) -> list[int]:
    if group == "first":
        return list(range(min(FIRST, n // 2)))
    s = min(LAST, (n + 1) // 2)
    return list(range(n - s, n))


def completion_logprobs(model, params, kind, prompt, completion):
    _, has_w, subtract = KINDS[kind] if kind else (None, None, None)
    hooks = []
    if kind:
        for l in LAYERS:
            def edit(module, inputs, output, l=l):
                h = output[0] if isinstance(output, (tuple, list)) else output
                h = h.clone()
                for group in ("first", "last"):
                    name = f"reft.{l}.{group}"
                    p, b = params[name + ".R"], params[name + ".b"]
                    idx = positions(len(prompt), group)
                    x = h[0, idx]
                    z = b.expand(len(idx), -1)
                    if has_w:
                        z = z + x @ params[name + ".W"].T
                    if subtract:
                        z = z - x @ p.T
                    h[0, idx] = x + z @ p
                return (h,) + tuple(output[1:]) if isinstance(output, (tuple, list)) else h
            hooks.append((model.model.layers[l], edit))
    return policy_reference.completion_logprobs(model, prompt, completion, hooks)


def main() -> None:
    torch.manual_seed(0)
    model = policy_reference.frozen_model(MODEL)
    V, d = model.config.vocab_size, model.config.hidden_size
    gen = torch.Generator().manual_seed(5)
    lengths = [3, 4, 5, 6, 7, 8]
    prompts = [torch.randint(1, V, (n,), generator=gen).tolist() for n in lengths]
    completions = [torch.randint(1, V, (int(torch.randint(2, 6, (1,), generator=gen)),), generator=gen).tolist() for _ in prompts]
    rewards = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    groups = rewards.view(-1, GROUP)
    advantages = (groups - (groups.sum(dim=1, keepdim=True) - groups) / (GROUP - 1)).reshape(-1)
    tokens = sum(len(c) for c in completions)
    with torch.no_grad():
        reference = [completion_logprobs(model, {}, None, p, c) for p, c in zip(prompts, completions)]
    old = [lp + (torch.rand(lp.shape, generator=gen) - 0.5) * 0.6 for lp in reference]
    out = {
        "prompts": torch.tensor(sum(prompts, []), dtype=torch.int32),
        "prompt_lengths": torch.tensor(lengths, dtype=torch.int32),
        "completions": torch.tensor(sum(completions, []), dtype=torch.int32),
        "completion_lengths": torch.tensor([len(c) for c in completions], dtype=torch.int32),
        "rewards": rewards, "old_logprobs": torch.cat(old).float(),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for kind, (orthonormal, has_w, _) in KINDS.items():
        params = {}
        for l in LAYERS:
            for group in ("first", "last"):
                name = f"reft.{l}.{group}"
                p = torch.randn(RANK, d, generator=gen)
                params[name + ".R"] = torch.linalg.qr(p.T)[0].T.contiguous() if orthonormal else p * 0.1
                if has_w:
                    params[name + ".W"] = torch.randn(RANK, d, generator=gen) * 0.1
                params[name + ".b"] = torch.randn(RANK, generator=gen) * 0.5
        settings = {"kind": kind, "layers": LAYERS, "first": FIRST, "last": LAST, "shareWeights": False, "rank": RANK, "seed": 0}
        save_file(params, str(OUT / f"{kind}.safetensors"), metadata={"format": "pt", "reft_settings": json.dumps(settings)})
        for objective in ("sft", "rl"):
            leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
            total = torch.zeros((), dtype=torch.float64)
            for i, (p, c) in enumerate(zip(prompts, completions)):
                lp = completion_logprobs(model, leaves, kind, p, c).double()
                if objective == "sft":
                    total = total - lp.sum() / tokens
                    continue
                term = policy_reference.clipped_term(lp, old[i].double(), advantages[i].double(), EPS_LOW, EPS_HIGH,
                                                     reference[i].double(), BETA)
                total = total + term.sum() / tokens
            total.backward()
            out[f"{kind}.{objective}.loss"] = total.detach().float().reshape(1)
            for k, leaf in leaves.items():
                out[f"{kind}.{objective}.grad.{k}"] = leaf.grad.detach().float().contiguous()
    save_file(out, str(OUT / "reference.safetensors"))
    print(f"wrote {OUT}: {len(KINDS)} kinds, reference with {len(out)} tensors")


if __name__ == "__main__":
    main()
