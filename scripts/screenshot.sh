#!/usr/bin/env bash
# Takes a screenshot of the admin page with headless Chromium (Debian's
# chromium package, installed when missing): starts three servers at
# different rates and the balancer, sends some traffic, then captures
# http://127.0.0.1:19090/ into docs/admin.png (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/admin.png}
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
go build -o bin/ ./server ./balancer
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
rates=(8MiB 2MiB 512KiB)
names=(alpha beta gamma)
regions=(eu us ap)
{
	echo 'listen = "127.0.0.1:18480"'
	echo 'admin = "127.0.0.1:19090"'
	echo "policy = \"$PWD/policies/weighted-fastest.lua\""
	echo '[probe]'
	echo 'interval = "500ms"'
	for i in 0 1 2; do
		echo '[[backends]]'
		echo "name = \"${names[$i]}\""
		echo "url = \"http://127.0.0.1:1847$((i + 1))\""
		echo "meta = { region = \"${regions[$i]}\" }"
	done
	echo '[[backends]]'
	echo 'name = "delta"'
	echo 'url = "http://127.0.0.1:18479"' # nothing listens: shown as down
} >"$tmp/balancer.toml"
for i in 0 1 2; do
	bin/server -addr "127.0.0.1:1847$((i + 1))" -root www -rate "${rates[$i]}" >/dev/null 2>&1 &
	pids+=($!)
done
sleep 0.3
bin/balancer -config "$tmp/balancer.toml" >"$tmp/out" 2>"$tmp/err" &
pids+=($!)
sleep 8 # sixteen probe rounds of history
for _ in $(seq 1 600); do curl -s -o /dev/null http://127.0.0.1:18480/hello.txt; done
sleep 1
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
	--disable-component-update --disable-sync --user-data-dir="$tmp/profile" --hide-scrollbars \
	--window-size=1280,720 --screenshot="$PWD/$OUT" http://127.0.0.1:19090/ 2>/dev/null
echo "wrote $OUT"
