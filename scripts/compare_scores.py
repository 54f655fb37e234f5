#!/usr/bin/env python3
"""How far one `influence score` file is from another computed on the same queries and documents
(for example rank-r queries against full rank): per query, the Pearson and Spearman correlation of
the documents' scores and the overlap of the two top-k lists; then their mean and minimum.

    python3 scripts/compare_scores.py REFERENCE.h5 OTHER.h5 [--top 10]

Needs numpy and h5py (the notebooks' venv has them: .venv-notebooks/bin/python).
"""

import argparse
import sys

import h5py
import numpy as np


def ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reference")
    parser.add_argument("other")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    with h5py.File(args.reference, "r") as a, h5py.File(args.other, "r") as b:
        for name in ("query_ids", "doc_ids"):
            if list(a[name][()]) != list(b[name][()]):
                sys.exit(f"error: {args.other}: its {name} differ from {args.reference}'s")
        ids = [x.decode() if isinstance(x, bytes) else x for x in a["query_ids"][()]]
        x, y = a["scores"][()].astype(np.float64), b["scores"][()].astype(np.float64)
        rank_a, rank_b = a.attrs.get("query_rank", "?"), b.attrs.get("query_rank", "?")
    print(f"{args.other} (query rank {rank_b}) against {args.reference} (query rank {rank_a}): "
          f"{x.shape[0]} queries × {x.shape[1]} documents")
    print(f"| query | Pearson | Spearman | top-{args.top} overlap |\n|---|---|---|---|")
    rows = []
    for q, qid in enumerate(ids):
        pearson = float(np.corrcoef(x[q], y[q])[0, 1])
        spearman = float(np.corrcoef(ranks(x[q]), ranks(y[q]))[0, 1])
        top_a = set(np.argsort(-x[q], kind="stable")[: args.top])
        top_b = set(np.argsort(-y[q], kind="stable")[: args.top])
        overlap = len(top_a & top_b) / min(args.top, x.shape[1])
        rows.append((pearson, spearman, overlap))
        print(f"| {qid} | {pearson:.4f} | {spearman:.4f} | {overlap:.2f} |")
    m = np.array(rows)
    print(f"| mean | {m[:, 0].mean():.4f} | {m[:, 1].mean():.4f} | {m[:, 2].mean():.2f} |")
    print(f"| lowest | {m[:, 0].min():.4f} | {m[:, 1].min():.4f} | {m[:, 2].min():.2f} |")


if __name__ == "__main__":
    main()
