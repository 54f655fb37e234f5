#!/usr/bin/env python3
"""Checks that a directory written by `workbench import` is what transformers expects: it loads
with AutoModelForCausalLM / AutoTokenizer as it is, gives the logits transformers' own GGUF loading
gives for the source file (within 1e-4 of the largest), tokenizes as the GGUF tokenizer of
transformers on a few strings, and renders the chat template.

    venv-ref/bin/python scripts/check_gguf_import.py models/SmolLM2-135M-Instruct.Q4_1.gguf models/smollm2-135m-instruct

(venv-ref: torch, transformers, accelerate, gguf; scripts/make_gguf_fixtures.py says how.)
Not a test: it needs transformers. Prints one line per check and exits 1 on a failure.
"""

import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf_path, directory = Path(sys.argv[1]), sys.argv[2]
failures = 0


def check(name: str, ok: bool, detail: str) -> None:
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    failures += not ok


tokenizer = AutoTokenizer.from_pretrained(directory)
model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
reference = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32).eval()
reference_tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)

messages = [{"role": "user", "content": "What is 2 + 3?"}]
text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
check("chat template", text == reference_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), repr(text[:60]))
for s in [text, "Pell has 35 coins and finds 22 more.", "x = 12345;\n\ty = 'it''s'"]:
    ours, theirs = tokenizer.encode(s, add_special_tokens=True), reference_tokenizer.encode(s, add_special_tokens=True)
    check("token ids", ours == theirs, f"{len(ours)} ids for {s[:30]!r}")
ids = torch.tensor([tokenizer.encode(text)])
with torch.no_grad():
    a, b = model(ids).logits, reference(ids).logits
err = (a - b).abs().max().item() / b.abs().max().item()
check("logits", err <= 1e-4, f"max |Δ| / max |logit| = {err:.2e}")
sys.exit(1 if failures else 0)
