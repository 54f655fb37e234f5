#!/usr/bin/env python3
"""The probe table of scripts/probe_tasks_smollm2.sh: one row per (family, setting) eval file
OUT/FAMILY-SETTING.h5 written by `steer eval --out`. Columns: problems, greedy accuracy,
mean@k, pass@k, pass@k − mean@k (the room RL can use), the format rate of the greedy and
sampled completions (a final answer stated at all) and the accuracy among those that state
one; each rate with one standard error over problems (mean@k: the standard error of the
per-problem fraction correct), as a Markdown table. Families qualify when pass@k ≥ 30% and
mean@k ≤ pass@k − 15 points (at T = 1)."""
import sys
from pathlib import Path

import h5py
import numpy as np


def se(values: np.ndarray) -> float:
    """One standard error of the mean of per-problem values."""
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def cell(values: np.ndarray, signed: bool = False) -> str:
    """A rate in percent with one standard error; signed for a difference."""
    mean = 100 * values.mean()
    return (f"{mean:+.1f}" if signed else f"{mean:.1f}") + f" ± {100 * se(values):.1f}"


def row(path: Path) -> tuple[str, str, list[str], bool]:
    family, setting = path.stem.rsplit("-", 1)
    with h5py.File(path, "r") as f:
        greedy = f["greedy_correct"][()].astype(float)
        greedy_answered = f["greedy_answered"][()].astype(float)
        correct = f["sample_correct"][()].astype(float)            # [P, k]
        answered = f["sample_answered"][()].astype(float)
    per_problem_mean = correct.mean(axis=1)
    per_problem_pass = correct.max(axis=1)
    given = answered.sum()
    right_among = correct.sum() / given if given else 0.0
    room = per_problem_pass - per_problem_mean
    qualifies = setting == "t1" and per_problem_pass.mean() >= 0.30 and room.mean() >= 0.15
    return family, setting, [str(len(greedy)), cell(greedy), cell(per_problem_mean), cell(per_problem_pass),
                             cell(room), cell(greedy_answered), cell(answered.mean(axis=1)),
                             f"{100 * right_among:.1f}"], qualifies


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/probe-smollm2")
    files = sorted(out.glob("*-t1.h5")) + sorted(out.glob("*-t07.h5"))
    if not files:
        print(f"error: {out}: no FAMILY-t1.h5 or FAMILY-t07.h5 eval files", file=sys.stderr)
        return 1
    settings = {"t1": "T 1", "t07": "T 0.7, top-p 0.9"}
    print("| family | sampling | problems | greedy % | mean@8 % | pass@8 % | pass − mean | answer given, greedy % "
          "| answer given, samples % | right among given, samples % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    qualifying = []
    for path in sorted(files, key=lambda p: (p.stem.rsplit("-", 1)[0], p.stem.rsplit("-", 1)[1] != "t1")):
        family, setting, cells, qualifies = row(path)
        print(f"| {family} | {settings.get(setting, setting)} | " + " | ".join(cells) + " |")
        if qualifies:
            qualifying.append(family)
    print()
    print("Qualifying (T 1: pass@8 ≥ 30% and pass@8 − mean@8 ≥ 15 points): " + (", ".join(qualifying) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
