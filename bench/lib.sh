#!/usr/bin/env bash
# Shared helpers for ricochet's benchmarks. The system under test runs on
# CPU 0 (taskset -c 0), wrk on CPU 1; every figure is a median of RUNS runs
# and is compared as a ratio measured side by side in the same run.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT=${OUT:-$BENCH_DIR/out}
RUNS=${RUNS:-3}
DURATION=${DURATION:-8s}
CONNS=${CONNS:-64}
mkdir -p "$OUT"
PIDS=()

cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# need installs the Debian packages providing missing commands.
need() {
	local missing=()
	for pair in "$@"; do
		local cmd=${pair%%:*} pkg=${pair#*:}
		command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing ${missing[*]}" >&2
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# cpu_ticks PID prints utime+stime of a process in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wait_port HOST:PORT waits until something accepts there.
wait_port() {
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "nothing listening on $1" >&2
	return 1
}

# wrk_once NAME PID URL [wrk args...]: one wrk run; appends
# "round name rps mib cpu_us" to $OUT/rounds.tsv (ROUND is the round number).
wrk_once() {
	local name=$1 pid=$2 url=$3
	shift 3
	local t0 t1 out
	t0=$(cpu_ticks "$pid")
	out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" "$@" "$url")
	t1=$(cpu_ticks "$pid")
	if grep -q "Non-2xx or 3xx" <<<"$out"; then
		echo "warning: $name: $(grep 'Non-2xx' <<<"$out")" >&2
	fi
	local r tr reqs cpu
	r=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	tr=$(to_mib "$(awk '/Transfer\/sec/ {print $2}' <<<"$out")")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	cpu=$(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz * 1e6 / n }')
	printf '%s\t%s\t%s\t%s\t%s\n' "${ROUND:-1}" "$name" "$r" "$tr" "$cpu" | tee -a "$OUT/rounds.tsv" >&2
}

# rounds BASE NAME1 NAME2 ...: runs the function "contender_NAME" for each
# name, RUNS rounds in a row, each round visiting every contender once so
# that a machine changing speed affects all alike. Then summarize.
rounds() {
	: >"$OUT/rounds.tsv"
	for ROUND in $(seq 1 "$RUNS"); do
		export ROUND
		for c in "$@"; do "contender_$c"; done
	done
}

# summary NAME [BASE]: prints "rps mib cpu ratio": medians over the rounds,
# and the median of the per-round ratios of NAME's requests/s (or MiB/s with
# FIELD=4) to BASE's.
summary() {
	local name=$1 base=${2:-$1} field=${FIELD:-3}
	awk -F'\t' -v n="$name" -v b="$base" -v f="$field" '
		function med(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((k + 1) / 2)] }
		$2 == n { k++; rps[k] = $3; mib[k] = $4; cpu[k] = $5; mine[$1] = $f }
		$2 == b { base[$1] = $f }
		END {
			for (r in mine) if (r in base) { m++; ratio[m] = mine[r] / base[r] }
			printf "%.0f %.1f %.2f %.2f\n", med(rps, k), med(mib, k), med(cpu, k), med(ratio, m)
		}' "$OUT/rounds.tsv"
}

# to_mib converts wrk's "1.23GB" / "512.00MB" / "10KB" to MiB/s.
to_mib() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "GB") n *= 1024; else if (u == "KB") n /= 1024; else if (u == "B") n /= 1048576
		printf "%.1f", n }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END { print a[int((NR + 1) / 2)] }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# warm URL: a short wrk run so caches and connection pools are warm.
warm() { taskset -c 1 wrk -t1 -c"$CONNS" -d1s "$1" >/dev/null 2>&1 || true; }

# start CMD...: runs a command on CPU 0 in the background and records it.
start() {
	taskset -c 0 "$@" >"$OUT/last.log" 2>&1 &
	PIDS+=($!)
	LAST_PID=$!
}

# stop_last stops the process started last.
stop_last() {
	kill "$LAST_PID" 2>/dev/null || true
	wait "$LAST_PID" 2>/dev/null || true
}

build() { (cd "$ROOT" && go build -o bin/ ./server ./client ./balancer); }
