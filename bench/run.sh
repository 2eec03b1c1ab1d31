#!/usr/bin/env bash
# make bench: every benchmark, results in bench/out/results.md.
# RUNS (default 3) and DURATION (default 8s) tune the wrk runs.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p out
: >out/raw.tsv
./server.sh
./balancer.sh
./client.sh
./policies.sh
echo "== reload latency" >&2
(cd .. && go test -run '^$' -bench ReloadLatency -benchtime 40x ./balancer/) | tee out/reload.txt
reload=$(awk '/BenchmarkReloadLatency/ { for (i = 1; i <= NF; i++) if ($i == "ms-median") m = $(i-1); else if ($i == "ms-p90") p = $(i-1) } END { print m " ms median, " p " ms p90" }' out/reload.txt)
{
	echo "# Benchmark results ($(date -u +%Y-%m-%d), $(nproc) cores, system under test on CPU 0, load on CPU 1)"
	echo
	cat out/server.md
	echo
	cat out/balancer.md
	echo
	cat out/client.md
	echo
	cat out/policies.md
	echo
	echo "Reload latency (policy file renamed into place -> first redirect by the new policy): $reload."
} >out/results.md
cat out/results.md
