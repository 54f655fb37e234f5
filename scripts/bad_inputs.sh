#!/usr/bin/env bash
# Feeds every command each class of bad input and checks the contract of docs/testing.md
# ("Bad input"): exit status 1, exactly one line on stderr that starts with "error:" and names
# the file, and nothing left under the output name (nor a temporary file beside it).
# Prints the class × command table that docs/testing.md keeps; exits 1 if a cell fails.
#   bash scripts/bad_inputs.sh            (after a release build)
set -uo pipefail
source "$(dirname "$0")/release_env.sh"
data=notebooks-data
python3 scripts/bad_input_files.py "$data" "$w" || exit 1
# Factors: a good file fitted here, then broken copies of it.
mkdir -p "$w/factors"
"$bin/influence" fit --docs "$w/docs.jsonl" --out "$w/factors/good.h5" --max-length 32 >/dev/null 2>&1 || { echo "error: cannot fit the good factors" >&2; exit 1; }
: > "$w/factors/empty.h5"
head -c $(( $(stat -c %s "$w/factors/good.h5") / 2 )) "$w/factors/good.h5" > "$w/factors/truncated.h5"
cp "$w/docs.jsonl" "$w/factors/wrong-type.h5"

# check EXPECTED-FILE OUTPUT COMMAND... (a failing cell also goes to $w/failures.log): runs the command and prints ✓ or ✗ (why): status 1, one
# line starting "error:" that contains EXPECTED-FILE (when given), nothing at OUTPUT (when given).
check() {
    local expected=$1 output=$2; shift 2
    local stderr status lines
    stderr=$("$@" 2>&1 >/dev/null); status=$?
    lines=$(printf '%s' "$stderr" | grep -c '' || true)
    local why=""
    [ "$status" -eq 1 ] || why="status $status"
    [ -z "$why" ] && [ "$lines" -ne 1 ] && why="$lines lines"
    [ -z "$why" ] && [[ "$stderr" != error:* ]] && why="no 'error:'"
    [ -z "$why" ] && [ -n "$expected" ] && [[ "$stderr" != *"$expected"* ]] && why="does not name $(basename "$expected")"
    if [ -z "$why" ] && [ -n "$output" ]; then
        if [ -e "$output" ] || compgen -G "$output.tmp*" >/dev/null || compgen -G "$(dirname "$output")/.*tmp*" >/dev/null; then why="left $output"; fi
    fi
    if [ -z "$why" ]; then printf '✓'; else printf '✗ (%s)' "$why"; printf '%s\n' "$* → $stderr" >> "$w/failures.log"; fi
}

m=$w/models; v=$w/vectors; c=$w/corpora; o=$w/out
mkdir -p "$o"
classes=(missing empty truncated wrong-type lying-sizes nan other-width)
echo "| class | workbench forward (model) | workbench forward (GGUF) | lens inspect (vector) | influence fit (corpus) | influence score (factors) | steer train (problems) | steer eval (adapter) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for class in "${classes[@]}"; do
    row="| $class"
    # workbench forward --model DIR: a model directory with the damage in model.safetensors or config.json
    if [ -d "$m/$class" ] || [ "$class" = missing ]; then
        row+=" | $(check "$m/$class" "$o/forward-$class.h5" "$bin/workbench" forward --model "$m/$class" --text "two plus two" --out "$o/forward-$class.h5")"
    else row+=" | n/a"; fi
    # workbench forward --model FILE.gguf: the tiny llama GGUF fixture with the damage
    if [ -e "$w/ggufs/$class.gguf" ] || [ "$class" = missing ]; then
        row+=" | $(check "$w/ggufs/$class.gguf" "$o/forward-gguf-$class.h5" "$bin/workbench" forward --model "$w/ggufs/$class.gguf" --ids 1,2,3 --out "$o/forward-gguf-$class.h5")"
    else row+=" | n/a"; fi
    if [ -e "$v/$class.npy" ] || [ "$class" = missing ]; then
        row+=" | $(check "$v/$class.npy" "" "$bin/lens" inspect "$v/$class.npy")"
    else row+=" | n/a"; fi
    if [ -e "$c/$class.jsonl" ] || [ "$class" = missing ]; then
        row+=" | $(check "$c/$class.jsonl" "$o/factors-$class.h5" "$bin/influence" fit --docs "$c/$class.jsonl" --out "$o/factors-$class.h5" --max-length 32)"
    else row+=" | n/a"; fi
    if [ -e "$w/factors/$class.h5" ] || [ "$class" = missing ]; then
        row+=" | $(check "$w/factors/$class.h5" "$o/scores-$class.h5" "$bin/influence" score --queries "$w/q.jsonl" --docs "$w/docs.jsonl" --factors "$w/factors/$class.h5" --out "$o/scores-$class.h5" --max-length 32)"
    elif [ "$class" = other-width ]; then
        # Factors fitted on the embedded model, scored with another model.
        row+=" | $(check "$w/factors/good.h5" "$o/scores-$class.h5" "$bin/influence" score --model "$m/another" --queries "$w/q.jsonl" --docs "$w/docs.jsonl" --factors "$w/factors/good.h5" --out "$o/scores-$class.h5" --max-length 32)"
    else row+=" | n/a"; fi
    if [ -e "$w/problems/$class.jsonl" ] || [ "$class" = missing ]; then
        row+=" | $(check "$w/problems/$class.jsonl" "$o/run-$class" "$bin/steer" train --problems "$w/problems/$class.jsonl" --out "$o/run-$class" --steps 1 --prompts-per-step 2 --group 2 --max-new 8)"
    else row+=" | n/a"; fi
    if [ -e "$w/adapters/$class.bin" ] || [ "$class" = missing ]; then
        row+=" | $(check "$w/adapters/$class.bin" "" "$bin/steer" eval --adapter "$w/adapters/$class.bin" --problems "$w/problems.jsonl" -k 0)"
    else row+=" | n/a"; fi
    echo "$row |"
done
# Token ids outside the vocabulary and an unwritable output, where each applies.
row="| ids outside the vocabulary | $(check "" "$o/forward-ids.h5" "$bin/workbench" forward --ids 5,99999 --out "$o/forward-ids.h5") | n/a | n/a | n/a | n/a | n/a | n/a |"
echo "$row"
row="| unwritable output | $(check "/proc/forbidden" "" "$bin/workbench" forward --text hi --out /proc/forbidden/out.h5) | n/a"
row+=" | $(check "/proc/forbidden" "" "$bin/lens" inspect "$v/good.npy" --out /proc/forbidden/out.h5)"
row+=" | $(check "/proc/forbidden" "" "$bin/influence" fit --docs "$w/docs.jsonl" --out /proc/forbidden/f.h5 --max-length 32)"
row+=" | $(check "/proc/forbidden" "" "$bin/influence" score --queries "$w/q.jsonl" --docs "$w/docs.jsonl" --factors "$w/factors/good.h5" --out /proc/forbidden/s.h5 --max-length 32)"
row+=" | $(check "/proc/forbidden" "" "$bin/steer" train --problems "$w/problems.jsonl" --out /proc/forbidden/run --steps 1 --prompts-per-step 2 --group 2 --max-new 8)"
row+=" | n/a |"
echo "$row"
if [ -s "$w/failures.log" ]; then
    echo
    echo "$(grep -c '' "$w/failures.log") cells fail:"
    cat "$w/failures.log"
    exit 1
fi
