#!/bin/bash
# bench/guard.sh: how fast the guard rolls back a canary that turns bad, and
# whether it ever rolls back a healthy one.
#
# For each canary rate R (canary requests/s) the script runs weir with the
# guard settings of INTERFACE.md (interval 1s, window 30s, min_requests 100,
# for 5s, max_error_rate 0.02, max_error_rate_increase 0.01, max_p99_ratio
# 1.5, action rollback) in front of two demo backends, both healthy: 1 %
# errors, 5 ms +- 2 ms. A paced, open-loop load generator sends R * 100 /
# weight requests/s (10 % canary weight unless that exceeds MAX_TOTAL_RPS,
# see below).
#
#   healthy run    the first weir of each rate serves healthy traffic for
#                  HEALTHY_SECONDS of judged time (the canary has at least
#                  min_requests in the window); then drill 1 follows at once.
#   error drill    RUNS times: a fresh weir (empty window, new state file),
#                  healthy traffic until the guard has judged a full window
#                  (WARMUP seconds after the min_requests gate) and is
#                  "watching" (not in a breach episode that noise began),
#                  then the canary backend is switched to 30 % errors through
#                  /__backend/set. Measured: seconds from just before that
#                  switch until /stats.json shows weights.canary == 0, polled
#                  every 100 ms and bounded by DETECT_LIMIT.
#   latency drill  LATENCY_RUNS times, the same with the canary switched to
#                  +50 ms (latency_ms 55).
#
# Every second of judged healthy traffic, the warm-up before each drill
# included, counts as healthy time; a guard rollback during it is a false
# rollback (the run is then started over, at most 3 times), a guard breach
# that recovered is reported too. During healthy time the script samples
# `weirctl show guard` once a second and reports how close the guard's own
# judged values came to their thresholds.
#
# Load: one open-loop generator (Python asyncio, embedded below) per 4000
# requests/s: request k is due at start + k / rate whatever the backends do,
# on an idle keep-alive connection or a new one (up to 256 per generator).
# It reports requests sent more than 100 ms late (it could not keep up).
# On a 2-core machine weir, both backends and the generator saturate both
# cores around 11,000 requests/s, so 10 % of 20,000 requests/s is out of
# reach: where R * 100 / CANARY_WEIGHT exceeds MAX_TOTAL_RPS, the canary
# weight is raised to R * 100 / MAX_TOTAL_RPS instead (2,000 canary
# requests/s: weight 50 % at 4,000 requests/s). The canary's own numbers,
# which the guard judges, are then what they would be at 10 %; the baseline
# has fewer requests in its window than it would (still ~60,000).
#
# Usage (from the build directory, or with WEIR=, WEIRCTL=, DEMO_BACKEND=):
#   bench/guard.sh                                  # ~35 minutes
#   HEALTHY_SECONDS=60 RUNS=3 LATENCY_RUNS=1 bench/guard.sh
#
# Settings (environment):
#   RATES="20 200 2000"   canary requests/s to measure at
#   RUNS=5                error drills per rate
#   LATENCY_RUNS=$RUNS    latency drills per rate (0: none)
#   HEALTHY_SECONDS=300   judged healthy seconds of the first run of a rate
#   WARMUP=30             judged healthy seconds before every other drill
#                         (the window: the drill starts on a full healthy one)
#   CANARY_WEIGHT=10      percent, unless MAX_TOTAL_RPS forces more
#   MAX_TOTAL_RPS=4000    highest total request rate to generate
#   WORKERS=1             weir's worker threads
#   DETECT_LIMIT=60       seconds to wait for a rollback after a switch
#   METHOD=window         guard.method: "window" (the settings above) or
#                         "sequential" (max_error_rate 0.05, max_p99_ratio 1.5,
#                         increase off, alpha 0.001; the drills still start
#                         after MIN_REQUESTS canary requests of healthy traffic)
#   GUARD='...'           the body of the guard group (default: per METHOD)
#   RESULTS=FILE          also write the raw per-run rows there (tab separated)
#   KEEP_TMP=0            1 keeps the scratch directory (configs, logs, events);
#                         it is kept anyway after a slow drill or a false rollback
#   STALL_EVERY=0         host stalls during healthy time: every STALL_EVERY
#                         seconds both backends are stopped (SIGSTOP) for
#                         STALL_SECONDS=1, then continued; 0: none. A stall
#                         hits both pools, as a host or network stall would.
#
# Everything listens on 127.0.0.1 on free ports between 20000 and 32767
# (below Linux's default ephemeral range, so that the many outgoing
# connections cannot take them between choosing and binding); every process is started by this script and stopped on exit,
# whatever the exit path. Requires: python3, curl, jq.
set -euo pipefail

PROG=guard.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

RATES=${RATES:-20 200 2000}
RUNS=${RUNS:-5}
LATENCY_RUNS=${LATENCY_RUNS:-$RUNS}
HEALTHY_SECONDS=${HEALTHY_SECONDS:-300}
WARMUP=${WARMUP:-30}
CANARY_WEIGHT=${CANARY_WEIGHT:-10}
MAX_TOTAL_RPS=${MAX_TOTAL_RPS:-4000}
WORKERS=${WORKERS:-1}
DETECT_LIMIT=${DETECT_LIMIT:-60}
RESULTS=${RESULTS:-}
KEEP_TMP=${KEEP_TMP:-0}
STALL_EVERY=${STALL_EVERY:-0}
STALL_SECONDS=${STALL_SECONDS:-1}
METHOD=${METHOD:-window}
case $METHOD in
window)
	GUARD=${GUARD:-method = \"window\"; interval = \"1s\"; window = \"30s\"; min_requests = 100; for = \"5s\";
          max_error_rate = 0.02; max_error_rate_increase = 0.01; max_p99_ratio = 1.5;
          action = \"rollback\";} ;;
sequential)
	# The issue's "thresholds only" setting: no interval, window, for or gate.
	GUARD=${GUARD:-method = \"sequential\"; alpha = 0.001; max_error_rate = 0.05;
          max_error_rate_increase = \"off\"; max_p99_ratio = 1.5; action = \"rollback\";} ;;
*) die "METHOD must be window or sequential (got $METHOD)" ;;
esac
# The gate the drills wait for; weir's default when GUARD does not set it.
MIN_REQUESTS=$(sed -n 's/.*min_requests[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' <<<"$GUARD")
MIN_REQUESTS=${MIN_REQUESTS:-100}
HEALTHY_QUERY="error_rate=0.01&latency_ms=5&jitter_ms=2"
ERROR_QUERY="error_rate=0.3"
LATENCY_QUERY="latency_ms=55"
GEN_RPS_MAX=4000	# requests/s one generator process is asked for at most
GEN_CONNS_MAX=256	# connections of one generator
ATTEMPTS=3		# a run that ends in a false rollback is started over this often

WEIR=$(find_bin weir "${WEIR:-}" ./src/weir "$BENCH_DIR/../src/weir")
WEIRCTL=$(find_bin weirctl "${WEIRCTL:-}" ./src/weirctl "$BENCH_DIR/../src/weirctl")
DEMO_BACKEND=$(find_bin weir-demo-backend "${DEMO_BACKEND:-}" ./contrib/weir-demo-backend \
	"$BENCH_DIR/../contrib/weir-demo-backend")
need_tools python3 curl jq
need_uint RUNS LATENCY_RUNS HEALTHY_SECONDS WARMUP MAX_TOTAL_RPS WORKERS DETECT_LIMIT STALL_EVERY STALL_SECONDS
[ "$RUNS" -ge 1 ] || die "RUNS must be at least 1"
for r in $RATES; do
	case $r in '' | *[!0-9]* | 0) die "RATES must be positive integers (got '$r')" ;; esac
done
awk -v w="$CANARY_WEIGHT" 'BEGIN {exit !(w > 0 && w < 100)}' ||
	die "CANARY_WEIGHT must be above 0 and below 100 (got $CANARY_WEIGHT)"
no_proxies

NCPU=$(nproc)
CLK_TCK=$(getconf CLK_TCK)

# ---- scratch directory, processes and cleanup --------------------------------
make_tmp weir-guardbench
GEN_PIDS=()
STOP_SECONDS=15		# weir drains for up to 10 s
KEEP_TMP_ON_ERROR=1
cleanup_on_exit

iso_ms() { date -d "$1" +%s%3N; }	# "2026-11-23T12:00:00.123Z" -> epoch ms

backend_set() {	# PORT QUERY
	curl -sf -m 5 -o /dev/null "http://127.0.0.1:$1/__backend/set?$2" ||
		die "cannot set $2 on the backend at 127.0.0.1:$1"
}

# ---- the load generator ------------------------------------------------------
cat >"$T/pace.py" <<'PY'
"""Open-loop paced HTTP/1.1 load: pace.py PORT RPS SECONDS MAX_CONNS.

Request k is due at start + k / RPS. A due request goes out on an idle
keep-alive connection, or on a new one while fewer than MAX_CONNS are open;
otherwise it waits for the first to become idle (and counts as late once
100 ms behind). Ends after SECONDS or on SIGTERM/SIGINT and prints one line:
sent, done, errors (5xx or connection lost mid-answer), achieved rate, late
count, worst lag."""
import asyncio
import collections
import signal
import sys
import time

REQUEST = b"GET /bench HTTP/1.1\r\nHost: weir-bench\r\n\r\n"


class Conn(asyncio.Protocol):
    def __init__(self, gen):
        self.gen, self.buf, self.need, self.busy = gen, b"", None, False
        self.transport, self.status, self.close = None, 0, False

    def connection_made(self, transport):
        self.transport = transport
        self.gen.ready(self)

    def send(self):
        self.busy = True
        self.transport.write(REQUEST)

    def data_received(self, data):
        self.buf += data
        while self.busy:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = self.buf[:end].split(b"\r\n")
                self.status, length, self.close = int(lines[0][9:12]), 0, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        self.close = True
                self.need = end + 4 + length
            if len(self.buf) < self.need:
                return
            self.buf, self.need, self.busy = self.buf[self.need:], None, False
            if self.close:
                self.transport.close()
            self.gen.finished(self, self.status >= 500, not self.close)

    def connection_lost(self, exc):
        self.gen.lost(self)


class Gen:
    def __init__(self, loop, port, rps, seconds, max_conns):
        self.loop, self.port, self.rps = loop, port, rps
        self.seconds, self.max_conns = seconds, max_conns
        self.idle, self.conns, self.connecting = [], set(), 0
        self.pending = collections.deque()
        self.sent = self.done = self.errors = self.late = self.k = 0
        self.lag_max = 0.0
        self.start = time.monotonic()
        self.stopped = loop.create_future()

    def tick(self):
        now = time.monotonic()
        if now - self.start >= self.seconds:
            self.stop()
        if self.stopped.done():
            return
        while self.start + self.k / self.rps <= now:
            self.pending.append(self.start + self.k / self.rps)
            self.k += 1
        self.dispatch(now)
        self.loop.call_later(0.001, self.tick)

    def dispatch(self, now):
        while self.pending and self.idle:
            lag = now - self.pending.popleft()
            self.lag_max = max(self.lag_max, lag)
            self.late += lag > 0.1
            self.idle.pop().send()
            self.sent += 1
        want = len(self.pending) - self.connecting
        while want > 0 and len(self.conns) + self.connecting < self.max_conns:
            self.connecting += 1
            want -= 1
            self.loop.create_task(self.connect())

    async def connect(self):
        try:
            await self.loop.create_connection(lambda: Conn(self), "127.0.0.1", self.port)
        except OSError:
            self.errors += 1
        finally:
            self.connecting -= 1

    def ready(self, conn):
        self.conns.add(conn)
        self.idle.append(conn)
        self.dispatch(time.monotonic())

    def finished(self, conn, bad, reusable):
        self.done += 1
        self.errors += bad
        if reusable and not self.stopped.done():
            self.idle.append(conn)
            self.dispatch(time.monotonic())

    def lost(self, conn):
        if conn.busy:
            self.done += 1
            self.errors += 1
        self.conns.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)

    def stop(self):
        if not self.stopped.done():
            self.stopped.set_result(None)


async def main():
    port, rps, seconds, max_conns = (int(sys.argv[1]), float(sys.argv[2]),
                                     float(sys.argv[3]), int(sys.argv[4]))
    loop = asyncio.get_running_loop()
    gen = Gen(loop, port, rps, seconds, max_conns)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, gen.stop)
    loop.call_soon(gen.tick)
    await gen.stopped
    elapsed = time.monotonic() - gen.start
    for conn in list(gen.conns):
        conn.transport.close()
    print("sent=%d done=%d errors=%d rate=%.1f late=%d lag_max_ms=%.0f conns=%d"
          % (gen.sent, gen.done, gen.errors, gen.sent / elapsed, gen.late,
             gen.lag_max * 1000, len(gen.conns)), flush=True)


asyncio.run(main())
PY

# ---- backends: one per pool, for the whole benchmark ------------------------
read -r P_BASE P_CANARY <<<"$(free_ports 2 20000 32768)"
start "$T/backend-baseline.log" "$DEMO_BACKEND" --listen "127.0.0.1:$P_BASE" --name baseline \
	--latency-ms 5 --jitter-ms 2 --error-rate 0.01
PID_BASE=$LAST_PID
start "$T/backend-canary.log" "$DEMO_BACKEND" --listen "127.0.0.1:$P_CANARY" --name canary \
	--latency-ms 5 --jitter-ms 2 --error-rate 0.01
PID_CANARY=$LAST_PID
wait_port "$P_BASE" "$PID_BASE" "$T/backend-baseline.log" || die "the baseline backend did not start"
wait_port "$P_CANARY" "$PID_CANARY" "$T/backend-canary.log" || die "the canary backend did not start"

# ---- one weir per run ---------------------------------------------------------
# start_weir DIR WEIGHT: a fresh weir (empty window, new state file and event
# log in DIR); sets PID_WEIR, P_PROXY, P_ADMIN, SOCK. A port taken between
# choosing and binding it is chosen again.
start_weir() {
	local dir=$1 weight=$2 try
	SOCK=$dir/weir.sock
	for try in 1 2 3; do
		read -r P_PROXY P_ADMIN <<<"$(free_ports 2 20000 32768)"
		cat >"$dir/weir.conf" <<EOF
listen = ( "127.0.0.1:$P_PROXY" );
workers = $WORKERS;
admin = { http = "127.0.0.1:$P_ADMIN"; socket = "$SOCK"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$P_BASE" ); };
  canary   = { servers = ( "127.0.0.1:$P_CANARY" ); };
};
split = { canary_weight = $weight; };
guard = { enabled = true; $GUARD };
state_file = "$dir/state";
event_log = "$dir/events.log";
EOF
		rm -f "$dir/state" "$dir/events.log"
		start "$dir/weir.log" "$WEIR" -c "$dir/weir.conf"
		PID_WEIR=$LAST_PID
		if wait_port "$P_PROXY" "$PID_WEIR" "$dir/weir.log" &&
			wait_port "$P_ADMIN" "$PID_WEIR" "$dir/weir.log"; then
			return 0
		fi
		wait "$PID_WEIR" 2>/dev/null || true
		forget "$PID_WEIR"
		grep -q 'in use' "$dir/weir.log" || { sed 's/^/    /' "$dir/weir.log" >&2; die "weir did not start"; }
		note "port taken (try $try): $(tail -n 1 "$dir/weir.log")"
	done
	die "weir did not start in 3 tries (see $dir/weir.log)"
}

stats() { curl -sf -m 2 "http://127.0.0.1:$P_ADMIN/stats.json" || true; }
canary_weight() { stats | jq -r '.weights.canary // empty' 2>/dev/null || true; }
is_zero() { [ -n "$1" ] && awk -v w="$1" 'BEGIN {exit !(w + 0 == 0)}'; }

# start_load TOTAL_RPS SECONDS DIR: generators, one per GEN_RPS_MAX requests/s.
start_load() {
	local total=$1 seconds=$2 dir=$3 n i
	n=$(((total + GEN_RPS_MAX - 1) / GEN_RPS_MAX))
	GEN_PIDS=()
	for ((i = 1; i <= n; i++)); do
		start "$dir/load-$i.log" python3 -S "$T/pace.py" "$P_PROXY" \
			"$(awk -v t="$total" -v n="$n" 'BEGIN {print t / n}')" "$seconds" "$GEN_CONNS_MAX"
		GEN_PIDS+=("$LAST_PID")
	done
}
stop_load() {
	local pid
	for pid in "${GEN_PIDS[@]}"; do
		stop_pid "$pid"
	done
	GEN_PIDS=()
}

# CPU ticks: the machine's busy ticks, and ours (weir, backends, generators).
ticks_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
ticks_ours() { proc_ticks "$PID_BASE" "$PID_CANARY" "$PID_WEIR" "${GEN_PIDS[@]}" | cut -d' ' -f2; }

# other_pct BUSY OURS SECONDS: CPU used by processes outside the benchmark,
# in percent of all CPUs.
other_pct() {
	awk -v b="$1" -v o="$2" -v s="$3" -v hz="$CLK_TCK" -v n="$NCPU" \
		'BEGIN {v = s > 0 ? 100 * (b - o) / (s * hz * n) : 0; printf "%.0f", v < 0 ? 0 : v}'
}
pool_p99s() { stats | jq -r '"\(.pools.baseline.window.p99_ms) \(.pools.canary.window.p99_ms)"' 2>/dev/null || echo "- -"; }

# One line of the guard's own judged values, from `weirctl show guard`:
# "canary_lower increase p99_ratio judged" ("-" where it has none).
guard_values() {
	"$WEIRCTL" -s "$SOCK" show guard 2>/dev/null | awk '
		$1 == "canary" && $2 == "requests" {for (i = 1; i < NF; i++) if ($i == "wilson95") {split($(i + 1), w, /\.\./); lo = w[1]}}
		$1 == "error_rate_increase" {inc = $2}
		$1 == "p99_ratio" {ratio = $2}
		$1 == "judged" {judged = $2}
		# sequential: each test'"'"'s evidence (fraction of its boundary) instead
		$1 == "test" && $2 == "error_rate" {lo = $4}
		$1 == "test" && $2 == "error_rate_increase" {inc = $4}
		$1 == "test" && $2 == "p99_ratio" {ratio = $4}
		END {printf "%s %s %s %s\n", lo == "" ? "-" : lo, inc == "" ? "-" : inc, ratio == "" ? "-" : ratio, judged == "" ? "-" : judged}' || true
}

# stall_backends DIR: both backends stopped for STALL_SECONDS, then continued;
# the stall's start is appended to DIR/stalls.
stall_backends() {
	local dir=$1
	now_ms >>"$dir/stalls"
	kill -STOP "$PID_BASE" "$PID_CANARY"
	sleep "$STALL_SECONDS"
	kill -CONT "$PID_BASE" "$PID_CANARY"
}

# hold_healthy DIR SECONDS: judged healthy traffic for SECONDS, sampling the
# guard every second (and stalling the backends every STALL_EVERY seconds).
# Returns 1 as soon as the canary weight is 0 (a false rollback). Appends the
# samples to DIR/samples.
hold_healthy() {
	local dir=$1 seconds=$2 end w next_stall=
	end=$(($(now_ms) + seconds * 1000))
	[ "$STALL_EVERY" -gt 0 ] && next_stall=$(($(now_ms) + STALL_EVERY * 1000))
	while (($(now_ms) < end)); do
		if [ -n "$next_stall" ] && (($(now_ms) >= next_stall)); then
			stall_backends "$dir"
			next_stall=$((next_stall + STALL_EVERY * 1000))
		fi
		sleep 1
		w=$(canary_weight)
		echo "$(now_ms) ${w:--} $(guard_values) $(pool_p99s)" >>"$dir/samples"
		is_zero "$w" && return 1
	done
	return 0
}

# until_watching DIR: a drill starts from "watching", not from a breach
# episode that healthy noise began (it would shorten the measurement). Waits
# up to a window's length; returns 1 on a (false) rollback meanwhile.
until_watching() {
	local dir=$1 end st w
	end=$(($(now_ms) + 40000))
	while (($(now_ms) < end)); do
		read -r st w <<<"$(stats | jq -r '"\(.guard.state) \(.weights.canary)"' 2>/dev/null || echo "- -")"
		is_zero "$w" && return 1
		[ "$st" = watching ] && return 0
		echo "$(now_ms) ${w:--} $(guard_values) $(pool_p99s)" >>"$dir/samples"
		sleep 0.5
	done
	note "the guard is still '$st' after 40 s of healthy traffic; switching anyway"
	return 0
}

# guard_events DIR ACTION [AFTER_MS [BEFORE_MS]]: the guard's ACTION events
# in DIR/events.log with a time in [AFTER_MS, BEFORE_MS), one per line.
guard_events() {
	local dir=$1 action=$2 after=${3:-0} before=${4:-99999999999999} line t
	[ -f "$dir/events.log" ] || return 0
	while IFS= read -r line; do
		t=$(iso_ms "$(jq -r .time <<<"$line")")
		((t >= after && t < before)) && printf '%s\n' "$line"
	done < <(jq -c --arg a "$action" 'select(.actor == "guard" and .action == $a)' "$dir/events.log")
	return 0
}

ROWS=$T/rows.tsv		# one row per drill
HEALTHY=$T/healthy.tsv		# one row per stretch of healthy time
FALSE_EVENTS=$T/false-events.txt
: >"$ROWS"
: >"$HEALTHY"
: >"$FALSE_EVENTS"

# run_drill KIND RATE WEIGHT TOTAL RUN HOLD: one weir, HOLD judged healthy
# seconds, then the switch (KIND errors or latency) and the wait for canary 0.
run_drill() {
	local kind=$1 rate=$2 weight=$3 total=$4 run=$5 hold=$6 attempt dir query
	local t_start t_judged t_switch t_seen n w busy0 ours0 busy1 ours1 rps ok
	local ev_rb ev_br t_rb t_br reason gate_limit load_secs busy2 ours2 t_busy2 other
	case $kind in errors) query=$ERROR_QUERY ;; latency) query=$LATENCY_QUERY ;; esac
	gate_limit=$((MIN_REQUESTS * 3 / rate + 20))
	load_secs=$((gate_limit + hold + DETECT_LIMIT + 30))
	for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
		dir=$T/r$rate-$kind-$run-$attempt
		mkdir -p "$dir"
		backend_set "$P_BASE" "$HEALTHY_QUERY"
		backend_set "$P_CANARY" "$HEALTHY_QUERY"
		start_weir "$dir" "$weight"
		start_load "$total" "$load_secs" "$dir"
		t_start=$(now_ms)
		# The guard judges once the canary has min_requests in the window.
		while :; do
			n=$(stats | jq -r '.pools.canary.window.requests // 0' 2>/dev/null || echo 0)
			[ "${n:-0}" -ge "$MIN_REQUESTS" ] && break
			(($(now_ms) - t_start < gate_limit * 1000)) ||
				die "$kind $rate/s run $run: the canary has $n requests in the window after ${gate_limit}s (see $dir)"
			sleep 0.2
		done
		t_judged=$(now_ms)
		busy0=$(ticks_busy) ours0=$(ticks_ours)
		ok=1
		hold_healthy "$dir" "$hold" && until_watching "$dir" || ok=0
		t_switch=$(now_ms)
		busy1=$(ticks_busy) ours1=$(ticks_ours)
		# Healthy stretch: judged seconds, false rollbacks and breaches in it.
		local rb br
		rb=$(guard_events "$dir" rollback 0 "$t_switch" | tee -a "$FALSE_EVENTS" | wc -l)
		br=$(guard_events "$dir" breach 0 "$t_switch" | tee -a "$FALSE_EVENTS" | wc -l)
		[ "$rb$br" = 00 ] || sed -i "s|^{|$kind $rate/s run $run attempt $attempt: {|" "$FALSE_EVENTS"
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$(secs "$t_judged" "$t_switch")" "$rb" "$br" \
			"$(other_pct "$((busy1 - busy0))" "$((ours1 - ours0))" "$(secs "$t_judged" "$t_switch")")" \
			"$dir" >>"$HEALTHY"
		if [ "$ok" = 0 ] || [ "$rb" != 0 ]; then
			note "FALSE ROLLBACK: $kind $rate/s run $run attempt $attempt after $(secs "$t_judged" "$t_switch") s of healthy traffic:"
			guard_events "$dir" rollback 0 "$t_switch" | sed 's/^/    /' >&2
			KEEP_TMP=1
			stop_load
			stop_pid "$PID_WEIR"
			continue
		fi
		rps=$(stats | jq -r '.pools.canary.window.rps' 2>/dev/null || echo 0)
		t_switch=$(now_ms)
		backend_set "$P_CANARY" "$query"
		t_seen=
		local i=0
		while (($(now_ms) - t_switch < DETECT_LIMIT * 1000)); do
			w=$(canary_weight)
			if is_zero "$w"; then
				t_seen=$(now_ms)
				break
			fi
			# Once a second, what the guard judges, for slow drills.
			(((i++ % 10) == 0)) && echo "$(now_ms) ${w:--} $(guard_values) $(pool_p99s)" >>"$dir/drill-samples"
			sleep 0.1
		done
		busy2=$(ticks_busy) ours2=$(ticks_ours) t_busy2=$(now_ms)
		sleep 0.3	# the event line is written right after the weights change
		ev_rb=$(guard_events "$dir" rollback "$t_switch" | head -n 1)
		ev_br=$(guard_events "$dir" breach "$t_switch" | head -n 1)
		t_rb=- t_br=- reason=-
		[ -n "$ev_rb" ] && t_rb=$(secs "$t_switch" "$(iso_ms "$(jq -r .time <<<"$ev_rb")")") &&
			reason=$(jq -r .reason <<<"$ev_rb")
		[ -n "$ev_br" ] && t_br=$(secs "$t_switch" "$(iso_ms "$(jq -r .time <<<"$ev_br")")")
		stop_load
		stop_pid "$PID_WEIR"
		backend_set "$P_CANARY" "$HEALTHY_QUERY"
		local gen late
		gen=$(cat "$dir"/load-*.log)
		late=$(sed -n 's/.*late=\([0-9]*\).*/\1/p' <<<"$gen" | awk '{s += $1} END {print s + 0}')
		local shown=${t_seen:+$(secs "$t_switch" "$t_seen")}
		other=$(other_pct "$((busy2 - busy0))" "$((ours2 - ours0))" "$(secs "$t_judged" "$t_busy2")")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$rate" "$weight" "$total" "$rps" "$run" \
			"${shown:-timeout}" "$t_rb" "$t_br" "$late" "$reason" "$other" >>"$ROWS"
		printf '   %-7s %5s/s run %s  canary %7.1f/s  rolled back after %6s s (event %s s, first breach %s s)  other %s%%%s\n' \
			"$kind" "$rate" "$run" "$rps" "${shown:-timeout}" "$t_rb" "$t_br" "$other" \
			"$([ "$late" -gt 0 ] && echo "  [generator: $late requests > 100 ms late]")"
		if [ -z "$shown" ] || awk -v s="$shown" 'BEGIN {exit !(s >= 10)}'; then
			note "SLOW: $kind $rate/s run $run: ${shown:-no rollback within ${DETECT_LIMIT}s} (target < 10 s); the guard's events:"
			jq -c 'select(.actor == "guard")' "$dir/events.log" | sed 's/^/    /' >&2 || true
			note "  the guard each second after the switch (ms, weight, canary lower, increase, p99 ratio, judged, baseline/canary p99 ms):"
			sed 's/^/    /' "$dir/drill-samples" >&2 || true
			KEEP_TMP=1
		fi
		return 0
	done
	note "$kind $rate/s run $run: false rollback in all $ATTEMPTS attempts; no measurement"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$rate" "$weight" "$total" - "$run" \
		false-rollback - - 0 - - >>"$ROWS"
}

# ---- the runs ---------------------------------------------------------------------
REV=$(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$REV" != unknown ] && [ -n "$(git -C "$BENCH_DIR/.." status --porcelain -- src include 2>/dev/null)" ]; then
	REV="$REV (src/ or include/ modified)"
fi
echo "== weir guard benchmark"
echo "   $("$WEIR" -V 2>&1 | head -n 1), tree $REV, binary $WEIR built $(date -u -r "$WEIR" '+%Y-%m-%d %H:%M UTC')"
echo "   $NCPU CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1); kernel $(uname -r)"
echo "   RATES=\"$RATES\" RUNS=$RUNS LATENCY_RUNS=$LATENCY_RUNS HEALTHY_SECONDS=$HEALTHY_SECONDS WARMUP=$WARMUP" \
	"CANARY_WEIGHT=$CANARY_WEIGHT MAX_TOTAL_RPS=$MAX_TOTAL_RPS WORKERS=$WORKERS" \
	"STALL_EVERY=$STALL_EVERY STALL_SECONDS=$STALL_SECONDS"
echo "   guard: $(tr -s ' \n' ' ' <<<"$GUARD")"
echo "   backends: 1 % errors, 5 +- 2 ms; drills: canary to 30 % errors, or to 55 +- 2 ms"
T0=$(now_ms)
declare -A WEIGHT TOTAL
for rate in $RATES; do
	w=$CANARY_WEIGHT
	total=$(awk -v r="$rate" -v w="$w" 'BEGIN {printf "%.0f", r * 100 / w}')
	if [ "$total" -gt "$MAX_TOTAL_RPS" ]; then
		total=$MAX_TOTAL_RPS
		w=$(awk -v r="$rate" -v t="$total" 'BEGIN {printf "%.2f", 100 * r / t}')
		awk -v w="$w" 'BEGIN {exit !(w < 100)}' ||
			die "$rate canary requests/s need more than MAX_TOTAL_RPS=$MAX_TOTAL_RPS in total"
	fi
	WEIGHT[$rate]=$w TOTAL[$rate]=$total
	echo "== canary $rate requests/s: weight $w %, $total requests/s in total"
	for ((run = 1; run <= RUNS; run++)); do
		hold=$WARMUP
		[ "$run" = 1 ] && [ "$HEALTHY_SECONDS" -gt "$hold" ] && hold=$HEALTHY_SECONDS
		run_drill errors "$rate" "$w" "$total" "$run" "$hold"
	done
	for ((run = 1; run <= LATENCY_RUNS; run++)); do
		run_drill latency "$rate" "$w" "$total" "$run" "$WARMUP"
	done
done

# ---- report ---------------------------------------------------------------------------
col() {	# KIND RATE COLUMN: numeric values of that column
	awk -F'\t' -v k="$1" -v r="$2" -v c="$3" '$1 == k && $2 == r && $c ~ /^[0-9.]+$/ {print $c}' "$ROWS"
}
failed() { awk -F'\t' -v k="$1" -v r="$2" '$1 == k && $2 == r && $7 !~ /^[0-9.]+$/' "$ROWS" | wc -l; }

echo
echo "== breach to rollback: seconds from the switch until /stats.json shows canary 0 (polled every 100 ms)"
echo "   event: the rollback's time in events.log; breach: the first breached judgement (the guard then waits 'for');"
echo "   other%: CPU used by processes outside this benchmark during the run, share of all $NCPU CPUs (median)"
printf '%-14s %8s %7s %8s %9s %5s %7s %7s %9s %9s %6s %s\n' drill canary/s weight total/s actual/s runs median max \
	"event med" "breach med" other% "failed"
for kind in errors latency; do
	for rate in $RATES; do
		n=$(awk -F'\t' -v k="$kind" -v r="$rate" '$1 == k && $2 == r' "$ROWS" | wc -l)
		[ "$n" -gt 0 ] || continue
		printf '%-14s %8s %6s%% %8s %9s %5s %7s %7s %9s %9s %5s%% %s\n' \
			"$([ "$kind" = errors ] && echo "30% errors" || echo "+50 ms")" "$rate" "${WEIGHT[$rate]}" \
			"${TOTAL[$rate]}" "$(col "$kind" "$rate" 5 | median %.0f)" "$n" "$(col "$kind" "$rate" 7 | median %.2f)" \
			"$(col "$kind" "$rate" 7 | maxof)" "$(col "$kind" "$rate" 8 | median %.2f)" \
			"$(col "$kind" "$rate" 9 | median %.2f)" "$(col "$kind" "$rate" 12 | median %.2f)" "$(failed "$kind" "$rate")"
	done
done

echo
echo "== healthy canary: judged seconds (from the min_requests gate to the switch, every run), guard events in them"
echo "   closest approach: the largest value the guard itself judged (weirctl show guard, sampled every second)"
echo "   against its threshold: canary error rate 95 % lower bound (0.02), increase over the baseline (0.01), p99 ratio (1.5)"
printf '%8s %10s %7s %16s %9s %12s %10s %10s %8s\n' canary/s "healthy s" stalls "false rollbacks" breaches \
	"max lower" "max incr" "max ratio" "other%"
for rate in $RATES; do
	awk -F'\t' -v r="$rate" '$1 == r {s += $2; rb += $3; br += $4; o += $5 * $2}
		END {printf "%s %.0f %d %d %.0f\n", r, s, rb, br, s ? o / s : 0}' "$HEALTHY" | {
		read -r r s rb br other
		closest=$(awk -F'\t' -v r="$rate" '$1 == r {print $6 "/samples"}' "$HEALTHY" |
			xargs cat 2>/dev/null | awk '
				function m(v, cur) {return (v != "-" && (cur == "" || v + 0 > cur + 0)) ? v : cur}
				$6 == "yes" {lo = m($3, lo); inc = m($4, inc); ra = m($5, ra)}
				END {printf "%s %s %s", lo == "" ? "-" : lo, inc == "" ? "-" : inc, ra == "" ? "-" : ra}')
		read -r lo inc ra <<<"$closest"
		stalls=$(awk -F'\t' -v r="$rate" '$1 == r {print $6 "/stalls"}' "$HEALTHY" | xargs cat 2>/dev/null | wc -l || true)
		printf '%8s %10s %7s %16s %9s %12s %10s %10s %7s%%\n' "$r" "$s" "$stalls" "$rb" "$br" "$lo" "$inc" "$ra" "$other"
	}
done
echo "   (other%: CPU used by processes outside this benchmark, share of all $NCPU CPUs, during healthy time;"
echo "    the script's own curl, jq and weirctl polls count as other, a few %)"
if [ -s "$FALSE_EVENTS" ]; then
	echo
	echo "== guard events during healthy traffic (events.log)"
	sed 's/^/   /' "$FALSE_EVENTS"
fi
echo
echo "== rollback reasons (first run of each drill)"
for kind in errors latency; do
	for rate in $RATES; do
		awk -F'\t' -v k="$kind" -v r="$rate" '$1 == k && $2 == r && $11 != "-" {printf "   %-7s %5s/s: %s\n", k, r, $11; exit}' "$ROWS"
	done
done
echo
echo "== total wall time $(awk -v s="$(secs "$T0" "$(now_ms)")" 'BEGIN {printf "%.0f s", s}')"

if [ -n "$RESULTS" ]; then
	printf 'kind\trate\tweight\ttotal\tcanary_rps\trun\tpolled_s\tevent_s\tbreach_s\tgen_late\treason\tother_pct\n' >"$RESULTS"
	cat "$ROWS" >>"$RESULTS"
fi
if awk -F'\t' '$7 !~ /^[0-9.]+$/ {bad = 1} END {exit !bad}' "$ROWS" ||
	awk -F'\t' '$3 > 0 {bad = 1} END {exit !bad}' "$HEALTHY"; then
	note "the guard missed a drill or rolled back a healthy canary (see above)"
	exit 1
fi
