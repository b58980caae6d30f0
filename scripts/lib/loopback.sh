# Shared by the measuring scripts (scripts/callgrind, scripts/pgo), sourced,
# not run: a work directory removed on exit with the processes started
# into pids, free loopback ports, and waiting for a server to answer.
# PORTS_FROM sets where free_port starts looking (200 ports from there).
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

taken=" "
free_port() { # sets PORT to a port nothing listens on, not handed out before
	local p first=${PORTS_FROM:-47800}
	for p in $(seq "$first" $((first + 199))); do
		case "$taken" in *" $p "*) continue ;; esac
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then taken="$taken$p "; PORT=$p; return; fi
	done
	echo "$0: no free port in $first-$((first + 199))" >&2; exit 1
}

wait_up() { # url: waits until a POST to it gets any answer
	for _ in $(seq 300); do curl -s -o /dev/null -XPOST "$1" && return; sleep 0.1; done
	echo "$0: $1 did not answer" >&2; exit 1
}
