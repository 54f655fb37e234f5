#!/usr/bin/env python3
"""Check that a model directory written by the workbench (``workbench pretrain`` or
``TransformerModel.save``) loads in transformers and gives the workbench's logits.

Runs ``workbench forward --model DIR --text TEXT --out F.h5`` and compares its
/logits with transformers' float32 logits for the same ids (the ids come from the
HDF5 file; they are also checked against the Python ``tokenizers`` library when
the directory has a tokenizer.json). Exit status 1 on any mismatch.

    python3 scripts/check_saved_model.py notebooks-data/model
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import torch
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--text", action="append", help="text to run (repeatable)")
    ap.add_argument("--workbench", default=str(ROOT / ".build" / "release" / "workbench"))
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max |Δlogit| / max |logit|")
    args = ap.parse_args()
    texts = args.text or ["The capital of", "Compute 12 + 30 - 5. First,", "Find the slope of the line through (1, 2) and (3, 8)."]

    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32)
    model.eval()
    print(f"transformers loaded {args.model_dir}: {type(model).__name__}, {sum(p.numel() for p in model.parameters())} parameters")
    tok = None
    if (Path(args.model_dir) / "tokenizer.json").exists():
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(str(Path(args.model_dir) / "tokenizer.json"))

    worst = 0.0
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(texts):
            out = Path(tmp) / f"f{i}.h5"
            subprocess.run([args.workbench, "forward", "--model", args.model_dir, "--text", text, "--out", str(out)],
                           check=True, stdout=subprocess.DEVNULL)
            with h5py.File(out) as f:
                ids = f["input_ids"][:].tolist()
                ours = f["logits"][:]
            if tok is not None and tok.encode(text).ids != ids:
                print(f"  token ids differ for {text!r}: python {tok.encode(text).ids} vs workbench {ids}")
                failed = True
            with torch.no_grad():
                ref = model(torch.tensor([ids])).logits[0].numpy()
            rel = float(np.abs(ref - ours).max() / np.abs(ref).max())
            worst = max(worst, rel)
            print(f"  {text!r}: {len(ids)} tokens, max|Δlogit|/max|logit| = {rel:.2e}")
    ok = worst <= args.tolerance and not failed
    print("OK" if ok else f"MISMATCH (tolerance {args.tolerance})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
