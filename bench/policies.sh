#!/usr/bin/env bash
# Each policy in policies/ on the balancer (one core) against nginx+Lua's
# weighted redirect, side by side. Writes out/policies.md.
source "$(dirname "$0")/lib.sh"
need wrk:wrk nginx:nginx-light
build
for i in 1 2 3; do
	"$ROOT/bin/server" -addr "127.0.0.1:1818$i" -root "$ROOT/www" >/dev/null 2>&1 &
	PIDS+=($!)
done
[ -f "$OUT/nginx-redirect.conf" ] || { echo "run bench/balancer.sh first (it writes the nginx config)" >&2; exit 1; }
[ -f "$OUT/bench.toml" ] || { echo "run bench/balancer.sh first (it writes bench.toml)" >&2; exit 1; }
URL=/some/file.html?x=1
start nginx -c "$OUT/nginx-redirect.conf"
wait_port 127.0.0.1:18090
bench_wrk "nginx+lua weighted 301" "$LAST_PID" "http://127.0.0.1:18090$URL"
nl=$RESULT_RPS
stop_last
{
	echo "| policy | requests/s | CPU µs/request | vs nginx+Lua ($nl req/s) |"
	echo "|---|---|---|---|"
	for p in "$ROOT"/policies/*.lua; do
		start "$ROOT/bin/balancer" -config "$OUT/bench.toml" -admin "" -policy "$p"
		wait_port 127.0.0.1:18093
		bench_wrk "ricochet $(basename "$p")" "$LAST_PID" "http://127.0.0.1:18093$URL"
		stop_last
		echo "| \`$(basename "$p")\` | $RESULT_RPS | $RESULT_CPU | **$(ratio "$RESULT_RPS" "$nl")x** |"
	done
} >"$OUT/policies.md"
cat "$OUT/policies.md"
