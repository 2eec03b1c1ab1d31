#!/usr/bin/env bash
# The download client against curl: the same 256 MiB file from the same
# ricochet server over loopback, alternating runs, median wall time. Run
# once into a tmpfs (the transfer path alone) and once onto disk, where the
# client's fsync before rename is part of its price.
source "$(dirname "$0")/lib.sh"
need curl:curl
build
WWW=$OUT/www
mkdir -p "$WWW"
[ -f "$WWW/big.bin" ] || head -c $((256 << 20)) /dev/urandom >"$WWW/big.bin"
start "$ROOT/bin/server" -addr 127.0.0.1:18291 -root "$WWW"
wait_port 127.0.0.1:18291
URL=http://127.0.0.1:18291/big.bin
N=${N:-5}

now() { date +%s.%N; }
measure() { # DIR: prints "curl_median client_median"
	local dir=$1 c=() r=()
	mkdir -p "$dir"
	for _ in $(seq 1 "$N"); do
		rm -f "$dir/big.bin"
		local t0 t1
		t0=$(now); (cd "$dir" && curl -s -o big.bin "$URL"); t1=$(now)
		c+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
		cmp -s "$dir/big.bin" "$WWW/big.bin" || { echo "curl: file differs" >&2; exit 1; }
		rm -f "$dir/big.bin"
		t0=$(now); (cd "$dir" && "$ROOT/bin/client" -q "$URL"); t1=$(now)
		r+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
		cmp -s "$dir/big.bin" "$WWW/big.bin" || { echo "client: file differs" >&2; exit 1; }
	done
	rm -f "$dir/big.bin"
	echo "$(median "${c[@]}") $(median "${r[@]}")"
}
read -r cs rs < <(measure /dev/shm/ricochet-bench)
read -r cd rd < <(measure "$OUT/dl")
mib() { awk -v t="$1" 'BEGIN { printf "%.0f", 256 / t }'; }
cat >"$OUT/client.md" <<MD
| 256 MiB download (median of $N) | curl MiB/s | ricochet client MiB/s | ratio |
|---|---|---|---|
| into tmpfs (transfer path) | $(mib "$cs") | $(mib "$rs") | **$(ratio "$cs" "$rs")x** |
| onto disk (client fsyncs before rename, curl does not) | $(mib "$cd") | $(mib "$rd") | $(ratio "$cd" "$rd")x |
MD
cat "$OUT/client.md"
