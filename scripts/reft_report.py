#!/usr/bin/env python3
"""Summarises scripts/reproduce_reft.sh: OUT/summary.md (memorisation recovery by text, block and
length; composition; LoReFT against LoRA and steering vectors) and OUT/memorisation.svg (one
block × length heatmap per text, recovery in %). Standard library only; parts that were not run
are left out.

Usage: python3 scripts/reft_report.py OUT_DIR
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def memorisation(out: Path, md: list[str]) -> None:
    path = out / "memorisation.tsv"
    if not path.exists():
        return
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    cells = {(r[0], int(r[1]), int(r[2])): float(r[3]) for r in rows}
    texts = [t for t in ("known", "shuffled", "random") if any(k[0] == t for k in cells)]
    lengths = sorted({k[1] for k in cells})
    blocks = sorted({k[2] for k in cells})
    seconds = sum(float(r[6]) for r in rows)
    md += ["## Memorisation", "", f"Recovery (%): exact character prefix ÷ generated length; {len(rows)} runs, {seconds / 60:.1f} min.", ""]
    for t in texts:
        md += [f"**{t}**", "", "| block | " + " | ".join(f"{n} tok" for n in lengths) + " |", "| --- |" + " --- |" * len(lengths)]
        for b in blocks:
            md.append(f"| {b} | " + " | ".join(f"{cells[(t, n, b)]:.0f}" if (t, n, b) in cells else "—" for n in lengths) + " |")
        md.append("")
    # Heatmap: one panel per text, blocks as rows, lengths as columns.
    cw, ch, left, top, gap = 56, 28, 60, 40, 40
    panel_w = left + cw * len(lengths)
    width, height = panel_w * len(texts) + gap, top + ch * len(blocks) + 50
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for p, t in enumerate(texts):
        x0 = p * panel_w + 10
        svg.append(f'<text x="{x0 + left}" y="16" font-size="13">{t}: recovery % (rank-1 ConsReFT, last prompt token)</text>')
        for j, n in enumerate(lengths):
            svg.append(f'<text x="{x0 + left + j * cw + cw / 2}" y="{top - 6}" text-anchor="middle">{n}</text>')
        for i, b in enumerate(blocks):
            svg.append(f'<text x="{x0 + left - 6}" y="{top + i * ch + ch / 2 + 4}" text-anchor="end">block {b}</text>')
            for j, n in enumerate(lengths):
                v = cells.get((t, n, b))
                if v is None:
                    continue
                shade = int(255 - 2.2 * v)
                svg.append(f'<rect x="{x0 + left + j * cw}" y="{top + i * ch}" width="{cw - 2}" height="{ch - 2}" fill="rgb({shade},{shade},255)"/>')
                svg.append(f'<text x="{x0 + left + j * cw + cw / 2}" y="{top + i * ch + ch / 2 + 4}" text-anchor="middle" fill="{"white" if v > 60 else "black"}">{v:.0f}</text>')
        svg.append(f'<text x="{x0 + left + cw * len(lengths) / 2}" y="{top + ch * len(blocks) + 20}" text-anchor="middle">text length (tokens)</text>')
    svg.append("</svg>")
    (out / "memorisation.svg").write_text("\n".join(svg) + "\n")


def composition(out: Path, md: list[str]) -> None:
    path = out / "composition.txt"
    if not path.exists():
        return
    results = {}
    for line in path.read_text().splitlines():
        m = re.match(r"(\S+) (\S+) accuracy ([\d.]+) format ([\d.]+)", line)
        if m:
            results[(m[1], m[2])] = (100 * float(m[3]), 100 * float(m[4]))
    md += ["## Composition", "", "Greedy accuracy and the fraction of answers in behaviour A's format (\"The answer is N\" without \\boxed) (%), 100 problems each.", "",
           "| applied | linear: accuracy | linear: A's format | words: accuracy | words: A's format |", "| --- | --- | --- | --- | --- |"]
    for name in ("base", "A", "B", "A+B"):
        lin, words = results.get((name, "linear")), results.get((name, "words"))
        if lin and words:
            md.append(f"| {name} | {lin[0]:.0f} | {lin[1]:.0f} | {words[0]:.0f} | {words[1]:.0f} |")
    md.append("")


def comparison(out: Path, md: list[str]) -> None:
    path = out / "comparison.txt"
    if not path.exists():
        return
    md += ["## LoReFT, LoRA and steering vectors on the word problems", "",
           "| method | objective | lr | parameters | mean@8 | greedy | pass@8 |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for line in path.read_text().splitlines():
        m = re.match(r"(\S+) (\S+) (\S+) (\d+) greedy accuracy ([\d.]+)\s+mean@8 ([\d.]+)\s+pass@8 ([\d.]+)", line)
        if m:
            md.append(f"| {m[1]} | {m[2]} | {m[3]} | {int(m[4]):,} | {100 * float(m[6]):.1f} | {100 * float(m[5]):.0f} | {100 * float(m[7]):.0f} |")
    md.append("")


def main() -> None:
    out = Path(sys.argv[1])
    md: list[str] = []
    memorisation(out, md)
    composition(out, md)
    comparison(out, md)
    total = out / "total.txt"
    if total.exists():
        md.append(total.read_text().strip().splitlines()[-1])
    (out / "summary.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
