"""What the policy fixture scripts (make_rl_fixtures.py, make_adapter_fixtures.py,
make_reft_fixtures.py) share: the frozen fixture model, completion log-probabilities under
forward hooks, and the clipped policy-gradient term with k3 (methods.md §1)."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM


def frozen_model(path):
    """The checkpoint in float32 with eager attention, evaluation mode, no parameter gradients."""
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def completion_logprobs(model, prompt: list[int], completion: list[int], hooks=()) -> torch.Tensor:
    """log π of each completion token after the prompt, with (module, forward hook) pairs attached."""
    handles = [module.register_forward_hook(fn) for module, fn in hooks]
    try:
        logits = model(input_ids=torch.tensor([prompt + completion])).logits[0].float()
    finally:
        for h in handles:
            h.remove()
    logp = torch.log_softmax(logits, dim=-1)
    return torch.stack([logp[len(prompt) + j - 1, tok] for j, tok in enumerate(completion)])


def clipped_term(lp, old, advantage, eps_low: float, eps_high: float, reference=None, beta: float = 0.0):
    """ℓ_t = −min(ρ A, clip(ρ, 1 − ε_low, 1 + ε_high) A) + β (e^δ − δ − 1), ρ = e^(lp − old), δ = ref − lp."""
    ratio = torch.exp(lp - old)
    term = -torch.minimum(ratio * advantage, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * advantage)
    if reference is not None:
        delta = reference - lp
        term = term + beta * (torch.exp(delta) - delta - 1)
    return term
