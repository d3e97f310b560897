#!/usr/bin/env bash
# The demo: weir on conf/demo.conf in front of two demo backends (baseline on
# 127.0.0.1:9001, canary on 127.0.0.1:9101), light traffic from a loop of curl,
# status page on http://127.0.0.1:9090/. Ctrl-C stops everything.
#   usage: contrib/demo.sh BUILD_DIR
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
weir=$build/src/weir
weirctl=$build/src/weirctl
backend=$build/contrib/weir-demo-backend
run=/tmp/weir-demo
mkdir -p "$run"
# A demo starts fresh: weir itself would keep a previous demo's rollback
# (the state file wins over the configuration, as it must in production).
rm -f "$run/state" "$run/events.log" "$run/weir.sock"

pids=()
cleanup() {
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo; echo "demo stopped."
}
trap cleanup EXIT INT TERM

wait_port() {
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: nothing listens on 127.0.0.1:$1 (see $run/*.log)" >&2
	exit 1
}

"$backend" --listen 127.0.0.1:9001 --name baseline-1 --latency-ms 5 --jitter-ms 3 --error-rate 0.002 \
	>"$run/baseline-1.log" 2>&1 & pids+=($!)
"$backend" --listen 127.0.0.1:9101 --name canary-1 --latency-ms 6 --jitter-ms 3 --error-rate 0.004 \
	>"$run/canary-1.log" 2>&1 & pids+=($!)
wait_port 9001; wait_port 9101
"$weir" -c "$top/conf/demo.conf" >"$run/weir.log" 2>&1 & pids+=($!)
wait_port 8080; wait_port 9090

# Light traffic: four clients, each sending twenty keep-alive requests of
# twenty users (of a few hundred, sticky) at a time, then a short pause: a few
# hundred requests/s in all (a tenth to the canary), enough for the
# sequential guard to roll a broken canary back within a few seconds.
batch() {
	local args=() i
	for ((i = 1; i <= 20; i++)); do
		((i > 1)) && args+=(--next)
		args+=(-s -o /dev/null -H "X-User-Id: user-$((RANDOM % 500))" http://127.0.0.1:8080/)
	done
	curl "${args[@]}" || true
}
for _ in 1 2 3 4; do
	( while :; do batch; sleep 0.1; done ) & pids+=($!)
done

cat <<MSG

weir demo is running (Ctrl-C to stop)
  proxy:        http://127.0.0.1:8080/   (curl -si http://127.0.0.1:8080/hello)
  status page:  http://127.0.0.1:9090/
  stats:        curl -s http://127.0.0.1:9090/stats.json
  metrics:      curl -s http://127.0.0.1:9090/metrics
  control:      $weirctl -s $run/weir.sock show weights
  chaos drill:  curl -s 'http://127.0.0.1:9101/__backend/set?error_rate=0.3'
                (the guard rolls the canary back within seconds)
  logs:         $run/*.log
MSG
wait "${pids[2]}"
