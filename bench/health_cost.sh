#!/bin/bash
# bench/health_cost.sh: the CPU that health checks cost weir.
#
#   bench/health_cost.sh [BUILD_DIR] [SERVERS] [SECONDS] [--close]
#
# Starts bench/check_backend.py on SERVERS (default 1000) consecutive ports
# of 127.0.0.1 and a weir whose baseline pool has all of them, checked every
# second (timeout 500ms); the canary pool has one. No client traffic. After
# a 5 s warm-up, weir's CPU time (utime + stime of /proc/PID/stat, all its
# threads) is read over SECONDS (default 30), and again with the same pools
# without checks. With --close the backend closes after every answer, so
# every check is a new connection (the cost without connection reuse). Prints the share of one core for each. Not part of make
# check: it holds 1,000 ports and a core for a minute.
set -euo pipefail
PROG=health_cost.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
here=$BENCH_DIR
build=${1:-$here/../build}
n=${2:-1000}
secs=${3:-30}
close=${4:-}
make_tmp weir-health-cost
cleanup_on_exit

# A run of N free ports: the kernel's ephemeral range starts higher.
first=20000
start "$T/backend.log" python3 "$here/check_backend.py" "$first" "$n" $close
for _ in $(seq 100); do grep -q ready "$T/backend.log" && break; sleep 0.1; done
grep -q ready "$T/backend.log" || { cat "$T/backend.log"; exit 1; }

ticks=$(getconf CLK_TCK)
cpu_of() { proc_ticks "$1" | cut -d' ' -f2; }

# measure LABEL CHECK_LINE
measure() {
	local label=$1 check=$2 servers="" p pid c0 c1
	for ((p = first; p < first + n; p++)); do servers+="\"127.0.0.1:$p\", "; done
	cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:19880" );
admin = { http = ""; socket = ""; };
pools = {
  baseline = { servers = ( ${servers%, } ); $check };
  canary = { servers = ( "127.0.0.1:$first" ); };
};
state_file = ""; event_log = "";
CONF
	start "$T/weir-$label.log" "$build/src/weir" -c "$T/weir.conf"
	pid=$LAST_PID
	sleep 5
	c0=$(cpu_of "$pid")
	sleep "$secs"
	c1=$(cpu_of "$pid")
	stop_pid "$pid"
	awk -v a="$c0" -v b="$c1" -v t="$ticks" -v s="$secs" -v l="$label" -v n="$n" \
		'BEGIN { printf "%-10s %d servers: %.2f %% of one core (%d ticks in %d s)\n", l, n, 100 * (b - a) / t / s, b - a, s }'
	if [[ $label == checks ]]; then
		# Every server must have been checked up, or the numbers mean nothing.
		grep -c "check up (was unchecked)" "$T/weir-$label.log" | awk -v n="$n" '{ printf "servers checked up: %d of %d\n", $1, n }'
	fi
}
echo "weir: $build/src/weir; backend: ${close:-keep-alive}"
measure checks 'check = { path = "/healthz"; interval = "1s"; timeout = "500ms"; };'
measure nochecks ''
