#!/usr/bin/env python3
"""Inputs of the influence reproduction on SmolLM2-135M-Instruct (docs/reproduction-influence.md,
"SmolLM2"): a mixed corpus and queries the model answers correctly itself. Standard library only.

    python3 scripts/make_influence_smollm2.py corpus OUT_DIR [--python-docs 400] [--synthetic 300] [--solutions 200]
        OUT_DIR/docs.jsonl: a seeded sample of the Python documentation corpus
        (data/real/python-docs.jsonl, scripts/make_real_corpus.py), arithmetic and slope documents
        of the synthetic corpus (`workbench corpus --seed 0`: sources math, stackexchange, code),
        and worked solutions of the RL tasks (the word problems' and the linear equations', as
        scripts/task_data.py writes them; source rl-solutions), shuffled with a fixed seed.
    python3 scripts/make_influence_smollm2.py queries OUT_DIR [--model models/smollm2-135m-instruct] [--per-task 24]
        Candidate questions in ChatML (the chat template's default system line): single-digit
        addition ("What is 7 + 5?"), single-digit multiplication ("What is 7 x 5?" and "What is 7
        times 5?") and capitals ("What is the capital of France?"). The model answers each greedily
        (`workbench generate`, ≤ 48 new tokens); a query is kept when the answer ended with EOS and
        is right: its last number is the product or sum, or it names the capital. Kept queries are
        {"id", "prompt", "completion", "answer", "task"} with the model's own completion, the first
        --per-task of each task in a fixed shuffled order, to OUT_DIR/queries.jsonl; every candidate
        and its verdict to OUT_DIR/candidates.jsonl.

Both are deterministic: the same inputs give the same bytes.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".build" / "release"
sys.path.insert(0, str(ROOT / "scripts"))
import task_data  # noqa: E402

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
CAPITALS = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"),
    ("China", "Beijing"), ("Russia", "Moscow"), ("Egypt", "Cairo"), ("Canada", "Ottawa"), ("Australia", "Canberra"),
    ("India", "New Delhi"), ("Mexico", "Mexico City"), ("Greece", "Athens"), ("Portugal", "Lisbon"),
    ("Ireland", "Dublin"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"), ("Poland", "Warsaw"), ("Austria", "Vienna"), ("Hungary", "Budapest"),
    ("Turkey", "Ankara"), ("Argentina", "Buenos Aires"), ("Peru", "Lima"), ("Chile", "Santiago"),
    ("Kenya", "Nairobi"), ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("South Korea", "Seoul"),
    ("Indonesia", "Jakarta"), ("Iran", "Tehran"), ("Iraq", "Baghdad"), ("Cuba", "Havana"), ("Belgium", "Brussels"),
    ("the Netherlands", "Amsterdam"), ("Switzerland", "Bern"), ("the Czech Republic", "Prague"),
    ("Romania", "Bucharest"), ("Ukraine", "Kyiv"), ("Colombia", "Bogotá"), ("Venezuela", "Caracas"),
    ("the Philippines", "Manila"), ("Pakistan", "Islamabad"), ("Saudi Arabia", "Riyadh"), ("Nigeria", "Abuja"),
    ("Morocco", "Rabat"), ("Ethiopia", "Addis Ababa"), ("the United Kingdom", "London"), ("Bulgaria", "Sofia"),
    ("Serbia", "Belgrade"), ("Croatia", "Zagreb"), ("Iceland", "Reykjavik"), ("New Zealand", "Wellington"),
    ("Malaysia", "Kuala Lumpur"), ("Afghanistan", "Kabul"), ("Brazil", "Brasília"), ("Scotland", "Edinburgh"),
]


def chat(user: str) -> str:
    return f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    tmp.replace(path)


def synthetic_documents(count: int) -> list[dict]:
    """Arithmetic ("Compute a + b ± c") and slope documents of the synthetic corpus, half each."""
    kinds: dict[str, list[dict]] = {"arithmetic": [], "slope": []}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(BIN / "workbench"), "corpus", "--out", tmp, "--seed", "0"], check=True, stdout=subprocess.DEVNULL)
        for shard in sorted(Path(tmp, "corpus").glob("*.jsonl")):
            for line in open(shard):
                d = json.loads(line)
                if d["source"] not in ("math", "stackexchange", "code"):
                    continue
                text = d["text"]
                kind = "slope" if "slope" in text.lower() else "arithmetic" if "ompute" in text else None
                if kind:
                    kinds[kind].append(d)
    rng = random.Random(1)
    return [d for kind in ("arithmetic", "slope") for d in rng.sample(kinds[kind], count // 2)]


def solution_documents(count: int) -> list[dict]:
    """The RL tasks' worked solutions as documents: word problems and linear equations, half each."""
    words = task_data.word_sft_records()[: count // 2]
    linear = [r for r in task_data.linear_problems(BIN) if r.get("completion")][100 : 100 + count // 2]
    if len(words) + len(linear) < count:
        sys.exit(f"error: only {len(words)} word problems and {len(linear)} linear equations for --solutions {count}")
    return [{"id": f"solution-{r['id']}", "text": r["prompt"] + r["completion"], "source": "rl-solutions"} for r in words + linear]


def corpus(args: argparse.Namespace) -> None:
    rng = random.Random(0)
    python_docs = [json.loads(l) for l in open(ROOT / "data" / "real" / "python-docs.jsonl")]
    docs = rng.sample(python_docs, args.python_docs) + synthetic_documents(args.synthetic) + solution_documents(args.solutions)
    random.Random(2).shuffle(docs)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "docs.jsonl", [{"id": d["id"], "text": d["text"], "source": d["source"]} for d in docs])
    counts: dict[str, int] = {}
    for d in docs:
        counts[d["source"]] = counts.get(d["source"], 0) + 1
    print(f"{out / 'docs.jsonl'}: {len(docs)} documents ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")


def candidates() -> list[dict]:
    rows = [{"id": f"add-{a}-{b}", "task": "addition", "prompt": f"What is {a} + {b}?", "answer": str(a + b)}
            for a in range(1, 10) for b in range(1, 10)]
    rows += [{"id": f"mul-{a}-{b}-{style}", "task": "multiplication", "prompt": f"What is {a} {word} {b}?", "answer": str(a * b)}
             for style, word in (("x", "x"), ("times", "times")) for a in range(2, 10) for b in range(2, 10)]
    rows += [{"id": f"capital-{re.sub(r'[^a-z]+', '-', country.lower()).strip('-')}", "task": "capital",
              "prompt": f"What is the capital of {country}?", "answer": city} for country, city in CAPITALS]
    return rows


def correct(row: dict, completion: str) -> bool:
    if row["task"] == "capital":
        # As a word and as written, as `influence analyze` and --query-tokens answer look for it.
        return re.search(r"(?<!\w)" + re.escape(row["answer"]) + r"(?!\w)", completion) is not None
    numbers = re.findall(r"-?\d+", completion)
    return bool(numbers) and numbers[-1] == row["answer"]


def queries(args: argparse.Namespace) -> None:
    rows = candidates()
    command = [str(BIN / "workbench"), "generate", "--model", args.model, "--max-new", "48", "--json"]
    results = []
    for start in range(0, len(rows), 64):
        batch = rows[start : start + 64]
        out = subprocess.run(command + [a for r in batch for a in ("--text", chat(r["prompt"]))],
                             capture_output=True, text=True, check=True).stdout
        results += json.loads(out)
        print(f"generated {len(results)}/{len(rows)}", file=sys.stderr)
    verdicts = []
    for row, result in zip(rows, results):
        completion = result["text"]
        ok = result["stopped_at_eos"] and correct(row, completion)
        verdicts.append({**row, "completion": completion, "stopped_at_eos": result["stopped_at_eos"], "correct": ok})
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "candidates.jsonl", verdicts)
    kept = []
    for task in ("addition", "multiplication", "capital"):
        good = [v for v in verdicts if v["task"] == task and v["correct"]]
        random.Random(3).shuffle(good)
        total = sum(v["task"] == task for v in verdicts)
        print(f"{task}: {len(good)} of {total} answered correctly (greedy, ended with EOS); keeping {min(len(good), args.per_task)}")
        if len(good) < args.per_task:
            sys.exit(f"error: only {len(good)} correct {task} queries, fewer than --per-task {args.per_task}")
        kept += [{k: v[k] for k in ("id", "prompt", "completion", "answer", "task")} for v in good[: args.per_task]]
    # The prompt is the whole ChatML text the model saw; the completion is its own answer.
    for q in kept:
        q["prompt"] = chat(q["prompt"])
    write_jsonl(out / "queries.jsonl", kept)
    print(f"{out / 'queries.jsonl'}: {len(kept)} queries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("out_dir")
    c.add_argument("--python-docs", type=int, default=400)
    c.add_argument("--synthetic", type=int, default=300)
    c.add_argument("--solutions", type=int, default=200)
    q = sub.add_parser("queries")
    q.add_argument("out_dir")
    q.add_argument("--model", default="models/smollm2-135m-instruct")
    q.add_argument("--per-task", type=int, default=24)
    args = parser.parse_args()
    corpus(args) if args.command == "corpus" else queries(args)


if __name__ == "__main__":
    main()
