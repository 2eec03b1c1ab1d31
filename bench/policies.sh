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
NGINX=$LAST_PID
wait_port 127.0.0.1:18090
contender_nginxlua() { wrk_once nginxlua "$NGINX" "http://127.0.0.1:18090$URL"; }
names=()
port=18100
for p in "$ROOT"/policies/*.lua; do
	port=$((port + 1))
	name=$(basename "$p" .lua)
	start "$ROOT/bin/balancer" -config "$OUT/bench.toml" -admin "" -listen "127.0.0.1:$port" -policy "$p"
	wait_port "127.0.0.1:$port"
	eval "contender_$(tr -- - _ <<<"$name")() { wrk_once $name $LAST_PID http://127.0.0.1:$port\$URL; }"
	names+=("$name")
done
echo "== $RUNS rounds of wrk -t1 -c$CONNS -d$DURATION over nginx+Lua and ${#names[@]} policies" >&2
rounds nginxlua $(printf '%s\n' "${names[@]}" | tr -- - _)
{
	echo "| policy | requests/s | CPU µs/request | vs nginx+Lua (median of per-round ratios) |"
	echo "|---|---|---|---|"
	read -r nl _ nlc _ < <(summary nginxlua)
	echo "| nginx+Lua weighted redirect | $nl | $nlc | 1.00x |"
	for n in "${names[@]}"; do
		read -r rps _ cpu q < <(summary "$n" nginxlua)
		echo "| \`$n.lua\` | $rps | $cpu | **${q}x** |"
	done
} >"$OUT/policies.md"
cat "$OUT/policies.md"
