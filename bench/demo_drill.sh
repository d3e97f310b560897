#!/bin/bash
# bench/demo_drill.sh: the demo's chaos drill, timed. Each run starts the demo
# exactly as a user would (contrib/demo.sh: its ports 8080/9090/9001/9101 and
# /tmp/weir-demo, so no other demo may run meanwhile), lets its own traffic
# run for SETTLE seconds, switches the canary backend to 30 % errors (the
# drill the demo prints) and measures the seconds until /stats.json shows
# canary weight 0, polled every 100 ms, at most LIMIT seconds. It prints
# each run, the canary's request rate before the switch, and the median.
#
# Usage (from the build directory, or with BUILD=):
#   bench/demo_drill.sh                 # RUNS=5 SETTLE=15 LIMIT=60
set -euo pipefail

PROG=demo_drill.sh
die() { echo "$PROG: error: $*" >&2; exit 1; }
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BUILD:-$(pwd)}
RUNS=${RUNS:-5}
SETTLE=${SETTLE:-15}
LIMIT=${LIMIT:-60}
for v in RUNS SETTLE LIMIT; do
	case ${!v} in '' | *[!0-9]* | 0) die "$v must be a positive integer (got '${!v}')" ;; esac
done
[ -x "$BUILD/src/weir" ] || die "no weir in $BUILD/src (run from the build directory or set BUILD=)"
for tool in curl jq; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

DEMO_PID=
stop_demo() {
	[ -n "$DEMO_PID" ] || return 0
	kill -TERM "$DEMO_PID" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$DEMO_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DEMO_PID" 2>/dev/null || true
	wait "$DEMO_PID" 2>/dev/null || true
	DEMO_PID=
}
trap 'stop_demo' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t / 1000)); }
stats() { curl -sf -m 2 http://127.0.0.1:9090/stats.json || true; }

for port in 8080 9090 9001 9101; do
	! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "127.0.0.1:$port is taken (a demo running?)"
done

times=()
echo "== the demo's chaos drill (contrib/demo.sh, conf/demo.conf), $RUNS runs"
for ((run = 1; run <= RUNS; run++)); do
	# setsid: the demo and everything it starts form one group, stopped together.
	setsid bash "$TOP/contrib/demo.sh" "$BUILD" >/tmp/weir-demo-drill.log 2>&1 &
	DEMO_PID=$!
	up=0
	for _ in $(seq 100); do
		[ -n "$(stats)" ] && { up=1; break; }
		sleep 0.1
	done
	[ "$up" = 1 ] || die "the demo did not start (see /tmp/weir-demo-drill.log)"
	sleep "$SETTLE"
	read -r n0 w0 <<<"$(stats | jq -r '"\(.pools.canary.total.requests) \(.weights.canary)"')"
	t0=$(now_ms)
	curl -sf -m 2 -o /dev/null 'http://127.0.0.1:9101/__backend/set?error_rate=0.3' ||
		die "the canary backend did not take the switch"
	seen=
	while (($(now_ms) - t0 < LIMIT * 1000)); do
		w=$(stats | jq -r '.weights.canary // empty')
		if [ -n "$w" ] && awk -v w="$w" 'BEGIN {exit !(w + 0 == 0)}'; then
			seen=$(now_ms)
			break
		fi
		sleep 0.1
	done
	rate=$(awk -v n="$n0" -v s="$SETTLE" 'BEGIN {printf "%.1f", n / s}')
	reason=$(jq -r 'select(.actor == "guard" and .action == "rollback") | .reason' /tmp/weir-demo/events.log 2>/dev/null | head -n 1)
	kill -TERM -- "-$DEMO_PID" 2>/dev/null || true
	stop_demo
	[ "$w0" != 0 ] || die "run $run: the canary was rolled back before the drill (a false rollback)"
	if [ -n "$seen" ]; then
		t=$(awk -v a="$t0" -v b="$seen" 'BEGIN {printf "%.2f", (b - a) / 1000}')
		times+=("$t")
		printf '   run %d: canary ~%s req/s before the switch; rolled back after %s s: %s\n' "$run" "$rate" "$t" "$reason"
	else
		printf '   run %d: canary ~%s req/s before the switch; NOT rolled back within %s s\n' "$run" "$rate" "$LIMIT"
	fi
done
[ "${#times[@]}" -eq "$RUNS" ] || die "${#times[@]} of $RUNS drills rolled back"
printf '%s\n' "${times[@]}" | sort -g | awk '{v[NR] = $1} END {printf "== median %s s, max %s s over %d runs\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[NR], NR}'
