#!/usr/bin/env bash
# Regenerates functions/devserver/default.pgo, the CPU profile Go's
# profile-guided optimisation builds the local run with (`go build` and
# `go run ./functions/devserver` pick it up by itself; docs/performance.md,
# "Profile-guided optimisation").
#
# The profile is the local run's own, under its two hot paths: token cache
# hits (POST /token, most of the time) and proxied GETs with a cached
# token (/proxy), each loaded by wrk over loopback. The devserver is built
# without the current profile, so a profile never feeds on itself.
#
# Usage: scripts/pgo/run.sh [seconds]     (needs wrk and curl; default 30)
set -euo pipefail
secs=${1:-30}
for tool in wrk curl; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (apt-get install wrk curl)" >&2; exit 1; }
done
root=$(cd "$(dirname "$0")/../.." && pwd)
PORTS_FROM=47600
# shellcheck source=../lib/loopback.sh
. "$root/scripts/lib/loopback.sh"

(cd "$root" && go build -pgo=off -o "$work/devserver" ./functions/devserver && go build -o "$work/baseline" ./scripts/bench/baseline)

# The bench's constant handler stands for both the OAuth provider (it
# answers POST /token with a token response) and the proxied API (GET
# /token, the same constant JSON).
free_port; pport=$PORT
"$work/baseline" -addr "127.0.0.1:$pport" & pids+=($!)
wait_up "http://127.0.0.1:$pport/token"

# As the bench measures it: the devserver on one CPU, the load on the
# others (when there are others and taskset is there).
pin_server=() pin_load=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	pin_server=(taskset -c 1) pin_load=(taskset -c 0)
fi

free_port; dport=$PORT
"${pin_server[@]}" "$work/devserver" -addr "127.0.0.1:$dport" -data "$work/data" -cpuprofile "$work/cpu.pgo" >"$work/devserver.log" 2>&1 &
dpid=$!
pids+=("$dpid")
wait_up "http://127.0.0.1:$dport/"
curl -sf -o /dev/null -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$dport/connectors-create" \
	-d "{\"name\":\"Bench\",\"url\":\"http://127.0.0.1:$pport/token\",\"clientId\":\"c\",\"clientSecret\":\"s\",\"grantType\":\"client_credentials\",\"agents\":[\"bench\"],\"apiBaseUrl\":\"http://127.0.0.1:$pport/\"}"

printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' \
	"'{\"connector\":\"Bench\",\"agent\":\"bench\"}'" >"$work/token.lua"
printf 'wrk.headers["Connectors-Agent"] = "bench"\n' >"$work/proxy.lua"
load() { # script url seconds
	local out
	out=$("${pin_load[@]}" wrk -t1 -c64 -d"$3s" -s "$1" "$2")
	if grep -q 'Non-2xx' <<<"$out"; then echo "run.sh: $2 answered errors: $out" >&2; exit 1; fi
	awk '/requests in/{print "run.sh: " $1 " requests to '"$2"'"}' <<<"$out"
}
load "$work/token.lua" "http://127.0.0.1:$dport/token" $((secs * 3 / 4))
load "$work/proxy.lua" "http://127.0.0.1:$dport/proxy/Bench/token" $((secs / 4))

kill -TERM "$dpid" # the profile is written on shutdown
wait "$dpid" 2>/dev/null || true
cp "$work/cpu.pgo" "$root/functions/devserver/default.pgo"
echo "run.sh: wrote functions/devserver/default.pgo ($(wc -c <"$root/functions/devserver/default.pgo") bytes)"
