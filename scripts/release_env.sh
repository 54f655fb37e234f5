# Sourced by the scripts that drive the release binaries (after `set`): makes the repository
# root the working directory, puts Swift on PATH, sets $bin to the release build's directory
# and $w to a scratch directory removed on exit.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/opt/swift/usr/bin"
bin=$(swift build -c release --show-bin-path)
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
