#!/usr/bin/env bash
# Executes every notebook in notebooks/ on the demo's outputs (out/demo; the demo is run first
# when they are missing), in a virtual environment of pinned versions from PyPI (.venv-notebooks,
# made on first use), with `jupyter nbconvert --execute`. A notebook that raises fails the script:
# a change of a file format that breaks a reader breaks CI. Executed copies go to out/notebooks.
set -euo pipefail
source "$(dirname "$0")/release_env.sh"
venv=.venv-notebooks
pins=("nbconvert==7.16.4" "nbclient==0.10.0" "ipykernel==6.29.5" "h5py==3.12.1" "pandas==2.2.3" "matplotlib==3.9.2" "numpy==2.1.3")
if ! "$venv/bin/python" -c "import nbconvert, ipykernel, h5py, pandas, matplotlib" 2>/dev/null; then
    echo "making $venv (${pins[*]})"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "${pins[@]}"
fi
[ -f out/demo/influence.h5 ] && [ -f out/demo/steer/training.h5 ] || "$bin/workbench" demo --out out/demo >/dev/null
mkdir -p out/notebooks
for notebook in notebooks/*.ipynb; do
    WORKBENCH_DEMO="$PWD/out/demo" "$venv/bin/jupyter" nbconvert --to notebook --execute "$notebook" \
        --output-dir out/notebooks --ExecutePreprocessor.timeout=600 --log-level=WARN
    echo "executed $notebook"
done
