#!/usr/bin/env python3
"""Finding 1 of the procedural-knowledge analyses split by document source: per task and source,
the fraction of (query, document) scores that are positive, and the mean Pearson correlation
between distinct queries of the task over that source's documents only, beside the same over
all documents.

    python3 scripts/influence_by_source.py SCORES.h5 QUERIES.jsonl

Tasks come from the queries' "task" field. Needs numpy and h5py (the notebooks' venv has them:
.venv-notebooks/bin/python).
"""

import json
import sys

import h5py
import numpy as np


def mean_pair_correlation(rows: np.ndarray) -> float:
    if rows.shape[0] < 2 or rows.shape[1] < 3:
        return float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(rows)
    return float(np.nanmean(c[~np.eye(len(c), dtype=bool)]))   # a constant row has no correlation: skipped, as analyze does


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tasks_by_id = {}
    for line in open(sys.argv[2]):
        q = json.loads(line)
        tasks_by_id[q["id"]] = q.get("task", "query")
    with h5py.File(sys.argv[1], "r") as f:
        scores = f["scores"][()].astype(np.float64)
        ids = [x.decode() if isinstance(x, bytes) else x for x in f["query_ids"][()]]
        sources = [x.decode() if isinstance(x, bytes) else x for x in f["doc_sources"][()]]
        mask = f.attrs.get("query_tokens", "all")
        mask = mask.decode() if isinstance(mask, bytes) else mask
    tasks = list(dict.fromkeys(tasks_by_id[i] for i in ids))
    names = sorted(set(sources))
    print(f"{sys.argv[1]} (query tokens: {mask}): per task and source, the share of positive scores / the mean "
          f"Pearson correlation between the task's queries over that source's documents\n")
    print("| task | " + " | ".join(f"{s} (n={sources.count(s)})" for s in names) + " | all |")
    print("|---|" + "---|" * (len(names) + 1))
    for t in tasks:
        rows = scores[[q for q, i in enumerate(ids) if tasks_by_id[i] == t]]
        cells = []
        for s in names:
            cols = [d for d, x in enumerate(sources) if x == s]
            part = rows[:, cols]
            cells.append(f"{(part > 0).mean():.2f} / {mean_pair_correlation(part):.2f}")
        print(f"| {t} | " + " | ".join(cells) + f" | {(rows > 0).mean():.2f} / {mean_pair_correlation(rows):.2f} |")


if __name__ == "__main__":
    main()
