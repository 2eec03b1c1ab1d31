#!/usr/bin/env bash
# make fuzz: run every fuzz target for a bounded time each (default 30s).
# Their seed corpora run as ordinary tests in make test.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-30s}
targets=(
	"./internal/config FuzzParse"
	"./internal/redirect FuzzAppendLocation"
	"./internal/static FuzzResolve"
	"./internal/download FuzzFileName"
	"./internal/policy FuzzWeights"
)
for t in "${targets[@]}"; do
	set -- $t
	echo "== $2 ($1) for $T"
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$T" "$1"
done
