#!/usr/bin/env python3
"""Summarises scripts/reproduce_tinylora.sh: OUT/summary.md (every run, the best learning rate per
method and objective, the fraction of full fine-tuning's RL gain each recovers, tying by depth
against type) and OUT/accuracy-vs-parameters.svg (mean@8 against trainable parameters, log scale,
RL and SFT as two curves, the base model as a dashed line). Standard library only.

Usage: python3 scripts/tinylora_report.py OUT_DIR
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

LINE = re.compile(r"^(\S+) (\S+) (\S+) (\d+) greedy accuracy ([\d.]+)\s+mean@8 ([\d.]+)\s+pass@8 ([\d.]+)")
TYING = ("tinylora-4-tie4-depth", "tinylora-4-tie4-type")


def main() -> None:
    out = Path(sys.argv[1])
    runs = []
    for line in (out / "results.txt").read_text().splitlines():
        m = LINE.match(line)
        if m:
            name, objective, lr, count = m[1], m[2], m[3], int(m[4])
            runs.append(dict(name=name, objective=objective, lr=lr, count=count,
                             greedy=100 * float(m[5]), mean=100 * float(m[6]), passk=100 * float(m[7])))
    total = next((l for l in (out / "results.txt").read_text().splitlines() if l.startswith("total")), "")
    base = next(r for r in runs if r["name"] == "base")
    best = {}
    for r in runs:
        key = (r["name"], r["objective"])
        if r["name"] != "base" and (key not in best or r["mean"] > best[key]["mean"]):
            best[key] = r
    full_gain = best[("full", "rl")]["mean"] - base["mean"]

    md = [f"Base model: mean@8 {base['mean']:.1f}, greedy {base['greedy']:.0f}, pass@8 {base['passk']:.0f}. {total}", "",
          "| method | parameters | objective | lr | mean@8 | greedy | pass@8 |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        if r["name"] != "base":
            md.append(f"| {r['name']} | {r['count']:,} | {r['objective']} | {r['lr']} | {r['mean']:.1f} | {r['greedy']:.0f} | {r['passk']:.0f} |")
    md += ["", f"Best learning rate per method; recovered = gain ÷ full fine-tuning's RL gain ({full_gain:+.1f}).", "",
           "| method | parameters | RL mean@8 (lr) | RL recovered | SFT mean@8 (lr) | SFT recovered |",
           "| --- | --- | --- | --- | --- | --- |"]
    names = sorted({r["name"] for r in runs if r["name"] != "base"}, key=lambda n: next(r["count"] for r in runs if r["name"] == n))
    for n in names:
        cells = []
        for objective in ("rl", "sft"):
            b = best.get((n, objective))
            if b:
                cells += [f"{b['mean']:.1f} ({b['lr']})", f"{100 * (b['mean'] - base['mean']) / full_gain:.0f}%" if full_gain else "—"]
            else:
                cells += ["—", "—"]
        count = next(r["count"] for r in runs if r["name"] == n)
        md.append(f"| {n} | {count:,} | " + " | ".join(cells) + " |")
    (out / "summary.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))

    # The plot: best mean@8 per size, tying variants left out.
    width, height, left, right, top, bottom = 640, 400, 60, 20, 30, 50
    curves = {o: sorted((b["count"], b["mean"]) for (n, obj), b in best.items() if obj == o and n not in TYING)
              for o in ("rl", "sft")}
    xs = [c for pts in curves.values() for c, _ in pts]
    ys = [m for pts in curves.values() for _, m in pts] + [base["mean"]]
    x0, x1 = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y0, y1 = 5 * math.floor(min(ys) / 5), 5 * math.ceil(max(ys) / 5)
    px = lambda c: left + (math.log10(c) - x0) / max(x1 - x0, 1) * (width - left - right)
    py = lambda m: top + (y1 - m) / max(y1 - y0, 1) * (height - top - bottom)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle">Word problems, embedded model: mean@8 against trainable parameters</text>']
    for e in range(x0, x1 + 1):
        svg.append(f'<line x1="{px(10 ** e):.1f}" y1="{top}" x2="{px(10 ** e):.1f}" y2="{height - bottom}" stroke="#ddd"/>')
        svg.append(f'<text x="{px(10 ** e):.1f}" y="{height - bottom + 16}" text-anchor="middle">1e{e}</text>')
    for y in range(int(y0), int(y1) + 1, 5):
        svg.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{width - right}" y2="{py(y):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y}</text>')
    svg.append(f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">trainable parameters (log scale)</text>')
    svg.append(f'<text x="16" y="{height / 2}" transform="rotate(-90 16 {height / 2})" text-anchor="middle">mean@8 (%)</text>')
    svg.append(f'<line x1="{left}" y1="{py(base["mean"]):.1f}" x2="{width - right}" y2="{py(base["mean"]):.1f}" stroke="gray" stroke-dasharray="5,4"/>')
    svg.append(f'<text x="{width - right - 4}" y="{py(base["mean"]) - 4:.1f}" text-anchor="end" fill="gray">base</text>')
    for (objective, colour) in (("rl", "#c0392b"), ("sft", "#2471a3")):
        pts = curves[objective]
        svg.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (colour, " ".join(f"{px(c):.1f},{py(m):.1f}" for c, m in pts)))
        for c, m in pts:
            svg.append(f'<circle cx="{px(c):.1f}" cy="{py(m):.1f}" r="4" fill="{colour}"/>')
        lx = left + 10 + (0 if objective == "rl" else 60)
        svg.append(f'<rect x="{lx}" y="{top + 6}" width="12" height="12" fill="{colour}"/><text x="{lx + 16}" y="{top + 16}">{objective.upper()}</text>')
    svg.append("</svg>")
    (out / "accuracy-vs-parameters.svg").write_text("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
