#!/usr/bin/env python3
"""The result tables of scripts/reproduce_smollm2.sh: for each task directory OUT/TASK, one row
per eval file OUT/TASK/evals/RUN.h5 written by `steer eval --out` on the same held-out problems,
with the base model's (base.h5) first. Columns: trainable parameters (read from the run's
config.json line in OUT/TASK/params.txt when present), greedy accuracy, mean@k, pass@k, the
format rate of the samples (a final answer stated at all), the accuracy among the samples that
state one, and the change of mean@k and of the format rate against the base. Every rate carries
one standard error over problems; a change carries the standard error of the per-problem paired
difference (the same problems and seeds on both sides), as docs/reproduction-steering.md does.
The families draw small numbers, so a held-out question (never seen in training, by its text)
often asks a fact a training question asked in other words ("Compute 9 * 4." against "What is
4 x 9?"); the last column is mean@k over the held-out problems whose numbers appear in no
training question (from OUT/tasks/TASK/{train,test}.jsonl), the part only generalisation
explains. Last, the cosine per block between the steering vectors the tasks learned.
Usage: python3 scripts/smollm2_table.py [OUT]   (default out/repro-smollm2)"""
import json
import re
import sys
from pathlib import Path

import h5py
import numpy as np

from probe_table import cell   # one standard error over problems, as the probe reports it


MODEL_CONFIG = "models/smollm2-135m-instruct/config.json"   # the width of the vectors


def load(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        correct = f["sample_correct"][()].astype(float)       # [P, k]
        answered = f["sample_answered"][()].astype(float)
        return {"greedy": f["greedy_correct"][()].astype(float),
                "greedy_answered": f["greedy_answered"][()].astype(float),
                "mean": correct.mean(axis=1), "pass": correct.max(axis=1),
                "format": answered.mean(axis=1), "correct_total": correct.sum(), "answered_total": answered.sum()}


def parameter_counts(task_dir: Path) -> dict[str, str]:
    counts = {}
    path = task_dir / "params.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, count = line.partition(" ")
            counts[name] = count
    return counts


def unseen_facts(out: Path, task: str) -> np.ndarray | None:
    """Per held-out problem: True when the multiset of its numbers is in no training question."""
    train, test = out / "tasks" / task / "train.jsonl", out / "tasks" / task / "test.jsonl"
    if not train.exists() or not test.exists():
        return None

    def fact(line: str) -> tuple[int, ...]:
        return tuple(sorted(int(n) for n in re.findall(r"\d+", json.loads(line)["prompt"])))

    seen = {fact(line) for line in train.read_text().splitlines() if line.strip()}
    return np.array([fact(line) not in seen for line in test.read_text().splitlines() if line.strip()])


def table(task_dir: Path) -> list[str]:
    files = sorted((task_dir / "evals").glob("*.h5"), key=lambda p: p.stem)
    base_path = task_dir / "evals" / "base.h5"
    if not base_path.exists():
        return [f"{task_dir.name}: no base.h5 yet"]
    base = load(base_path)
    counts = parameter_counts(task_dir)
    unseen = unseen_facts(task_dir.parent, task_dir.name)
    if unseen is not None and len(unseen) != len(base["greedy"]):
        unseen = None
    unseen_note = "" if unseen is None else f", {int(unseen.sum())} of them with numbers no training question has"
    lines = [f"### {task_dir.name} ({len(base['greedy'])} held-out problems{unseen_note})", "",
             "| run | parameters | greedy % | mean@8 % | pass@8 % | answer given, samples % | right among given % "
             "| Δ mean@8 vs base | Δ answer given vs base | mean@8 %, unseen numbers |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for path in [base_path] + [p for p in files if p != base_path]:
        run = load(path)
        if len(run["greedy"]) != len(base["greedy"]):
            lines.append(f"| {path.stem} | problem count differs from base.h5; skipped |")
            continue
        right_among = run["correct_total"] / run["answered_total"] if run["answered_total"] else 0.0
        delta = "—" if path == base_path else cell(run["mean"] - base["mean"], signed=True)
        delta_format = "—" if path == base_path else cell(run["format"] - base["format"], signed=True)
        # An evaluation variant of a run (its last block moved, or another task's run): the run's count.
        trained = re.sub(r"^transfer-from-[a-z_]+-", "", path.stem.split("-last-")[0])
        lines.append(f"| {path.stem} | {counts.get(trained, '0' if path == base_path else '?')} | {cell(run['greedy'])} "
                     f"| {cell(run['mean'])} | {cell(run['pass'])} | {cell(run['format'])} | {100 * right_among:.1f} "
                     f"| {delta} | {delta_format} | {'—' if unseen is None else cell(run['mean'][unseen])} |")
    return lines


def vector_cosines(tasks: list[Path], width: int, run: str = "rl-vectors-1e-2") -> list[str]:
    """Per block, the cosine between the steering vectors ([blocks · width] float32) that two
    tasks' runs named `run` learned."""
    vectors = {t.name: np.fromfile(t / "runs" / run / "vectors.bin", dtype=np.float32).reshape(-1, width)
               for t in tasks if (t / "runs" / run / "vectors.bin").exists()}
    names = sorted(vectors)
    lines = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            va, vb = vectors[a], vectors[b]
            cos = (va * vb).sum(1) / (np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1))
            lines.append(f"Cosine between the {run} vectors of {a} and {b}, blocks 0–{len(cos) - 1}: "
                         + " ".join(f"{c:.2f}" for c in cos))
    return lines


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/repro-smollm2")
    tasks = sorted(p for p in out.iterdir() if (p / "evals").is_dir()) if out.is_dir() else []
    if not tasks:
        print(f"error: {out}: no TASK/evals/ directories with eval files", file=sys.stderr)
        return 1
    for task_dir in tasks:
        print("\n".join(table(task_dir)))
        print()
    width = json.loads(Path(MODEL_CONFIG).read_text())["hidden_size"] if Path(MODEL_CONFIG).exists() else None
    if width:
        print("\n".join(vector_cosines(tasks, width)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
