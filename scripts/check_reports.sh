#!/usr/bin/env bash
# Writes one report page of each kind from the demo's outputs (out/demo; the demo is run first
# when they are missing) into out/report-check/, then renders each in chromium and checks it
# (scripts/check_reports.py). Pass --shots DIR to also keep screenshots for the docs.
set -euo pipefail
source "$(dirname "$0")/release_env.sh"
demo=out/demo
pages=out/report-check
[ -f $demo/influence.h5 ] && [ -f $demo/steer/training.h5 ] && [ -f $demo/report.html ] || "$bin/workbench" demo --out $demo >/dev/null
rm -rf $pages && mkdir -p $pages
"$bin/workbench" report $demo --out $pages/demo.html >/dev/null
"$bin/workbench" report $demo/steer --out $pages/run.html >/dev/null
"$bin/workbench" report $demo/lens.h5 --out $pages/lens.html >/dev/null
"$bin/workbench" report $demo/influence.h5 --out $pages/influence.html >/dev/null
"$bin/influence" analyze $demo/influence.h5 --docs notebooks-data/corpus-sample.jsonl --queries $demo/queries.jsonl \
    --top-k 10 --out $pages/analysis.h5 >/dev/null
"$bin/workbench" report $pages/analysis.h5 --out $pages/analysis.html >/dev/null
python3 scripts/check_reports.py $pages/run.html $pages/lens.html $pages/influence.html $pages/analysis.html $pages/demo.html "$@"
