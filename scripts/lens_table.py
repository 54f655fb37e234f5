#!/usr/bin/env python3
"""Per-site summary of `lens run` files: the logit (or tuned) lens on held-out text.

    python3 scripts/lens_table.py prompts DOCS.jsonl N CHARS > prompts.txt
        the first N documents of DOCS.jsonl as `lens run --batch` prompts: whitespace runs
        folded to one space, cut at CHARS characters (at a word boundary)
    python3 scripts/lens_table.py table LENS.h5 [LENS2.h5 ...] [--names logit,tuned]
        per site (block output, embedding first): over every real position of every prompt,
        the mean KL(model's output ‖ site) in nats, the mean entropy of the site's distribution
        in nats, and top-1 agreement (the site's top token = the output's top token), as a
        markdown table, one column group per file

Needs numpy and h5py (the notebooks' venv has them: .venv-notebooks/bin/python).
"""

import json
import re
import sys


def prompts(docs, n, chars):
    out = []
    with open(docs) as f:
        for line in f:
            text = re.sub(r"\s+", " ", json.loads(line)["text"]).strip()
            if len(text) > chars:
                text = text[:chars].rsplit(" ", 1)[0]
            out.append(text)
            if len(out) == int(n):
                break
    print("\n".join(out))


def summary(path):
    import h5py
    import numpy as np

    with h5py.File(path) as f:
        sites = list(f["sites"].asstr()[()])
        lengths = f["lengths"][()]
        kl, entropy, top = f["kl_to_final"][()], f["entropy"][()], f["top_ids"][()][..., 0]
    S, N, T = kl.shape
    real = np.arange(T)[None, :] < lengths[:, None]            # [S, T]
    final = top[:, -1, :]                                       # the output's top token
    rows = {}
    for n, site in enumerate(sites):
        rows[site] = (kl[:, n][real].mean(), entropy[:, n][real].mean(), (top[:, n] == final)[real].mean())
    return sites, rows, int(real.sum())


def table(paths, names):
    results = [summary(p) for p in paths]
    sites = results[0][0]
    header = "| site | " + " | ".join(f"{name} KL (nats) | {name} entropy | {name} top-1 agreement" for name in names) + " |"
    print(f"{results[0][2]} positions of held-out text per file\n")
    print(header)
    print("|" + " --- |" * (1 + 3 * len(names)))
    for site in sites:
        cells = []
        for _, rows, _ in results:
            k, h, a = rows.get(site, (float("nan"),) * 3)
            cells += [f"{k:.2f}", f"{h:.2f}", f"{100 * a:.0f}%"]
        print(f"| {site} | " + " | ".join(cells) + " |")


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "prompts":
        return prompts(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    if len(sys.argv) >= 3 and sys.argv[1] == "table":
        args = sys.argv[2:]
        names = None
        if "--names" in args:
            i = args.index("--names")
            names = args[i + 1].split(",")
            args = args[:i] + args[i + 2:]
        return table(args, names or [f"file {i + 1}" for i in range(len(args))])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
