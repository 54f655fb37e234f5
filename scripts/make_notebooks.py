#!/usr/bin/env python3
"""Writes the notebooks in notebooks/ (standard library only): each cell's source is kept here,
so the notebooks stay short, reviewable and free of stored outputs. Run after editing a cell:

    python3 scripts/make_notebooks.py

scripts/check_notebooks.sh executes them on the demo's outputs (out/demo) in CI.
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SETUP = '''import os, json
from pathlib import Path
import h5py, numpy as np, pandas as pd
import matplotlib
matplotlib.use("Agg")   # the notebooks also run headless in CI
import matplotlib.pyplot as plt
# The demo's outputs (bash scripts/main-job.sh writes them); WORKBENCH_DEMO overrides.
DEMO = Path(os.environ.get("WORKBENCH_DEMO", "../out/demo"))'''

NOTEBOOKS = {
    "steer_run.ipynb": [
        ("markdown", "# A steer run: training curves and evaluations\n\nReads a run directory of `steer train` "
                     "(here the demo's, `out/demo/steer`): `training.h5` holds one dataset per metric over the steps, "
                     "`eval.h5` the held-out evaluations (docs/steering.md, \"Run directory\")."),
        ("code", SETUP + '\nRUN = DEMO / "steer"\nconfig = json.loads((RUN / "config.json").read_text())\n'
                 'print(config["method"], config["objectiveName"], "lr", config["settings"]["learningRate"])'),
        ("code", 'with h5py.File(RUN / "training.h5") as f:\n'
                 '    steps = pd.DataFrame({name: f[name][()] for name in f if f[name].ndim == 1}).set_index("step")\n'
                 'steps[["reward_mean", "reward_std", "accuracy", "kl", "entropy", "completion_mean", "gradient_norm"]].describe()'),
        ("code", 'fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))\n'
                 'axes[0].plot(steps.index, steps.reward_mean)\n'
                 'axes[0].fill_between(steps.index, steps.reward_mean - steps.reward_std, steps.reward_mean + steps.reward_std, alpha=0.2)\n'
                 'axes[0].set(title="reward (mean ± std)", xlabel="step", ylabel="reward per sample")\n'
                 'axes[1].plot(steps.index, steps.accuracy); axes[1].set(title="accuracy", xlabel="step", ylabel="fraction of samples right")\n'
                 'axes[2].plot(steps.index, steps.completion_mean); axes[2].set(title="completion length", xlabel="step", ylabel="tokens")\n'
                 'fig.tight_layout()'),
        ("code", 'eval_file = RUN / "eval.h5"\n'
                 'if eval_file.exists():\n'
                 '    with h5py.File(eval_file) as f:\n'
                 '        history = pd.DataFrame({k: f["history"][k][()] for k in f["history"]}).set_index("step")\n'
                 '        k, problems = int(f.attrs["k"]), len(f["problem_ids"])\n'
                 '        latest = pd.DataFrame({"problem": f["problem_ids"].asstr()[()], "greedy_correct": f["greedy_correct"][()]})\n'
                 '    # one standard error of a proportion over the problems\n'
                 '    history["greedy_se"] = np.sqrt(history.greedy_accuracy * (1 - history.greedy_accuracy) / problems)\n'
                 '    print(f"{problems} held-out problems, k = {k}")\n'
                 '    display(history)\n'
                 'else:\n'
                 '    print("this run has no eval.h5 (no --eval problems)")'),
    ],
    "lens_grid.ipynb": [
        ("markdown", "# A logit-lens grid\n\nReads a `lens run` file (here the demo's `out/demo/lens.h5`; layout in docs/lens.md) "
                     "and draws the site × position grid: the probability of the top next-token guess at each site, with the token."),
        ("code", SETUP + '\nwith h5py.File(DEMO / "lens.h5") as f:\n'
                 '    sites = f["sites"].asstr()[()]\n'
                 '    length = int(f["lengths"][0])\n'
                 '    inputs = f["input_tokens"].asstr()[0, :length]\n'
                 '    top_prob = f["top_probs"][0, :, :length, 0]      # [sites, positions], the top-1 probability\n'
                 '    top_token = f["top_tokens"].asstr()[0, :, :length, 0]\n'
                 '    kl = f["kl_to_final"][0, :, :length]\n'
                 'pd.DataFrame(kl, index=sites, columns=[f"{i}:{t}" for i, t in enumerate(inputs)]).round(2).iloc[::-1]'),
        ("code", 'fig, ax = plt.subplots(figsize=(1.1 * length + 2, 0.42 * len(sites) + 1))\n'
                 'ax.imshow(top_prob[::-1], cmap="Blues", vmin=0, vmax=1, aspect="auto")\n'
                 'for i in range(len(sites)):\n'
                 '    for j in range(length):\n'
                 '        p = top_prob[::-1][i, j]\n'
                 '        ax.text(j, i, top_token[::-1][i, j].replace(" ", "␣")[:8], ha="center", va="center", fontsize=7,\n'
                 '                color="white" if p > 0.6 else "black")\n'
                 'ax.set_yticks(range(len(sites)), sites[::-1]); ax.set_xticks(range(length), inputs, rotation=45)\n'
                 'ax.set_title("top next-token guess by site (colour: its probability)"); fig.tight_layout()'),
    ],
    "influence_top_docs.ipynb": [
        ("markdown", "# The most influential documents per query\n\nReads an `influence score` file (here the demo's "
                     "`out/demo/influence.h5`; layout in docs/influence.md), joins the document and query texts through the "
                     "paths the file recorded (`docs_path`, `queries_file`) and lists the top documents of each query."),
        ("code", SETUP + '\nwith h5py.File(DEMO / "influence.h5") as f:\n'
                 '    scores = pd.DataFrame(f["scores"][()], index=f["query_ids"].asstr()[()], columns=f["doc_ids"].asstr()[()])\n'
                 '    docs_path, queries_file = f.attrs["docs_path"], f.attrs["queries_file"]\n'
                 '    normalization = f.attrs["normalization"]\n'
                 'docs = pd.read_json(docs_path, lines=True).set_index("id")\n'
                 'queries = pd.read_json(queries_file, lines=True).set_index("id")\n'
                 'print(scores.shape, "scores normalised by", normalization)'),
        ("code", 'rows = []\n'
                 'for query, row in scores.iterrows():\n'
                 '    for rank, (doc, score) in enumerate(row.sort_values(ascending=False).head(5).items(), 1):\n'
                 '        rows.append({"query": query, "prompt": queries.loc[query, "prompt"], "rank": rank, "document": doc,\n'
                 '                     "score": score, "text": docs.loc[doc, "text"][:120]})\n'
                 'top = pd.DataFrame(rows)\n'
                 'top'),
        ("code", 'scores.T.plot.hist(bins=40, alpha=0.5, figsize=(8, 3.2), title="scores of all documents, per query")\n'
                 'plt.xlabel(f"score ({normalization})"); plt.tight_layout()'),
    ],
}


def notebook(cells):
    return {
        "cells": [
            {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True),
             **({"execution_count": None, "outputs": []} if kind == "code" else {})}
            for kind, text in cells
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 4,
    }


def main():
    out = ROOT / "notebooks"
    out.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        (out / name).write_text(json.dumps(notebook(cells), indent=1, ensure_ascii=False) + "\n")
        print(f"wrote notebooks/{name}")


if __name__ == "__main__":
    main()
