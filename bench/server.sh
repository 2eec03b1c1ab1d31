#!/usr/bin/env bash
# The file server against nginx (worker_processes 1, access_log off,
# sendfile on): a 4 KiB file (requests/s) and a 256 MiB file (throughput).
source "$(dirname "$0")/lib.sh"
need wrk:wrk nginx:nginx-light
build
WWW=$OUT/www
mkdir -p "$WWW"
[ -f "$WWW/file4k.bin" ] || head -c 4096 /dev/urandom >"$WWW/file4k.bin"
[ -f "$WWW/big.bin" ] || head -c $((256 << 20)) /dev/urandom >"$WWW/big.bin"

cat >"$OUT/nginx-static.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
user root;
pid $OUT/nginx-static.pid;
error_log $OUT/nginx-static-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  include /etc/nginx/mime.types;
  server { listen 127.0.0.1:18091 backlog=4096; root $WWW; }
}
CONF

start nginx -c "$OUT/nginx-static.conf"
NGINX=$LAST_PID
start "$ROOT/bin/server" -addr 127.0.0.1:18191 -root "$WWW"
RICO=$LAST_PID
wait_port 127.0.0.1:18091
wait_port 127.0.0.1:18191

contender_nginx4k() { wrk_once nginx4k "$NGINX" http://127.0.0.1:18091/file4k.bin; }
contender_rico4k() { wrk_once rico4k "$RICO" http://127.0.0.1:18191/file4k.bin; }
contender_nginxbig() { CONNS=4 wrk_once nginxbig "$NGINX" http://127.0.0.1:18091/big.bin; }
contender_ricobig() { CONNS=4 wrk_once ricobig "$RICO" http://127.0.0.1:18191/big.bin; }
warm http://127.0.0.1:18091/file4k.bin
warm http://127.0.0.1:18191/file4k.bin
echo "== $RUNS rounds: 4 KiB (wrk -t1 -c$CONNS -d$DURATION), 256 MiB (-c4)" >&2
rounds nginx4k rico4k nginxbig ricobig
read -r n4 _ nc _ < <(summary nginx4k)
read -r r4 _ rc q4 < <(summary rico4k nginx4k)
read -r _ nb _ _ < <(summary nginxbig)
read -r _ rb _ qb < <(FIELD=4 summary ricobig nginxbig)
cat >"$OUT/server.md" <<MD
| server benchmark ($RUNS paired rounds) | nginx | ricochet server | ratio (median of per-round ratios) |
|---|---|---|---|
| 4 KiB file, requests/s | $n4 | $r4 | **${q4}x** |
| 4 KiB file, server CPU µs/request | $nc | $rc | $(ratio "$rc" "$nc")x |
| 256 MiB file, MiB/s | $nb | $rb | **${qb}x** |
MD
cat "$OUT/server.md"
