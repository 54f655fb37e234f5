#!/usr/bin/env python3
"""Renders report pages in a real browser and checks what a reader would see (standard library
only, plus Debian's chromium):

    python3 scripts/check_reports.py out/report-check/*.html [--shots docs/report]

For each page: `chromium --headless --screenshot` to PAGE.png, failing on a blank or near-uniform
image; `--enable-logging=stderr` during that render, failing on any console message (the pages
have no script, so any message is an error: a failed load, a blocked request); `--dump-dom`,
failing when the DOM lacks what the page's kind must show (by the file name's first word):

    run        8 or more charts, an evaluation table, the vectors' lens readings
    lens       a grid of 20 or more coloured cells with hover titles
    influence  a score histogram and tokens shaded both ways (raising and lowering)
    analysis   the findings' tables and the query × query matrix
    demo       all of the above

With --shots DIR a 1000×1000 screenshot of each kind's page (not the demo's) is also written there.
Exits 1 on any failure, printing one line per check.
"""

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

EXPECT = {
    "run": [('<svg class="chart"', 8), ("Evaluations", 1), ("through the lens", 1)],
    "lens": [('class="cell"', 20), ('title="', 20)],
    "influence": [('<svg class="chart"', 1), ('class="tok pos"', 1), ('class="tok neg"', 1)],
    "analysis": [("<table", 3), ('class="cell"', 4)],
}
EXPECT["demo"] = [e for kind in ("run", "lens", "influence") for e in EXPECT[kind]]


def chromium(*args, timeout=120):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("error: chromium is not installed (scripts/setup.sh --browser installs it)")
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--disable-extensions", "--disable-background-networking"]
    return subprocess.run(base + list(args), capture_output=True, text=True, timeout=timeout)


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour in (2, 6), f"unsupported PNG (depth {depth}, colour {colour})"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + previous[i]) & 255
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = previous[i]
                c = previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        previous = line
    return width, height, bpp, rows


def uniformity(path):
    """The share of pixels (every 4th row and column) equal to the most common colour."""
    width, height, bpp, rows = png_pixels(path)
    counts = {}
    for y in range(0, height, 4):
        row = rows[y]
        for x in range(0, width, 4):
            key = bytes(row[x * bpp:x * bpp + 3])
            counts[key] = counts.get(key, 0) + 1
    total = sum(counts.values())
    return max(counts.values()) / total, len(counts)


def check(page: Path, shots: Path | None) -> list[str]:
    failures = []
    kind = page.name.split("-")[0].split(".")[0]
    url = page.resolve().as_uri()
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "shot.png"
        render = chromium("--enable-logging=stderr", "--v=0", f"--screenshot={png}", "--window-size=1280,1400", url)
        console = [line for line in render.stderr.splitlines() if ":CONSOLE" in line]
        if console:
            failures.append(f"{page}: {len(console)} console message(s), first: {console[0]}")
        if not png.exists():
            failures.append(f"{page}: no screenshot ({render.stderr.strip().splitlines()[-1:]})")
        else:
            share, colours = uniformity(png)
            print(f"  {page.name}: screenshot {png.stat().st_size} bytes, {colours} colours, background {share:.0%} of the pixels")
            if share > 0.985 or colours < 8:
                failures.append(f"{page}: the screenshot is near-uniform ({share:.1%} one colour, {colours} colours)")
            target = page.with_suffix(".png")
            shutil.copy(png, target)
            if shots and kind != "demo":
                shots.mkdir(parents=True, exist_ok=True)
                crop = chromium(f"--screenshot={shots / (page.stem + '.png')}", "--window-size=1000,1000", url)
                if crop.returncode != 0:
                    failures.append(f"{page}: could not write the docs screenshot")
    dom = chromium("--dump-dom", url).stdout
    for needle, least in EXPECT.get(kind, []):
        found = dom.count(needle)
        if found < least:
            failures.append(f"{page}: the rendered DOM has {found} × {needle!r}, expected at least {least}")
    if "<script" in dom:
        failures.append(f"{page}: the page carries a script")
    if re.search(r'\b(src|href)\s*=\s*["\']?\s*(https?:)?//', dom) or re.search(r"url\(\s*[\"']?(https?:)?//", dom):
        failures.append(f"{page}: the page loads something from the network")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--shots", type=Path, help="also write a 1000×1000 screenshot of each kind's page here")
    args = parser.parse_args()
    failures = []
    for page in args.pages:
        failures += check(page, args.shots)
    for f in failures:
        print("FAIL " + f)
    print(f"{len(args.pages)} pages rendered; " + (f"{len(failures)} problems" if failures else "every check holds"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
