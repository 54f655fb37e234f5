#!/usr/bin/env python3
"""Tokenizer throughput: the Python `tokenizers` library (Rust) against the workbench.

This is a benchmark, not a test. Steps:

1. Build a deterministic text file (default 4 MB, written to /tmp): about 70 %
   English-like prose (common words plus a long tail of made-up words, so the
   BPE word cache does not see the same few hundred words forever), 20 % code
   and 10 % multilingual lines (CJK, Thai, Devanagari, Arabic, Cyrillic,
   emoji, ...). One input per line; lines are split on "\\n" only.
2. Measure the library on ``--tokenizer`` (default: the llama3_style
   fixture), every measurement in a fresh subprocess so the thread settings
   apply, ``add_special_tokens=False`` (tokenization only, no template),
   best of ``--repeats`` timed runs, each on a freshly loaded tokenizer (empty
   BPE word cache, as ``workbench tokenizer-bench`` does) after one untimed
   run; the same text again on the filled cache is printed in brackets:
   * single thread (RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false):
       - ``encode`` called once per line from Python,
       - ``encode_batch`` over all lines (runs serially in Rust),
       - ``encode_batch_fast`` over all lines (same, without offsets);
   * all cores (RAYON_NUM_THREADS unset, TOKENIZERS_PARALLELISM=true):
       - ``encode_batch`` and ``encode_batch_fast`` over all lines.
   The headline figure for each row is the fastest of its methods (named in
   the table); all are printed.
3. Run ``workbench tokenizer-bench --tokenizer X.json --file F --json``, which
   prints one JSON object ``{"single_thread_mb_per_s": x,
   "all_cores_mb_per_s": y, "tokens": n}`` (the last line of stdout that parses
   as JSON is used). ``tokens`` should be the total number of ids over all
   lines without special tokens; the script prints the library's count with
   and without special tokens so a mismatch is easy to place.
4. Print a table with both sides and the workbench / library ratios.

MB/s means 10^6 bytes of the UTF-8 file (newlines included) per second.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tokenizer_fixtures import COMMON_WORDS, CONTRACTIONS, MULTILINGUAL, _code  # noqa: E402

DEFAULT_TOKENIZER = ROOT / "Tests" / "TokenizersTests" / "Fixtures" / "llama3_style.json"
DEFAULT_WORKBENCH = ROOT / ".build" / "release" / "workbench"

SYLLABLES = ["ka", "lo", "mi", "tra", "ven", "sor", "qui", "del", "phe", "nox", "ul", "bar", "zen",
             "est", "ion", "ph", "gr", "str", "ck", "ou", "ea", "th", "sh", "ly", "ment", "ing", "ed"]
EXTRA_LINES = [
    "Москва — столица России, а Санкт-Петербург — её культурная столица.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "السلام عليكم ورحمة الله وبركاته.",
    "前回の会議では新しい計画について話し合いました。",
    "人工智能正在改变我们的生活方式和工作方式。",
    "오늘 저녁에 친구들과 영화를 볼 예정입니다.",
]


def _made_up_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def _prose_line(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(8, 30)):
        r = rng.random()
        if r < 0.80:
            words.append(rng.choice(COMMON_WORDS))
        elif r < 0.92:
            words.append(_made_up_word(rng))
        elif r < 0.96:
            words.append(rng.choice(CONTRACTIONS))
        else:
            words.append(str(rng.randint(0, 10 ** rng.randint(1, 7))))
    s = " ".join(words)
    s = s[0].upper() + s[1:]
    for _ in range(rng.randint(0, 3)):
        i = rng.randint(1, len(s) - 1)
        if s[i] == " ":
            s = s[:i] + rng.choice([",", ";", " -", ":"]) + s[i:]
    return s + rng.choice([".", ".", "!", "?"])


def build_text(size_bytes: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size_bytes:
        r = rng.random()
        if r < 0.70:
            line = _prose_line(rng)
        elif r < 0.90:
            block = _code(rng).rstrip("\n")
            for line in block.split("\n"):
                out.append(line)
                total += len(line.encode()) + 1
            continue
        else:
            line = rng.choice(MULTILINGUAL + EXTRA_LINES)
            if rng.random() < 0.5:
                line = line + " " + _prose_line(rng)
        out.append(line)
        total += len(line.encode()) + 1
    text = "\n".join(out) + "\n"
    return text.encode()[:size_bytes].decode("utf-8", "ignore").rsplit("\n", 1)[0] + "\n"


# Runs in a subprocess: python3 bench_tokenizer.py --worker METHOD TOKENIZER FILE REPEATS
def worker(method: str, tokenizer: str, path: str, repeats: int) -> None:
    import time
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer)
    data = Path(path).read_bytes()
    lines = data.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    def run() -> int:
        if method == "encode":
            n = 0
            for line in lines:
                n += len(tok.encode(line, add_special_tokens=False).ids)
            return n
        if method == "encode_batch":
            return sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
        if method == "encode_batch_fast":
            return sum(len(e.ids) for e in tok.encode_batch_fast(lines, add_special_tokens=False))
        raise ValueError(method)

    # Cold: a freshly loaded tokenizer for every timed run, so the BPE word
    # cache starts empty each time (as in `workbench tokenizer-bench`).
    # Warm: the same text again on the tokenizer whose cache is now filled.
    cold, warm = [], []
    tokens = None
    for _ in range(repeats):
        tok = Tokenizer.from_file(tokenizer)
        run()  # untimed: first use (thread pool start-up, page faults); fills the cache
        tok = Tokenizer.from_file(tokenizer)
        t0 = time.perf_counter()
        n = run()
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run()
        warm.append(time.perf_counter() - t0)
        assert tokens is None or n == tokens
        tokens = n
    with_special = sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=True))
    print(json.dumps({"method": method, "best_s": min(cold), "warm_s": min(warm), "cold": cold, "warm": warm,
                      "bytes": len(data), "lines": len(lines), "tokens": tokens,
                      "tokens_with_special": with_special}))


def measure(method: str, threads: str, tokenizer: Path, path: Path, repeats: int) -> dict:
    env = dict(os.environ)
    if threads == "single":
        env["RAYON_NUM_THREADS"] = "1"
        env["TOKENIZERS_PARALLELISM"] = "false"
    else:
        env.pop("RAYON_NUM_THREADS", None)
        env["TOKENIZERS_PARALLELISM"] = "true"
    cmd = [sys.executable, __file__, "--worker", method, str(tokenizer), str(path), str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"worker failed ({' '.join(cmd)}):\n{proc.stderr}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["mb_per_s"] = res["bytes"] / 1e6 / res["best_s"]
    res["warm_mb_per_s"] = res["bytes"] / 1e6 / res["warm_s"]
    return res


def run_workbench(workbench: Path, tokenizer: Path, path: Path) -> dict | None:
    if not workbench.exists():
        print(f"\nworkbench binary not found at {workbench}: printing the Python numbers only")
        return None
    cmd = [str(workbench), "tokenizer-bench", "--tokenizer", str(tokenizer), "--file", str(path), "--json"]
    print(f"\nrunning {' '.join(cmd)}")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"workbench exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
        return None
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    print(f"no JSON object in the workbench output:\n{proc.stdout[-2000:]}")
    return None


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return 0

    ap = argparse.ArgumentParser(description="Tokenizer throughput: Python tokenizers vs workbench.")
    ap.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER)
    ap.add_argument("--workbench", type=Path, default=DEFAULT_WORKBENCH)
    ap.add_argument("--mb", type=float, default=4.0, help="size of the generated text in MB (default 4)")
    ap.add_argument("--file", type=Path, help="benchmark this text file instead of generating one")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    if args.file:
        path = args.file
    else:
        text = build_text(int(args.mb * 1e6))
        data = text.encode()
        digest = hashlib.sha256(data).hexdigest()[:10]
        path = Path("/tmp") / f"tokenizer_bench_{args.mb:g}MB_{digest}.txt"
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        print(f"text: {path} ({len(data)} bytes, {text.count(chr(10))} lines, sha256 {digest})")
    print(f"tokenizer: {args.tokenizer}")
    print(f"cores: {os.cpu_count()}, repeats: {args.repeats} (best of), add_special_tokens=False")

    single = {m: measure(m, "single", args.tokenizer, path, args.repeats)
              for m in ("encode", "encode_batch", "encode_batch_fast")}
    multi = {m: measure(m, "all", args.tokenizer, path, args.repeats)
             for m in ("encode_batch", "encode_batch_fast")}

    print("\nPython tokenizers, every method (MB/s, best run; empty word cache / [cache already filled]):")
    for label, group in (("single thread", single), ("all cores", multi)):
        for m, r in group.items():
            print(f"  {label:<14} {m:<18} {r['mb_per_s']:8.2f}  [{r['warm_mb_per_s']:.2f}]")

    best_single = max(single.values(), key=lambda r: r["mb_per_s"])
    best_multi = max(multi.values(), key=lambda r: r["mb_per_s"])
    py_tokens = best_single["tokens"]
    py_tokens_special = best_single["tokens_with_special"]

    wb = run_workbench(args.workbench, args.tokenizer, path)

    print()
    header = f"{'':<15}{'python MB/s':>13}  {'python method':<20}"
    if wb:
        header += f"{'workbench MB/s':>16}{'workbench/python':>18}"
    print(header)
    rows = (("single thread", best_single, "single_thread_mb_per_s"),
            ("all cores", best_multi, "all_cores_mb_per_s"))
    for label, r, key in rows:
        line = f"{label:<15}{r['mb_per_s']:>13.2f}  {r['method']:<20}"
        if wb:
            w = wb.get(key)
            if isinstance(w, (int, float)):
                line += f"{w:>16.2f}{w / r['mb_per_s']:>17.2f}x"
            else:
                line += f"{'missing':>16}"
        print(line)
    ratio = best_multi["mb_per_s"] / best_single["mb_per_s"]
    print(f"\npython all-cores / single-thread: {ratio:.2f}x on {os.cpu_count()} cores")

    print(f"\ntokens (python, no special tokens):   {py_tokens}")
    print(f"tokens (python, with special tokens): {py_tokens_special}")
    if wb:
        n = wb.get("tokens")
        print(f"tokens (workbench):                   {n}")
        if n == py_tokens:
            print("token count matches")
        elif n == py_tokens_special:
            print("token count matches the count WITH special tokens (the workbench adds the template)")
        else:
            print("TOKEN COUNT MISMATCH")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
