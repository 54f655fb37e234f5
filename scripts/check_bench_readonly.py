#!/usr/bin/env python3
"""Check that scripts/bench_runtime.py leaves a checkpoint it is given byte for byte as it was.

Stdlib only (run by scripts/test.sh with the system python3). In a temporary directory it makes
a fake checkpoint (config.json, a model.safetensors of random bytes, tokenizer.json), records
every file's sha256 and the listing, runs the benchmark on it in ways that must not write
(--model, the deprecated --model-dir, --random-dir on a directory the script did not create,
and bad --model paths), and compares after each run. Every run has --skip-torch --skip-swift,
and torch and transformers are replaced on PYTHONPATH by packages that fail when imported, so a
run that tries to build or load anything fails instead of taking minutes.

    python3 scripts/check_bench_readonly.py [--script PATH]

Prints one summary line (details of failures above it) and exits 1 on any failure.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REFUSAL = "was not created by this script"


@dataclass
class Case:
    name: str
    args: list[str]
    succeeds: bool  # exit status 0 expected; otherwise non-zero with one line containing `words`
    words: list[str] = field(default_factory=list)


def make_fake_checkpoint(directory: Path) -> None:
    directory.mkdir(parents=True)
    (directory / "config.json").write_text('{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}\n')
    (directory / "model.safetensors").write_bytes(os.urandom(4096))
    (directory / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"}}\n')


def make_poisoned_packages(directory: Path) -> None:
    """torch and transformers that fail on import, to shadow any installed ones."""
    for name in ("torch", "transformers"):
        (directory / name).mkdir(parents=True)
        (directory / name / "__init__.py").write_text(
            f"raise ImportError('check_bench_readonly: {name} imported; nothing here may build or load a model')\n")


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under `root` (hidden ones included): relative path -> sha256, 'dir' or the link target."""
    entries: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                entries[rel] = "link -> " + os.readlink(path)
            elif path.is_dir():
                entries[rel] = "dir"
            else:
                entries[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return entries


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    out = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    out += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    out += [f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return out


def outcome_problems(case: Case, proc: subprocess.CompletedProcess) -> list[str]:
    output = (proc.stdout + proc.stderr).strip()
    if case.succeeds:
        return [] if proc.returncode == 0 else [f"exit status {proc.returncode}, expected 0; output:\n{output}"]
    problems = []
    if proc.returncode == 0:
        problems.append("exit status 0, expected non-zero")
    lines = output.splitlines()
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines of output, expected one:\n{output}")
    missing = [w for w in case.words if w not in output]
    if missing:
        problems.append(f"output lacks {missing}: {output!r}")
    return problems


def run_case(script: Path, case: Case, watched: Path, env: dict[str, str], cwd: Path) -> list[str]:
    before = snapshot(watched)
    cmd = [sys.executable, str(script), *case.args, "--skip-torch", "--skip-swift"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    except subprocess.TimeoutExpired:
        return ["did not finish within 120 s"]
    problems = outcome_problems(case, proc)
    # A marker the script wrote shows up here as "added .../.bench-checkpoint.json".
    problems += [f"{watched.name}/: {d}" for d in differences(before, snapshot(watched))]
    return problems


def cases(models: Path) -> list[Case]:
    ckpt, bare, missing = models / "ckpt", models / "no-config", models / "does-not-exist"
    weights = ckpt / "model.safetensors"
    return [
        Case("--model DIR measures it as it is", ["--model", str(ckpt)], True),
        Case("--model-dir DIR (deprecated) means --model", ["--model-dir", str(ckpt)], True),
        Case("--random-dir on a directory it did not create is refused", ["--random-dir", str(ckpt)], False,
             [str(ckpt), REFUSAL, "--model"]),
        Case("--model on a missing path is refused", ["--model", str(missing)], False, [str(missing)]),
        Case("--model on a directory without config.json is refused", ["--model", str(bare)], False,
             [str(bare), "config.json"]),
        Case("--model on a file is refused", ["--model", str(weights)], False, [str(weights), "not a directory"]),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--script", type=Path, default=SCRIPTS / "bench_runtime.py", help="benchmark script to check")
    script = ap.parse_args().script.resolve()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="check-bench-readonly-") as tmp:
        root = Path(tmp)
        models, poison, cwd = root / "models", root / "poison", root / "cwd"
        make_fake_checkpoint(models / "ckpt")
        (models / "no-config").mkdir()
        (models / "no-config" / "tokenizer.json").write_text("{}\n")
        make_poisoned_packages(poison)
        cwd.mkdir()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(poison), os.environ.get("PYTHONPATH")])),
                   PYTHONDONTWRITEBYTECODE="1")
        all_cases = cases(models)
        for case in all_cases:
            # `models` is watched whole: nothing may appear beside the checkpoint either (a staging directory).
            problems = run_case(script, case, models, env, cwd)
            for problem in problems:
                print(f"FAIL {case.name}: {problem}")
            failures += bool(problems)
    if failures:
        print(f"check_bench_readonly: {failures} of {len(all_cases)} cases failed for {script}")
        return 1
    print(f"check_bench_readonly: all {len(all_cases)} cases passed; a given checkpoint is left byte for byte unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
