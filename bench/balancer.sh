#!/usr/bin/env bash
# The balancer against nginx (return 301), nginx+Lua (weighted random
# redirect, the anchors' config) and HAProxy (http-request redirect), each on
# CPU 0, wrk on CPU 1. Also: a policy with pick, and the cost of the admin
# listener under a /metrics scraper.
source "$(dirname "$0")/lib.sh"
need wrk:wrk nginx:nginx-light haproxy:haproxy
[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || need nonexistent-cmd:libnginx-mod-http-lua
build

# Three backends for ricochet to probe (they only see probes).
for i in 1 2 3; do
	"$ROOT/bin/server" -addr "127.0.0.1:1818$i" -root "$ROOT/www" >/dev/null 2>&1 &
	PIDS+=($!)
done

cat >"$OUT/nginx-redirect.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
user root;
pid $OUT/nginx-redirect.pid;
error_log $OUT/nginx-redirect-error.log;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events { worker_connections 4096; }
http {
  access_log off;
  init_by_lua_block {
    backends = { "http://127.0.0.1:18181", "http://127.0.0.1:18182", "http://127.0.0.1:18183" }
    weights = { 3, 2, 1 }
    total = 6
  }
  server {
    listen 127.0.0.1:18080 backlog=4096;
    location / { return 301 http://127.0.0.1:18181\$request_uri; }
  }
  server {
    listen 127.0.0.1:18090 backlog=4096;
    location / {
      content_by_lua_block {
        local r = math.random(total)
        local i = 1
        while r > weights[i] do r = r - weights[i]; i = i + 1 end
        return ngx.redirect(backends[i] .. ngx.var.request_uri, 301)
      }
    }
  }
}
CONF
cp "$ROOT/../shared/anchors/haproxy-redirect.cfg" "$OUT/haproxy.cfg" 2>/dev/null || cat >"$OUT/haproxy.cfg" <<'CONF'
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout client 30s
  timeout connect 5s
  timeout server 30s
frontend fe
  bind 127.0.0.1:18092
  http-request redirect prefix http://127.0.0.1:18081 code 301
CONF

cat >"$OUT/bench.toml" <<CONF
listen = "127.0.0.1:18093"
admin = "127.0.0.1:19093"
policy = "$ROOT/policies/weighted-fastest.lua"
[probe]
interval = "5s"
[[backends]]
name = "a"
url = "http://127.0.0.1:18181"
[[backends]]
name = "b"
url = "http://127.0.0.1:18182"
[[backends]]
name = "c"
url = "http://127.0.0.1:18183"
CONF
PICK_POLICY=${PICK_POLICY:-$ROOT/policies/round-robin.lua}
[ -f "$PICK_POLICY" ] || PICK_POLICY=$OUT/pick.lua
[ -f "$PICK_POLICY" ] || cat >"$PICK_POLICY" <<'LUA'
function weigh(bs) local w = {} for _, b in ipairs(bs) do if b.healthy then w[b.name] = 1 end end return w end
local i = 0
function pick(req) i = i + 1 local b = backends[i % #backends + 1] return b.name end
LUA

URL=/some/file.html?x=1
start nginx -c "$OUT/nginx-redirect.conf"
NGINX=$LAST_PID
wait_port 127.0.0.1:18080
bench_wrk "nginx return 301" "$NGINX" "http://127.0.0.1:18080$URL"
nr=$RESULT_RPS nrc=$RESULT_CPU
bench_wrk "nginx+lua weighted 301" "$NGINX" "http://127.0.0.1:18090$URL"
nl=$RESULT_RPS nlc=$RESULT_CPU
stop_last

start haproxy -f "$OUT/haproxy.cfg"
HAP=$LAST_PID
wait_port 127.0.0.1:18092
bench_wrk "haproxy redirect" "$HAP" "http://127.0.0.1:18092$URL"
hr=$RESULT_RPS hrc=$RESULT_CPU
stop_last

run_balancer() { # NAME ARGS...
	local name=$1
	shift
	start "$ROOT/bin/balancer" -config "$OUT/bench.toml" "$@"
	wait_port 127.0.0.1:18093
	bench_wrk "$name" "$LAST_PID" "http://127.0.0.1:18093$URL"
	stop_last
}
run_balancer "ricochet default policy (no admin)" -admin ""
rn=$RESULT_RPS rnc=$RESULT_CPU
# With the admin listener on and scraped every second.
( while sleep 1; do curl -s -o /dev/null http://127.0.0.1:19093/metrics; curl -s -o /dev/null http://127.0.0.1:19093/status; done ) &
SCRAPER=$!
PIDS+=($SCRAPER)
run_balancer "ricochet default policy (admin, scraped 1/s)"
rd=$RESULT_RPS rdc=$RESULT_CPU
run_balancer "ricochet pick policy ($(basename "$PICK_POLICY"))" -policy "$PICK_POLICY"
rp=$RESULT_RPS rpc=$RESULT_CPU
kill $SCRAPER 2>/dev/null || true

cat >"$OUT/balancer.md" <<MD
| redirect benchmark (median of $RUNS, wrk -t1 -c$CONNS -d$DURATION) | requests/s | CPU µs/request | vs nginx+Lua |
|---|---|---|---|
| nginx \`return 301\` | $nr | $nrc | $(ratio "$nr" "$nl")x |
| nginx+Lua weighted redirect | $nl | $nlc | 1.00x |
| HAProxy \`http-request redirect\` | $hr | $hrc | $(ratio "$hr" "$nl")x |
| ricochet, default policy, admin on and scraped | $rd | $rdc | **$(ratio "$rd" "$nl")x** |
| ricochet, default policy, no admin listener | $rn | $rnc | $(ratio "$rn" "$nl")x |
| ricochet, policy with \`pick\` ($(basename "$PICK_POLICY")) | $rp | $rpc | **$(ratio "$rp" "$nl")x** |

Admin listener and metrics cost: $(awk -v a="$rd" -v b="$rn" 'BEGIN { printf "%.1f%%", (1 - a / b) * 100 }') of requests/s.
MD
cat "$OUT/balancer.md"
