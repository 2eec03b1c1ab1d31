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

echo "== 4 KiB file, wrk -t1 -c$CONNS -d$DURATION" >&2
bench_wrk "nginx 4KiB" "$NGINX" http://127.0.0.1:18091/file4k.bin
n4=$RESULT_RPS nc=$RESULT_CPU
bench_wrk "ricochet server 4KiB" "$RICO" http://127.0.0.1:18191/file4k.bin
r4=$RESULT_RPS rc=$RESULT_CPU

echo "== 256 MiB file, wrk -t1 -c4 -d$DURATION" >&2
CONNS=4 bench_wrk "nginx 256MiB" "$NGINX" http://127.0.0.1:18091/big.bin
nb=$RESULT_MIB
CONNS=4 bench_wrk "ricochet server 256MiB" "$RICO" http://127.0.0.1:18191/big.bin
rb=$RESULT_MIB

cat >"$OUT/server.md" <<MD
| server benchmark (median of $RUNS) | nginx | ricochet server | ratio |
|---|---|---|---|
| 4 KiB file, requests/s | $n4 | $r4 | **$(ratio "$r4" "$n4")x** |
| 4 KiB file, server CPU µs/request | $nc | $rc | $(ratio "$rc" "$nc")x |
| 256 MiB file, MiB/s | $nb | $rb | **$(ratio "$rb" "$nb")x** |
MD
cat "$OUT/server.md"
