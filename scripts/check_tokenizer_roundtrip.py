#!/usr/bin/env python3
"""Check that the workbench encodes exactly like the Python `tokenizers` library.

Typical use, on a tokenizer the workbench trained itself::

    .build/release/workbench tokenizer-train ... --out /tmp/tok.json
    python3 scripts/check_tokenizer_roundtrip.py --tokenizer /tmp/tok.json --text corpus.txt

Steps:

1. Load ``--tokenizer`` with the Python ``tokenizers`` library (this alone
   checks that the file the workbench wrote is a valid ``tokenizer.json``).
2. Collect the inputs: every line of ``--text`` (if given) and the strings of
   ``Tests/TokenizersTests/Fixtures/cases.json`` that contain no "\\n"
   (a case with a newline cannot be one line; ``--no-cases`` leaves them out).
3. Write the inputs to a temporary file, one per line, and run::

       workbench tokenize --tokenizer X.json --file F --lines --json

   or read ``--ids-file`` instead (the saved output of such a run).
4. Encode every input with the library (``add_special_tokens=True``, the
   library default, so BOS/EOS templates apply) and compare the id lists.

Contract for ``workbench tokenize --lines --json``: the input file is UTF-8 and is
split into lines on "\\n" (byte 0x0A) only; a "\\r" before it stays part of the
line; a final "\\n" does not start an extra empty line. For every input line
the command prints exactly one line, a JSON object ``{"ids": [...]}`` (other
keys are allowed and ignored), in input order. Ids include the special tokens
the tokenizer's post-processor adds.

Exit status: 0 when every line matches, 1 on any mismatch (or a different
number of output lines), 2 when the workbench could not be run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKBENCH = ROOT / ".build" / "release" / "workbench"
DEFAULT_CASES = ROOT / "Tests" / "TokenizersTests" / "Fixtures" / "cases.json"


def read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.exit(f"error: {path} is not valid UTF-8 ({e})")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file ends with "\n" (or is empty)
    return lines


def run_workbench(workbench: Path, tokenizer: Path, inputs: list[str]) -> list[str]:
    if not workbench.exists():
        print(f"error: workbench binary not found at {workbench} (build it with `swift build -c release`)",
              file=sys.stderr)
        sys.exit(2)
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
        f.write(("\n".join(inputs) + "\n").encode("utf-8") if inputs else b"")
        path = f.name
    try:
        cmd = [str(workbench), "tokenize", "--tokenizer", str(tokenizer), "--file", path, "--lines", "--json"]
        proc = subprocess.run(cmd, capture_output=True)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        print(f"error: {' '.join(cmd)} exited with {proc.returncode}", file=sys.stderr)
        sys.stderr.write(proc.stderr.decode("utf-8", "replace")[-4000:])
        sys.exit(2)
    return proc.stdout.decode("utf-8").split("\n")


def parse_ids(out_lines: list[str]) -> list[list[int]]:
    if out_lines and out_lines[-1] == "":
        out_lines = out_lines[:-1]
    result = []
    for n, line in enumerate(out_lines, 1):
        try:
            obj = json.loads(line)
            ids = obj["ids"]
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise ValueError("'ids' is not a list of integers")
        except (ValueError, KeyError, TypeError) as e:
            print(f"error: output line {n} is not a JSON object with an 'ids' list ({e}): {line[:200]!r}",
                  file=sys.stderr)
            sys.exit(2)
        result.append(ids)
    return result


def first_difference(a: list[int], b: list[int]) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def short(s: str, n: int = 120) -> str:
    r = repr(s)
    return r if len(r) <= n else r[: n - 3] + "..."


def main() -> int:
    ap = argparse.ArgumentParser(description="Compare workbench tokenization with the Python tokenizers library.")
    ap.add_argument("--tokenizer", type=Path, required=True, help="tokenizer.json (e.g. written by workbench tokenizer-train)")
    ap.add_argument("--text", type=Path, help="text file; every line is one input")
    ap.add_argument("--workbench", type=Path, default=DEFAULT_WORKBENCH, help=f"workbench binary (default {DEFAULT_WORKBENCH})")
    ap.add_argument("--ids-file", type=Path, help="compare against this saved `workbench tokenize --lines --json` output instead of running the workbench (it must cover the same inputs: --text lines, then the cases)")
    ap.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="cases.json to add to the inputs")
    ap.add_argument("--no-cases", action="store_true", help="only use the lines of --text")
    ap.add_argument("--show", type=int, default=5, help="how many mismatches to print in full")
    args = ap.parse_args()

    try:
        tok = Tokenizer.from_file(str(args.tokenizer))
    except Exception as e:  # the library raises plain Exception subclasses
        print(f"error: the Python tokenizers library cannot load {args.tokenizer}: {e}", file=sys.stderr)
        return 1
    model = json.loads(args.tokenizer.read_text(encoding="utf-8")).get("model", {})
    print(f"loaded {args.tokenizer}: model {model.get('type')}, "
          f"{tok.get_vocab_size(with_added_tokens=True)} ids with added tokens")

    inputs: list[str] = []
    labels: list[str] = []
    if args.text:
        lines = read_lines(args.text)
        inputs += lines
        labels += [f"{args.text.name}:{i + 1}" for i in range(len(lines))]
        print(f"{len(lines)} lines from {args.text}")
    if not args.no_cases:
        cases = json.loads(args.cases.read_text(encoding="utf-8"))
        kept = [(i, c) for i, c in enumerate(cases) if "\n" not in c]
        inputs += [c for _, c in kept]
        labels += [f"case {i}" for i, _ in kept]
        print(f"{len(kept)} of {len(cases)} cases from {args.cases} (the {len(cases) - len(kept)} with a newline left out)")
    if not inputs:
        print("nothing to compare", file=sys.stderr)
        return 2

    expected = [e.ids for e in tok.encode_batch(inputs)]

    if args.ids_file:
        got = parse_ids(args.ids_file.read_text(encoding="utf-8").split("\n"))
        source = str(args.ids_file)
    else:
        got = parse_ids(run_workbench(args.workbench, args.tokenizer, inputs))
        source = str(args.workbench)

    status = 0
    if len(got) != len(expected):
        print(f"MISMATCH: {len(inputs)} input lines but {len(got)} output lines from {source}")
        status = 1

    mismatches = [i for i, (a, b) in enumerate(zip(expected, got)) if a != b]
    n_cmp = min(len(expected), len(got))
    total_tokens = sum(len(e) for e in expected[:n_cmp])
    print(f"compared {n_cmp} lines ({total_tokens} tokens): {len(mismatches)} mismatching")
    for i in mismatches[: args.show]:
        a, b = expected[i], got[i]
        d = first_difference(a, b)
        lo = max(0, d - 3)
        print(f"\n--- {labels[i]}: {short(inputs[i])}")
        print(f"    first difference at index {d} (python {len(a)} ids, workbench {len(b)} ids)")
        print(f"    python    {a[lo:d + 8]}{' ...' if len(a) > d + 8 else ''}  (from index {lo})")
        print(f"    workbench {b[lo:d + 8]}{' ...' if len(b) > d + 8 else ''}")
        pieces = [tok.id_to_token(t) for t in a[lo:d + 8]]
        print(f"    python tokens {pieces}")
        if len(a) <= 64 and len(b) <= 64:
            print(f"    python ids    {a}")
            print(f"    workbench ids {b}")
    if len(mismatches) > args.show:
        print(f"\n... and {len(mismatches) - args.show} more")
    if mismatches:
        status = 1
    print("OK" if status == 0 else "FAILED")
    return status


if __name__ == "__main__":
    sys.exit(main())
