#!/usr/bin/env python3
"""Checks ReFT runs of the workbench against pyreft on the embedded model.

For each kind (loreft, noreft, direft, nodireft, consreft, lobireft) it trains interventions
with ``steer train --objective sft`` for a few steps (rank 4 on blocks 1 and 3, positions f3+l3,
untied; LoReFT once more tied), then builds the equivalent pyreft model from the run directory
(config.json's settings, reft.safetensors' tensors: R → rotate_layer (its transpose), W and b →
learned_source, W2 → proj_layer) and compares:

* logits of ``workbench forward --adapter RUN`` with pyreft's intervened forward on the same
  tokens (the whole text is the prompt; its first 3 and last 3 positions intervened): max |Δ| ≤
  1e-4 × max |logit|;
* greedy generations of ``workbench generate --adapter RUN`` with pyreft's ``generate``
  (interventions on the prompt, generated tokens see them through the KV cache): equal tokens.

The prompt is long enough (20+ tokens) that the count clamping rules agree: pyreft 0.1.0 clamps
both counts to ⌊n/2⌋ when a prompt is short, the workbench follows the paper (⌊n/2⌋ for the
first, ⌈n/2⌉ for the last); docs/reft.md.

pyreft pins transformers 4.45.1: run this with its own environment, e.g.
    python3 -m venv venv-reft && venv-reft/bin/pip install "torch==2.13.0+cpu" "transformers==4.45.1" pyvene h5py safetensors
    venv-reft/bin/pip install --no-deps pyreft
    venv-reft/bin/python scripts/check_pyreft_interop.py [--bin .build/release] [--out out/pyreft-interop]
Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import h5py
import torch
from safetensors.torch import load_file

import task_data  # noqa: E402  (scripts/task_data.py, beside this file)

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "notebooks-data" / "model"
TEXT = "Toren has 23 shells and finds 17 more. Then Toren gives 9 away. How many shells does Toren have now?"
TOLERANCE = 1e-4


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def pyreft_model(run_dir: Path, base):
    import pyreft

    settings = json.loads((run_dir / "config.json").read_text())["reft"]
    tensors = load_file(str(run_dir / "reft.safetensors"))
    kind, r, d = settings["kind"], settings["rank"], base.config.hidden_size
    classes = {"loreft": pyreft.LoreftIntervention, "noreft": pyreft.NoreftIntervention,
               "direft": pyreft.DireftIntervention, "nodireft": pyreft.NodireftIntervention,
               "consreft": pyreft.ConsreftIntervention, "lobireft": pyreft.LobireftIntervention}
    untied = not settings["shareWeights"] and settings["first"] > 0 and settings["last"] > 0
    groups = ["first", "last"] if untied else ["both" if settings["first"] and settings["last"] else
                                                "first" if settings["first"] else "last"]
    # pyreft's order: every layer's first-position intervention, then every layer's last-position one.
    order = [(l, g) for g in groups for l in settings["layers"]]
    representations = []
    for l, g in order:
        name = f"reft.{l}.{g}"
        iv = classes[kind](embed_dim=d, low_rank_dimension=r, dtype=torch.float32, add_bias=False)
        with torch.no_grad():
            if hasattr(iv, "rotate_layer"):
                iv.rotate_layer.weight = tensors[name + ".R"].T.contiguous()   # the parametrisation's right inverse
                assert torch.allclose(iv.rotate_layer.weight, tensors[name + ".R"].T, atol=1e-5), "R did not load"
            else:
                iv.proj_layer.weight.copy_(tensors[name + ".R"])
            if isinstance(iv.learned_source, torch.nn.Linear):
                iv.learned_source.weight.copy_(tensors[name + ".W"])
                iv.learned_source.bias.copy_(tensors[name + ".b"])
            else:
                iv.learned_source.copy_(tensors[name + ".b"])
        representations.append({"layer": l, "component": "block_output", "low_rank_dimension": r, "intervention": iv})
    model = pyreft.get_reft_model(base, pyreft.ReftConfig(representations=representations))
    model.set_device("cpu")
    return model, settings, untied


def locations(settings, untied: bool, n: int, count: int) -> list:
    first = list(range(min(settings["first"], n // 2)))
    last = list(range(n - min(settings["last"], (n + 1) // 2), n))
    if not untied:
        return [[first + last]] * count
    return [[first]] * (count // 2) + [[last]] * (count // 2)


def main() -> int:
    from transformers import AutoModelForCausalLM

    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / ".build" / "release"))
    ap.add_argument("--out", default=str(ROOT / "out" / "pyreft-interop"))
    args = ap.parse_args()
    bin_dir, out = Path(args.bin), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = out / "sft.jsonl"
    task_data.write_jsonl(records, task_data.word_sft_records())
    ok = True
    cases = [(k, []) for k in ("loreft", "noreft", "direft", "nodireft", "consreft", "lobireft")] + [("loreft", ["--share-weights"])]
    for kind, extra in cases:
        name = kind + ("-tied" if extra else "")
        run_dir = out / name
        subprocess.run(["rm", "-rf", str(run_dir)], check=True)
        run(str(bin_dir / "steer"), "train", "--method", kind, "--objective", "sft", "--problems", str(records), "--out", str(run_dir),
            "--steps", "4", "--prompts-per-step", "8", "--lr", "1e-2", "--layers", "1,3", "--positions", "f3+l3", "--rank", "4", *extra)
        h5 = out / f"{name}.h5"
        run(str(bin_dir / "workbench"), "forward", "--text", TEXT, "--adapter", str(run_dir), "--out", str(h5), "--no-residual")
        with h5py.File(h5, "r") as f:
            mine, ids = torch.tensor(f["logits"][()]), [int(i) for i in f["input_ids"][()]]
        base = AutoModelForCausalLM.from_pretrained(MODEL, torch_dtype=torch.float32).eval()
        plain = base(input_ids=torch.tensor([ids])).logits[0].detach()
        model, settings, untied = pyreft_model(run_dir, base)
        locs = locations(settings, untied, len(ids), len(model.interventions))
        with torch.no_grad():
            _, theirs = model({"input_ids": torch.tensor([ids])}, unit_locations={"sources->base": (None, locs)})
        theirs = theirs.logits[0]
        diff, scale = (mine - theirs).abs().max().item(), theirs.abs().max().item()
        moved = (theirs - plain).abs().max().item()
        good = diff <= TOLERANCE * scale and moved > 10 * diff
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {name}: logits max |Δ| {diff:.2e} (≤ {TOLERANCE:.0e} × {scale:.1f}); interventions move logits by {moved:.2e}")
        generated = json.loads(run(str(bin_dir / "workbench"), "generate", "--text", TEXT, "--adapter", str(run_dir),
                                   "--max-new", "24", "--json"))[0]
        with torch.no_grad():
            _, seq = model.generate({"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)},
                                    unit_locations={"sources->base": (None, locs)}, intervene_on_prompt=True,
                                    max_new_tokens=len(generated["tokens"]), do_sample=False, eos_token_id=base.config.eos_token_id)
        theirs_tokens = seq[0, len(ids):].tolist()
        same = theirs_tokens[:len(generated["tokens"])] == generated["tokens"]
        ok &= same
        print(f"{'ok  ' if same else 'FAIL'} {name}: greedy generation {'equal' if same else 'differs'} ({len(generated['tokens'])} tokens: {generated['text']!r})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
