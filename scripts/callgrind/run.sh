#!/usr/bin/env bash
# Instructions per cache-hit token request, counted by valgrind's callgrind:
# the local run (functions/devserver) against the bench's constant handler
# (scripts/bench/baseline), each loaded by wrk with the same POST /token
# for a fixed time, instrumentation on only during that load.
#
# Instruction counts do not move with the neighbours' load the way CPU
# time does, so this is the figure to compare two versions of the hot path
# by (docs/performance.md, "Instructions per request"). It counts user
# space only: the kernel's share (the socket reads and writes, the same
# for both servers) is not in it.
#
# Usage: scripts/callgrind/run.sh [seconds]     (needs valgrind, wrk, curl)
set -euo pipefail
secs=${1:-10}
for tool in valgrind callgrind_control wrk curl; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (apt-get install valgrind wrk curl)" >&2; exit 1; }
done
root=$(cd "$(dirname "$0")/../.." && pwd)
PORTS_FROM=47800
# shellcheck source=../lib/loopback.sh
. "$root/scripts/lib/loopback.sh"

(cd "$root" && go build -o "$work/devserver" ./functions/devserver && go build -o "$work/baseline" ./scripts/bench/baseline)
body='{"connector":"Bench","agent":"bench"}'
printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' "'$body'" >"$work/post.lua"

# The provider is a baseline process too: it answers any POST /token with
# a token response the devserver's client_credentials connector accepts.

free_port; pport=$PORT
"$work/baseline" -addr "127.0.0.1:$pport" & pids+=($!)
wait_up "http://127.0.0.1:$pport/token"

# count NAME PORT CMD...: starts CMD under callgrind, loads it, prints Ir/request.
count() {
	local name=$1 port=$2; shift 2
	# Go's asynchronous preemption signals trip callgrind; GOGC as deployed.
	GODEBUG=asyncpreemptoff=1 GOGC=${CG_GOGC:-400} valgrind --tool=callgrind --instr-atstart=no \
		--callgrind-out-file="$work/$name.%p" "$@" >"$work/$name.log" 2>&1 &
	local vp=$!
	pids+=("$vp")
	wait_up "http://127.0.0.1:$port/"
	if [ "$name" = devserver ]; then
		curl -sf -o /dev/null -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$port/connectors-create" \
			-d "{\"name\":\"Bench\",\"url\":\"http://127.0.0.1:$pport/token\",\"clientId\":\"c\",\"clientSecret\":\"s\",\"grantType\":\"client_credentials\",\"agents\":[\"bench\"]}"
	fi
	curl -sf -o /dev/null -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$port/token" -d "$body"
	wrk -t1 -c8 -d2s -s "$work/post.lua" "http://127.0.0.1:$port/token" >/dev/null # warm-up, not counted
	callgrind_control -i on "$vp" >/dev/null 2>&1
	local out
	out=$(wrk -t1 -c8 -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$port/token")
	callgrind_control -i off "$vp" >/dev/null 2>&1
	callgrind_control -d "$vp" >/dev/null 2>&1
	kill "$vp"; wait "$vp" 2>/dev/null || true
	local n ir
	n=$(awk '/requests in/{print $1}' <<<"$out")
	if grep -q 'Non-2xx' <<<"$out"; then echo "run.sh: $name answered errors: $out" >&2; exit 1; fi
	ir=$(cat "$work/$name".* | awk '/^(summary|totals):/{s+=$2} END{print s}')
	echo "$name $n $ir"
}

free_port; dport=$PORT
read -r _ dn dir < <(count devserver "$dport" "$work/devserver" -addr "127.0.0.1:$dport" -data "$work/data")
free_port; bport=$PORT
read -r _ bn bir < <(count baseline "$bport" "$work/baseline" -addr "127.0.0.1:$bport")
awk -v dn="$dn" -v dir="$dir" -v bn="$bn" -v bir="$bir" 'BEGIN {
	d = dir / dn; b = bir / bn
	printf "instructions per cache-hit token request (callgrind, user space):\n"
	printf "  devserver  %8.0f  (%d requests)\n  baseline   %8.0f  (%d requests)\n  ratio baseline/devserver %.3f\n", d, dn, b, bn, b / d
}'
