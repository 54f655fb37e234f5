#!/usr/bin/env python3
"""A corpus of real English documents: the reST sources of the Python 3.11 documentation that
Debian's python3.11-doc package ships (/usr/share/doc/python3.11/html/_sources/**/*.rst.txt;
Python Software Foundation License Version 2, the licence of the documentation), cut into
documents of a few hundred tokens, written as the .jsonl the corpus reader takes
(docs/formats.md). Standard library only; installs python3.11-doc through apt when missing.

    python3 scripts/make_real_corpus.py [--out data/real] [--chars 1400]

Writes OUT/python-docs.jsonl (nine documents in ten, for fitting and tuning) and
OUT/python-docs-heldout.jsonl (every tenth, for held-out lens tables), each line
{"id": "pydoc-<page>-<n>", "text": ..., "source": "python-docs"}. The cut is deterministic:
pages in path order; within a page, paragraphs (blank-line separated) gathered until a document
holds about --chars characters (≈ 300–400 tokens for SmolLM2's tokenizer); reST directive lines
(`.. index::`, `.. _label:`) and heading underlines dropped; a page's short remainder joins its
last document. The corpus is not committed (data/ is ignored); this script rebuilds it.
"""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

SOURCES = Path("/usr/share/doc/python3.11/html/_sources")
UNDERLINE = re.compile(r"^([=\-~^*+#\"'`]){3,}\s*$")
DIRECTIVE = re.compile(r"^\.\.\s+(index|_[^:]*|highlight|module|moduleauthor|sectionauthor|currentmodule|versionadded|versionchanged|seealso|toctree|only|include|raw|impl-detail|deprecated)::?")


def ensure_sources():
    if SOURCES.is_dir():
        return
    print("installing python3.11-doc (apt) for its reST sources", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "python3.11-doc"], check=True, env=env, stdout=subprocess.DEVNULL)
    if not SOURCES.is_dir():
        raise SystemExit(f"error: {SOURCES}: missing after installing python3.11-doc")


def paragraphs(text):
    lines = [line.rstrip() for line in text.splitlines()]
    kept = [line for line in lines if not UNDERLINE.match(line) and not DIRECTIVE.match(line.strip())]
    block = []
    for line in kept + [""]:
        if line.strip():
            block.append(line)
        elif block:
            yield "\n".join(block)
            block = []


def documents(page, chars):
    docs, current = [], []
    for paragraph in paragraphs(page.read_text(encoding="utf-8", errors="replace")):
        # A paragraph far longer than a document is cut at line boundaries.
        pieces = [paragraph]
        if len(paragraph) > 2 * chars:
            pieces, piece = [], []
            for line in paragraph.split("\n"):
                piece.append(line)
                if sum(len(p) + 1 for p in piece) >= chars:
                    pieces.append("\n".join(piece))
                    piece = []
            if piece:
                pieces.append("\n".join(piece))
        for piece in pieces:
            current.append(piece)
            if sum(len(p) + 2 for p in current) >= chars:
                docs.append("\n\n".join(current))
                current = []
    if current:
        remainder = "\n\n".join(current)
        if docs and len(remainder) < chars // 3:
            docs[-1] += "\n\n" + remainder
        elif len(remainder) >= chars // 3:
            docs.append(remainder)
    return docs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/real"))
    parser.add_argument("--chars", type=int, default=1400, help="characters per document (about)")
    args = parser.parse_args()
    ensure_sources()
    pages = sorted(SOURCES.rglob("*.rst.txt"))
    args.out.mkdir(parents=True, exist_ok=True)
    train_path, held_path = args.out / "python-docs.jsonl", args.out / "python-docs-heldout.jsonl"
    counts = [0, 0]
    index = 0
    with open(str(train_path) + ".tmp", "w") as train, open(str(held_path) + ".tmp", "w") as held:
        for page in pages:
            name = str(page.relative_to(SOURCES))[: -len(".rst.txt")].replace("/", ".")
            for n, text in enumerate(documents(page, args.chars)):
                record = {"id": f"pydoc-{name}-{n}", "text": text, "source": "python-docs"}
                target = held if index % 10 == 9 else train
                target.write(json.dumps(record, ensure_ascii=False) + "\n")
                counts[index % 10 == 9] += 1
                index += 1
    os.replace(str(train_path) + ".tmp", train_path)
    os.replace(str(held_path) + ".tmp", held_path)
    print(f"{len(pages)} pages → {index} documents: {counts[0]} in {train_path}, {counts[1]} held out in {held_path}")
    if counts[0] < 5000:
        raise SystemExit(f"error: only {counts[0]} documents (at least 5,000 wanted); lower --chars")


if __name__ == "__main__":
    main()
