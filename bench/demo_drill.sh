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
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
TOP=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BUILD:-$(pwd)}
RUNS=${RUNS:-5}
SETTLE=${SETTLE:-15}
LIMIT=${LIMIT:-60}
need_posint RUNS SETTLE LIMIT
[ -x "$BUILD/src/weir" ] || die "no weir in $BUILD/src (run from the build directory or set BUILD=)"
need_tools curl jq
no_proxies

STOP_SECONDS=10
cleanup_on_exit

stats() { curl -sf -m 2 http://127.0.0.1:9090/stats.json || true; }

for port in 8080 9090 9001 9101; do
	! port_open "$port" || die "127.0.0.1:$port is taken (a demo running?)"
done

times=()
echo "== the demo's chaos drill (contrib/demo.sh, conf/demo.conf), $RUNS runs"
for ((run = 1; run <= RUNS; run++)); do
	# setsid: the demo and everything it starts form one group, stopped together.
	start /tmp/weir-demo-drill.log setsid bash "$TOP/contrib/demo.sh" "$BUILD"
	DEMO_PID=$LAST_PID
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
	stop_pid "$DEMO_PID"
	[ "$w0" != 0 ] || die "run $run: the canary was rolled back before the drill (a false rollback)"
	if [ -n "$seen" ]; then
		t=$(secs "$t0" "$seen")
		times+=("$t")
		printf '   run %d: canary ~%s req/s before the switch; rolled back after %s s: %s\n' "$run" "$rate" "$t" "$reason"
	else
		printf '   run %d: canary ~%s req/s before the switch; NOT rolled back within %s s\n' "$run" "$rate" "$LIMIT"
	fi
done
[ "${#times[@]}" -eq "$RUNS" ] || die "${#times[@]} of $RUNS drills rolled back"
echo "== median $(printf '%s\n' "${times[@]}" | median) s, max $(printf '%s\n' "${times[@]}" | maxof) s over ${#times[@]} runs"
