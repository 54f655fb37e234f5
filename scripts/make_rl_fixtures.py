#!/usr/bin/env python3
"""Reference policy-gradient losses and steering-vector gradients for the RL trainer's tests.

Writes ``Tests/SteeringTests/Fixtures/rl_reference.safetensors`` from the fixture checkpoint
``Tests/ModelTests/Fixtures/llama_gqa_llama3rope`` (transformers, float32, eager attention).

Setting
-------
* Steering vectors ``s_l`` [L, d] (random, N(0, 0.05²)) added to the output of every decoder
  layer at every position (forward hooks), the model frozen.
* 2 groups x 3 samples: 6 sequences; sequence i belongs to group i // 3, and the samples of a
  group share its prompt of 4-6 random token ids (as RL groups do, which the trainer packs into
  one row), each followed by its own completion of 2-7 random token ids.
* Rewards r (fixed, with spread in both groups); π_old = the current log-probability of each
  completion token plus uniform noise in [-0.3, 0.3] (so ratios differ from 1 and clipping is
  active); π_ref = the same model without the vectors.
* For every advantage estimator (group-mean, rloo) x std scaling (group, batch, none) x loss
  reduction (grpo, bnpo, dr-grpo, dapo) x KL coefficient β in {0, 0.05}, with ε_low = 0.2,
  ε_high = 0.28, max completion length 8 and all 6 sequences in one micro-batch:

      A_i      group-mean: r_i - mean(group); rloo: r_i - mean of the other samples' rewards;
               then / (std + 1e-4) with torch.std (unbiased) of the group or of all rewards
      ρ        exp(log π - log π_old)
      ℓ_{i,t}  -min(ρ A_i, clamp(ρ, 1 - ε_low, 1 + ε_high) A_i) + β (exp(δ) - δ - 1),
               δ = log π_ref - log π
      L        grpo: Σ_i (Σ_t ℓ / n_i) / N;  bnpo and dapo: Σ ℓ / Σ n_i;
               dr-grpo: Σ ℓ / (N x max length)

  the loss L and dL/ds [L, d] are stored as ``loss.<name>`` [1] and ``grad.<name>`` [L, d],
  name = ``<advantage>.<scaling>.<reduction>.kl<0|1>``.
* Also stored: ``vectors`` [L, d], ``prompts`` / ``completions`` (int32, flattened) with
  ``prompt_lengths`` / ``completion_lengths``, ``rewards`` [6], ``old_logprobs`` (flattened per
  completion token), ``logprobs`` (the current log π, flattened).

Run ``python3 scripts/make_rl_fixtures.py`` (torch + transformers); the output is deterministic.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from safetensors.torch import save_file

import policy_reference  # scripts/policy_reference.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "Tests" / "ModelTests" / "Fixtures" / "llama_gqa_llama3rope"
OUT = ROOT / "Tests" / "SteeringTests" / "Fixtures" / "rl_reference.safetensors"
GROUP = 3
EPS_LOW, EPS_HIGH, MAX_LEN, BETA = 0.2, 0.28, 8, 0.05


def completion_logprobs(model, vectors, prompt, completion, steer: bool) -> torch.Tensor:
    def add(l):
        def hook(module, inputs, output):
            if isinstance(output, (tuple, list)):
                return (output[0] + vectors[l],) + tuple(output[1:])
            return output + vectors[l]
        return hook
    hooks = [(layer, add(l)) for l, layer in enumerate(model.model.layers)] if steer else []
    return policy_reference.completion_logprobs(model, prompt, completion, hooks)


def advantages(rewards: torch.Tensor, estimator: str, scaling: str) -> torch.Tensor:
    groups = rewards.view(-1, GROUP)
    if estimator == "group-mean":
        adv = groups - groups.mean(dim=1, keepdim=True)
    else:
        adv = groups - (groups.sum(dim=1, keepdim=True) - groups) / (GROUP - 1)
    if scaling == "group":
        adv = adv / (groups.std(dim=1, keepdim=True) + 1e-4)
    adv = adv.reshape(-1)
    if scaling == "batch":
        adv = adv / (rewards.std() + 1e-4)
    return adv


def main() -> None:
    torch.manual_seed(0)
    model = policy_reference.frozen_model(MODEL)
    cfg = model.config
    L, d, V = cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size
    gen = torch.Generator().manual_seed(1)
    group_prompts = [torch.randint(1, V, (int(torch.randint(4, 7, (1,), generator=gen)),), generator=gen).tolist() for _ in range(2)]
    prompts = [group_prompts[i // 3] for i in range(6)]
    completions = [torch.randint(1, V, (int(torch.randint(2, 8, (1,), generator=gen)),), generator=gen).tolist() for _ in range(6)]
    rewards = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    base_vectors = torch.randn(L, d, generator=gen) * 0.05

    with torch.no_grad():
        current = [completion_logprobs(model, base_vectors, p, c, True) for p, c in zip(prompts, completions)]
        reference = [completion_logprobs(model, base_vectors, p, c, False) for p, c in zip(prompts, completions)]
    old = [lp + (torch.rand(lp.shape, generator=gen) - 0.5) * 0.6 for lp in current]
    lengths = torch.tensor([len(c) for c in completions], dtype=torch.float64)

    out = {
        "vectors": base_vectors.contiguous(),
        "prompts": torch.tensor(sum(prompts, []), dtype=torch.int32),
        "prompt_lengths": torch.tensor([len(p) for p in prompts], dtype=torch.int32),
        "completions": torch.tensor(sum(completions, []), dtype=torch.int32),
        "completion_lengths": torch.tensor([len(c) for c in completions], dtype=torch.int32),
        "rewards": rewards.float(),
        "old_logprobs": torch.cat(old).float(),
        "logprobs": torch.cat(current).float(),
    }
    for estimator, scaling, reduction, kl in itertools.product(
            ["group-mean", "rloo"], ["group", "batch", "none"], ["grpo", "bnpo", "dr-grpo", "dapo"], [0, 1]):
        vectors = base_vectors.clone().requires_grad_(True)
        adv = advantages(rewards, estimator, scaling)
        total = torch.zeros((), dtype=torch.float64)
        for i, (p, c) in enumerate(zip(prompts, completions)):
            lp = completion_logprobs(model, vectors, p, c, True).double()
            term = policy_reference.clipped_term(lp, old[i].double(), adv[i].double(), EPS_LOW, EPS_HIGH,
                                                 reference[i].double() if kl else None, BETA)
            if reduction == "grpo":
                total = total + term.sum() / len(c) / len(prompts)
            elif reduction in ("bnpo", "dapo"):
                total = total + term.sum() / lengths.sum()
            else:
                total = total + term.sum() / (len(prompts) * MAX_LEN)
        total.backward()
        name = f"{estimator}.{scaling}.{reduction}.kl{kl}"
        out[f"loss.{name}"] = total.detach().float().reshape(1)
        out[f"grad.{name}"] = vectors.grad.detach().float().contiguous()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(OUT))
    print(f"wrote {OUT} ({len(out)} tensors)")


if __name__ == "__main__":
    main()
