#!/usr/bin/env python3
"""The task files the reproductions, benchmarks and interop checks share (standard library only).

    python3 scripts/task_data.py words-sft OUT.jsonl [--plain]
        the 400 word problems of notebooks-data/rl/train.jsonl with the corpus's worked solution
        as the completion (" a + b = s. s ± c = r. The answer is \\boxed{r}."; --plain: "The
        answer is r." without \\boxed, a format the corpus uses for other tasks)
    python3 scripts/task_data.py words-test OUT.jsonl
        the first 100 problems of notebooks-data/rl/test.jsonl
    python3 scripts/task_data.py linear BIN OUT_DIR [--completions]
        linear equations drawn by `BIN/workbench corpus` with seeds 1..15, deduplicated: the first
        100 to OUT_DIR/linear-test.jsonl, the rest to OUT_DIR/linear-train.jsonl (with the
        corpus's worked solutions as completions in the training file with --completions)
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORD_PROBLEM = re.compile(r"\w+ has (\d+) \w+ and finds (\d+) more\. Then \w+ (receives|gives) (\d+)")


def worked_solution(prompt: str, answer: str, plain: bool = False) -> str:
    """The corpus's solution of a word problem (Sources/Corpus/Procedures.swift, WordProblem)."""
    m = WORD_PROBLEM.match(prompt)
    a, b, c = int(m[1]), int(m[2]), int(m[4])
    first, gain = a + b, m[3] == "receives"
    result = first + c if gain else first - c
    assert str(result) == str(answer), (prompt, answer)
    final = f"The answer is {result}." if plain else f"The answer is \\boxed{{{result}}}."
    return f" {a} + {b} = {first}. {first} {'+' if gain else '-'} {c} = {result}. {final}"


def word_sft_records(plain: bool = False) -> list[dict]:
    rows = []
    for line in open(ROOT / "notebooks-data" / "rl" / "train.jsonl"):
        q = json.loads(line)
        q["completion"] = worked_solution(q["prompt"], q["answer"], plain)
        rows.append(q)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def linear_problems(bin_dir: Path) -> list[dict]:
    seen, rows = set(), []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in sorted(range(1, 16), key=str):   # corpus-1, corpus-10, …: the order the files were first made in
            out = Path(tmp) / f"corpus-{seed}"
            subprocess.run([str(bin_dir / "workbench"), "corpus", "--out", str(out), "--seed", str(seed)],
                           check=True, stdout=subprocess.DEVNULL)
            for line in open(out / "queries" / "reasoning.jsonl"):
                q = json.loads(line)
                if q["task"] == "linear" and q["prompt"] not in seen:
                    seen.add(q["prompt"])
                    rows.append({"id": f"linear-{len(rows)}", "prompt": q["prompt"], "answer": q["answer"],
                                 "task": "linear", "completion": q["completion"]})
    return rows


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["words-sft"]:
        write_jsonl(Path(args[1]), word_sft_records(plain="--plain" in args))
    elif args[:1] == ["words-test"]:
        Path(args[1]).write_text("".join((ROOT / "notebooks-data" / "rl" / "test.jsonl").read_text().splitlines(True)[:100]))
    elif args[:1] == ["linear"]:
        rows = linear_problems(Path(args[1]))
        out = Path(args[2])
        strip = lambda r: {k: v for k, v in r.items() if k != "completion"}
        write_jsonl(out / "linear-test.jsonl", [strip(r) for r in rows[:100]])
        write_jsonl(out / "linear-train.jsonl", rows[100:] if "--completions" in args else [strip(r) for r in rows[100:]])
        print(f"linear equations: {len(rows) - 100} train / 100 test")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
