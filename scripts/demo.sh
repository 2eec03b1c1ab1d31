#!/usr/bin/env bash
# The demo of `make run`: three servers on 127.0.0.1:8001-8003 serving www/
# at different rates, and the balancer on :8080 (admin on 127.0.0.1:9090).
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
stop() {
	trap - INT TERM EXIT
	kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT
rates=(4MiB 1MiB 256KiB)
for i in 1 2 3; do
	bin/server -addr "127.0.0.1:800$i" -root www -rate "${rates[$((i-1))]}" &
	pids+=($!)
done
sleep 0.3
bin/balancer -config balancer.toml &
pids+=($!)
echo "demo: try  bin/client http://127.0.0.1:8080/sample.bin   (admin page: http://127.0.0.1:9090/)" >&2
wait
