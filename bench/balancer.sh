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
sed 's/18093/18094/; s/19093/19094/' "$OUT/bench.toml" >"$OUT/bench-admin.toml"
start nginx -c "$OUT/nginx-redirect.conf"
NGINX=$LAST_PID
start haproxy -f "$OUT/haproxy.cfg"
HAP=$LAST_PID
start "$ROOT/bin/balancer" -config "$OUT/bench.toml" -admin ""
RICO=$LAST_PID
start "$ROOT/bin/balancer" -config "$OUT/bench-admin.toml"
RICO_ADMIN=$LAST_PID
start "$ROOT/bin/balancer" -config "$OUT/bench.toml" -admin "" -listen 127.0.0.1:18095 -policy "$PICK_POLICY"
RICO_PICK=$LAST_PID
for p in 18080 18090 18092 18093 18094 18095; do wait_port 127.0.0.1:$p; warm "http://127.0.0.1:$p$URL"; done
# The admin listener of one balancer is scraped every second throughout.
( while sleep 1; do curl -s -o /dev/null http://127.0.0.1:19094/metrics; curl -s -o /dev/null http://127.0.0.1:19094/status; done ) &
PIDS+=($!)

contender_nginx() { wrk_once nginx "$NGINX" "http://127.0.0.1:18080$URL"; }
contender_nginxlua() { wrk_once nginxlua "$NGINX" "http://127.0.0.1:18090$URL"; }
contender_haproxy() { wrk_once haproxy "$HAP" "http://127.0.0.1:18092$URL"; }
contender_rico() { wrk_once rico "$RICO" "http://127.0.0.1:18093$URL"; }
contender_ricoadmin() { wrk_once ricoadmin "$RICO_ADMIN" "http://127.0.0.1:18094$URL"; }
contender_ricopick() { wrk_once ricopick "$RICO_PICK" "http://127.0.0.1:18095$URL"; }
echo "== $RUNS rounds of wrk -t1 -c$CONNS -d$DURATION" >&2
rounds nginxlua nginx haproxy rico ricoadmin ricopick

row() { # LABEL NAME
	local rps cpu q
	read -r rps _ cpu q < <(summary "$2" nginxlua)
	local em=${3:-}
	echo "| $1 | $rps | $cpu | $em${q}x$em |"
}
read -r _ _ _ admin_ratio < <(summary ricoadmin rico)
{
	echo "| redirect benchmark ($RUNS paired rounds, wrk -t1 -c$CONNS -d$DURATION) | requests/s | CPU µs/request | vs nginx+Lua (median of per-round ratios) |"
	echo "|---|---|---|---|"
	row 'nginx `return 301`' nginx
	row "nginx+Lua weighted redirect" nginxlua
	row 'HAProxy `http-request redirect`' haproxy
	row "ricochet, default policy" rico "**"
	row "ricochet, default policy, admin listener scraped every second" ricoadmin
	row "ricochet, policy with \`pick\` ($(basename "$PICK_POLICY"))" ricopick "**"
	echo
	echo "Admin listener and metrics: the scraped balancer ran at ${admin_ratio}x the requests/s of the one without admin (median of per-round ratios)."
} >"$OUT/balancer.md"
cat "$OUT/balancer.md"
