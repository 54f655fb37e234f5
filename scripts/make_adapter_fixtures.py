#!/usr/bin/env python3
"""Reference gradients of LoRA, LoRA-XS and TinyLoRA parameters for the adapter tests.

Writes into ``Tests/SteeringTests/Fixtures/adapters/``, from the fixture checkpoint
``Tests/ModelTests/Fixtures/llama_gqa_llama3rope`` (transformers, float32, eager attention):

* one adapter file per case, in the workbench's run format (docs/formats.md: PEFT's tensor
  names without PEFT's prefixes, metadata ``adapter_kind`` and ``adapter_modules``), so the
  tests load exactly these values:
  - ``lora``: r = 2, α = 4 (scale 2) on all 7 linears of both blocks, A and B random;
  - ``loraxs``: r = 2, A = V_rᵀ and B = U_r Σ_r from torch's SVD of each weight, R random;
  - ``tinylora_untied``: r = 2, u = 3, P ~ N(0, 1/r), one random v per module;
  - ``tinylora_tied``: the same with 3 neighbouring modules sharing one v (14 modules, 5 groups);
* ``reference.safetensors``: the token sequences (6 prompts of 4–6 ids, completions of 2–7 ids,
  2 groups of 3), rewards, π_old (the current log-probability plus uniform noise in ±0.3), and
  for each case
  - ``<case>.rl.loss`` and ``<case>.rl.grad.<parameter>``: the DAPO-reduced clipped policy-gradient
    loss with the k3 KL term, RLOO advantages without std scaling, ε_low 0.2, ε_high 0.28,
    β 0.05, π_ref = the model without the adapter:
        ℓ_{i,t} = −min(ρ A_i, clamp(ρ, 1 − ε_low, 1 + ε_high) A_i) + β (exp(δ) − δ − 1),
        δ = log π_ref − log π,  L = Σ ℓ / Σ n_i
  - ``<case>.sft.loss`` and ``<case>.sft.grad.<parameter>``: the mean cross-entropy over the
    completion tokens, −Σ log π / Σ n_i;
  - ``lowrank.<module>``: U_r Σ_r V_rᵀ (r = 2) of three weights (a square, a wide and a tall
    one), to check the workbench's SVD (sign-free).

Parameter names are the workbench's: ``lora.<module>.A`` / ``.B``, ``loraxs.<module>.R`` (r × r,
flattened), ``tinylora.v.<group>``. Run ``python3 scripts/make_adapter_fixtures.py`` (torch +
transformers); the output is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

import policy_reference  # scripts/policy_reference.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "Tests" / "ModelTests" / "Fixtures" / "llama_gqa_llama3rope"
OUT = ROOT / "Tests" / "SteeringTests" / "Fixtures" / "adapters"
SITES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LOWRANK_CHECKED = ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.1.mlp.down_proj"]
GROUP, EPS_LOW, EPS_HIGH, BETA, RANK, U = 3, 0.2, 0.28, 0.05, 2, 3


def module_names(model) -> list[str]:
    return [f"model.layers.{l}.{'self_attn' if s[0] in 'qkvo' else 'mlp'}.{s}"
            for l in range(model.config.num_hidden_layers) for s in SITES]


def make_cases(model, gen):
    """Each case: (kind, {module: factors}, {parameter name: tensor}, groups, file tensors)."""
    names = module_names(model)
    linear = {n: model.get_submodule(n) for n in names}
    cases = {}
    # LoRA: both factors random so that both get a gradient.
    params, tensors, entries = {}, {}, []
    for n in names:
        w = linear[n].weight
        a = (torch.rand(RANK, w.shape[1], generator=gen) * 2 - 1) / w.shape[1] ** 0.5
        b = torch.randn(w.shape[0], RANK, generator=gen) * 0.1
        params[f"lora.{n}.A"], params[f"lora.{n}.B"] = a, b
        tensors[f"{n}.lora_A.weight"], tensors[f"{n}.lora_B.weight"] = a, b
        entries.append({"module": n, "scale": 2.0})
    cases["lora"] = ("lora", params, tensors, entries)
    # LoRA-XS and TinyLoRA share the SVD factors.
    svd = {}
    for n in names:
        u, s, vh = torch.linalg.svd(linear[n].weight.detach().double(), full_matrices=False)
        svd[n] = (vh[:RANK].float().contiguous(), (u[:, :RANK] * s[:RANK]).float().contiguous())
    params, tensors, entries = {}, {}, []
    for n in names:
        a, b = svd[n]
        r = torch.randn(RANK, RANK, generator=gen) * 0.05
        params[f"loraxs.{n}.R"] = r.reshape(-1)
        tensors.update({f"{n}.loraxs_A": a, f"{n}.loraxs_B": b, f"{n}.loraxs_R": r})
        entries.append({"module": n})
    cases["loraxs"] = ("loraxs", params, tensors, entries)
    for case, tie in [("tinylora_untied", 1), ("tinylora_tied", 3)]:
        params, tensors, entries = {}, {}, []
        for i, n in enumerate(names):
            a, b = svd[n]
            g = i // tie
            if f"tinylora.v.{g}" not in params:
                params[f"tinylora.v.{g}"] = torch.randn(U, generator=gen) * 0.05
                tensors[f"tinylora_v.{g}"] = params[f"tinylora.v.{g}"]
            p = torch.randn(U, RANK, RANK, generator=gen) / RANK ** 0.5
            tensors.update({f"{n}.tinylora_A": a, f"{n}.tinylora_B": b, f"{n}.tinylora_P": p})
            entries.append({"module": n, "group": g})
        cases[case] = ("tinylora", params, tensors, entries)
    return cases, svd


def delta_fn(kind, params, tensors, n):
    """x ↦ s x ΔWᵀ for module n, differentiable in params."""
    if kind == "lora":
        a, b = params[f"lora.{n}.A"], params[f"lora.{n}.B"]
        return lambda x: 2.0 * (x @ a.T) @ b.T
    if kind == "loraxs":
        a, b = tensors[f"{n}.loraxs_A"], tensors[f"{n}.loraxs_B"]
        m = params[f"loraxs.{n}.R"].reshape(RANK, RANK)
        return lambda x: ((x @ a.T) @ m.T) @ b.T
    a, b, p = tensors[f"{n}.tinylora_A"], tensors[f"{n}.tinylora_B"], tensors[f"{n}.tinylora_P"]
    group = next(e["group"] for e in CURRENT_ENTRIES if e["module"] == n)
    v = params[f"tinylora.v.{group}"]
    m = torch.einsum("i,ijk->jk", v, p)
    return lambda x: ((x @ a.T) @ m.T) @ b.T


CURRENT_ENTRIES: list = []


def completion_logprobs(model, deltas, prompt, completion):
    hooks = [(model.get_submodule(n), lambda mod, inp, out, fn=fn: out + fn(inp[0])) for n, fn in deltas.items()]
    return policy_reference.completion_logprobs(model, prompt, completion, hooks)


def main() -> None:
    global CURRENT_ENTRIES
    torch.manual_seed(0)
    model = policy_reference.frozen_model(MODEL)
    V = model.config.vocab_size
    gen = torch.Generator().manual_seed(3)
    prompts = [torch.randint(1, V, (int(torch.randint(4, 7, (1,), generator=gen)),), generator=gen).tolist() for _ in range(6)]
    completions = [torch.randint(1, V, (int(torch.randint(2, 8, (1,), generator=gen)),), generator=gen).tolist() for _ in range(6)]
    rewards = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    groups = rewards.view(-1, GROUP)
    advantages = (groups - (groups.sum(dim=1, keepdim=True) - groups) / (GROUP - 1)).reshape(-1)
    tokens = sum(len(c) for c in completions)
    with torch.no_grad():
        reference = [completion_logprobs(model, {}, p, c) for p, c in zip(prompts, completions)]
    cases, svd = make_cases(model, gen)
    out = {
        "prompts": torch.tensor(sum(prompts, []), dtype=torch.int32),
        "prompt_lengths": torch.tensor([len(p) for p in prompts], dtype=torch.int32),
        "completions": torch.tensor(sum(completions, []), dtype=torch.int32),
        "completion_lengths": torch.tensor([len(c) for c in completions], dtype=torch.int32),
        "rewards": rewards,
    }
    for n in LOWRANK_CHECKED:
        a, b = svd[n]
        out[f"lowrank.{n}"] = (b @ a).contiguous()
    OUT.mkdir(parents=True, exist_ok=True)
    old = None
    for case, (kind, params, tensors, entries) in cases.items():
        CURRENT_ENTRIES = entries
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / f"{case}.safetensors"),
                  metadata={"format": "pt", "adapter_kind": kind, "adapter_modules": json.dumps(entries)})
        for objective in ["rl", "sft"]:
            leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
            deltas = {e["module"]: delta_fn(kind, leaves, tensors, e["module"]) for e in entries}
            current = [completion_logprobs(model, deltas, p, c) for p, c in zip(prompts, completions)]
            if old is None:   # π_old: the first case's current log-probabilities plus noise
                old = [lp.detach() + (torch.rand(lp.shape, generator=gen) - 0.5) * 0.6 for lp in current]
                out["old_logprobs"] = torch.cat(old).float()
            total = torch.zeros((), dtype=torch.float64)
            for i, lp in enumerate(current):
                lp = lp.double()
                if objective == "sft":
                    total = total - lp.sum() / tokens
                    continue
                term = policy_reference.clipped_term(lp, old[i].double(), advantages[i].double(), EPS_LOW, EPS_HIGH,
                                                     reference[i].double(), BETA)
                total = total + term.sum() / tokens
            total.backward()
            out[f"{case}.{objective}.loss"] = total.detach().float().reshape(1)
            for k, leaf in leaves.items():
                out[f"{case}.{objective}.grad.{k}"] = leaf.grad.detach().float().contiguous().reshape(-1)
    save_file(out, str(OUT / "reference.safetensors"))
    print(f"wrote {OUT}: {len(cases)} adapters, reference with {len(out)} tensors")


if __name__ == "__main__":
    main()
