#!/usr/bin/env bash
# bench/fleet.sh: how fast a fleet's weight change reaches every member.
#
#   bench/fleet.sh [CHANGES]          (default 1000; run from the build tree)
#   bench/fleet.sh rps [SECONDS] [RUNS]   requests/s with and without a cluster
#   bench/fleet.sh rollback [RUNS] [RATE]  rollback time with 1, 2, 3 members
#
# Starts a 3-member etcd cluster and 3 weir instances on loopback (one
# shared demo backend per pool), then gives CHANGES "set weight" commands to
# member 1, one after the other, and reports:
#   - the command's round trip (weirctl: committed in etcd and applied on
#     member 1), p50 / p99 / max;
#   - the apply lag of members 2 and 3: the time each applied the change
#     minus the time member 1 applied it, from the millisecond timestamps of
#     their event logs, p50 / p99 / max (negative: before member 1).
# With "rps": one weir with a cluster group (one etcd member, the member
# publishing its measurements as it does in a fleet, and the leader, its
# guard judging a 10 % canary; member 2 idle beside it, or stopped when it
# led) and one without, the
# same two backends behind both, wrk (50 connections, SECONDS each, default
# 5) against each in turn, RUNS times (default 3): every run's requests/s
# and the proxy's CPU time per request, the medians and their ratios. The
# proxies are pinned to CPU 1 (PROXY_CPU), everything else to CPU 0
# (LOAD_CPU). The two backends are nginx there (BACKEND=nginx, the
# default; BACKEND=demo for the demo backend), as in compare.sh: a backend
# that costs more than the proxy would leave the load core saturated and
# the proxy idle, and the ratio would then be the load side's. etcd and
# member 2 are on the load core: they work only in the cluster runs (member
# 1's puts, and member 2 reading them), so they slow wrk there, by ~6 % of
# that core (one etcd member).
# PIPELINE=N has wrk write N requests back to back on each connection
# (default 1): the load side's cost per request falls (for wrk and nginx
# alike), so more of it is left for the proxy.
# MAIN_CPU=C puts each proxy's main thread (admin, guard and fleet work) on
# CPU C, its worker staying on PROXY_CPU (default: the main thread on
# PROXY_CPU too). On a 2-CPU host, MAIN_CPU=0 keeps the control side from
# preempting the worker, as a free core would in production; with
# PROXY_QUOTA its CPU time still counts in the proxy's quota.
# PROXY_QUOTA=P (percent of one core, 1-100; root and a cgroup "cpu"
# controller needed) caps each proxy's CPU time at P % of a core, through a
# cgroup of its own (all its threads, the main thread's fleet work
# included). Set it low enough that the load core keeps headroom (its busy
# share is printed per run): the proxy is then the bottleneck, so
# requests/s is the proxy's own throughput, and etcd's and member 2's work
# on the load core no longer counts in it.
# With "rollback": for fleets of 1, 2 and 3 members (the others stopped),
# RUNS times each (default 3): guard.method "sequential", weight 50 %, RATE
# requests/s in all (default 90, so 45 to the canary) spread evenly over the
# members (tests/integration/client.py load), then the canary backend turns
# to 30 % errors; the time from that switch until every member serves 0 %
# (polled every 50 ms). Members leave from the largest fleet down (3, then
# 2, then 1), each after its lease has expired.
# Needs etcd, etcdctl and python3. Set KEEP_TMP=1 to keep the scratch dir.
set -euo pipefail
PROG=fleet.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

MODE=lag
if [[ ${1:-} == rollback ]]; then
	MODE=rollback
	RUNS=${2:-3}
	RATE=${3:-90}
	need_posint RUNS RATE
	set -- 1
elif [[ ${1:-} == rps ]]; then
	MODE=rps
	SECONDS_EACH=${2:-5}
	RUNS=${3:-3}
	need_posint SECONDS_EACH RUNS
	need_tools wrk taskset
	PROXY_CPU=${PROXY_CPU:-1}
	LOAD_CPU=${LOAD_CPU:-0}
	BACKEND=${BACKEND:-nginx}
	[ "$BACKEND" = demo ] || need_tools nginx
	PIPELINE=${PIPELINE:-1}
	need_posint PIPELINE
	PROXY_QUOTA=${PROXY_QUOTA:-}
	if [ -n "$PROXY_QUOTA" ]; then
		need_posint PROXY_QUOTA
		[ "$PROXY_QUOTA" -le 100 ] || die "PROXY_QUOTA is a percentage of one core: 1-100"
	fi
	set -- 1
fi
CHANGES=${1:-1000}
need_posint CHANGES
need_tools etcd etcdctl python3 curl
no_proxies
WEIR=$(find_bin weir "${WEIR:-}" ./src/weir "$BENCH_DIR/../src/weir")
WEIRCTL=$(find_bin weirctl "${WEIRCTL:-}" ./src/weirctl "$BENCH_DIR/../src/weirctl")
DEMO_BACKEND=$(find_bin weir-demo-backend "${DEMO_BACKEND:-}" ./contrib/weir-demo-backend \
	"$BENCH_DIR/../contrib/weir-demo-backend")
make_tmp weir-bench-fleet
cleanup_on_exit

read -r -a ports <<<"$(free_ports 14)"
EC=("" "${ports[0]}" "${ports[1]}" "${ports[2]}")
EP=("" "${ports[3]}" "${ports[4]}" "${ports[5]}")
PX=("" "${ports[6]}" "${ports[7]}" "${ports[8]}")
AD=("" "${ports[9]}" "${ports[10]}" "${ports[11]}")
WPID=()
B1=${ports[12]}
C1=${ports[13]}
# rps: one etcd member. The proxy's cost does not depend on how many etcd
# members replicate its puts, but the load core runs etcd: three members
# there take a sixth of it from wrk (raft, three WALs), and the ratio
# would be theirs.
NETCD=3
[[ $MODE == rps ]] && NETCD=1
cluster="e1=http://127.0.0.1:${EP[1]},e2=http://127.0.0.1:${EP[2]},e3=http://127.0.0.1:${EP[3]}"
((NETCD == 1)) && cluster="e1=http://127.0.0.1:${EP[1]}"
ETCD_URLS="\"http://127.0.0.1:${EC[1]}\", \"http://127.0.0.1:${EC[2]}\", \"http://127.0.0.1:${EC[3]}\""
((NETCD == 1)) && ETCD_URLS="\"http://127.0.0.1:${EC[1]}\""
for i in $(seq "$NETCD"); do
	start "$T/etcd$i.log" etcd --name "e$i" --data-dir "$T/etcd$i" \
		--listen-client-urls "http://127.0.0.1:${EC[i]}" --advertise-client-urls "http://127.0.0.1:${EC[i]}" \
		--listen-peer-urls "http://127.0.0.1:${EP[i]}" --initial-advertise-peer-urls "http://127.0.0.1:${EP[i]}" \
		--initial-cluster "$cluster" --initial-cluster-state new --log-level warn
done
for _ in $(seq 100); do
	ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:${EC[1]}" endpoint health >/dev/null 2>&1 && break
	sleep 0.2
done
if [[ $MODE == rps ]]; then
	pin_cpus
	start_backend base "$B1"
	wait_port "$B1" "$LAST_PID" "$T/base.log"
	start_backend canary "$C1"
	wait_port "$C1" "$LAST_PID" "$T/canary.log"
else
	start "$T/base.log" "$DEMO_BACKEND" --listen "127.0.0.1:$B1" --name base
	start "$T/canary.log" "$DEMO_BACKEND" --listen "127.0.0.1:$C1" --name canary
fi
for i in 1 2 3; do
	cat >"$T/w$i.conf" <<CONF
listen = ( "127.0.0.1:${PX[i]}" );
admin = { http = "127.0.0.1:${AD[i]}"; socket = "$T/w$i.sock"; };
pools = { baseline = { servers = ( "127.0.0.1:$B1" ); }; canary = { servers = ( "127.0.0.1:$C1" ); }; };
guard = { $(case $MODE in
	rollback) echo 'method = "sequential"; max_error_rate = 0.05; max_error_rate_increase = 0.05; max_p99_ratio = 100.0;' ;;
	rps) echo 'method = "sequential"; max_error_rate = 0.05;' ;; # a canary being judged: publications every 200 ms
	*) echo 'enabled = false;' ;;
	esac) };
state_file = "$T/state$i";
event_log = "$T/events$i.log";
cluster = { etcd = ( $ETCD_URLS );
            name = "bench"; node = "weir-$i"; ttl = "5s"; };
CONF
	start "$T/weir$i.log" "$WEIR" -c "$T/w$i.conf"
	WPID[i]=$LAST_PID
	wait_port "${AD[i]}" "$LAST_PID" "$T/weir$i.log"
done
connected() { curl -s "http://127.0.0.1:${AD[$1]}/stats.json" | grep -q '"connected":true'; }
for i in 1 2 3; do
	for _ in $(seq 100); do connected "$i" && break; sleep 0.1; done
	connected "$i" || die "member $i did not connect (see $T/weir$i.log)"
done
sleep 1 # the first member's seed applied everywhere

if [[ $MODE == rollback ]]; then
	CLIENT=$BENCH_DIR/../tests/integration/client.py
	[ -f "$CLIENT" ] || die "cannot find $CLIENT"
	backend_errors() {
		[ "$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' \
			"http://127.0.0.1:$C1/__backend/set?error_rate=$1")" = 200 ] || die "the canary backend refused error_rate=$1"
	}
	canary_of() {
		curl -s --noproxy '*' -m 2 "http://127.0.0.1:${AD[$1]}/stats.json" |
			python3 -c 'import json, sys; print(json.load(sys.stdin)["weights"]["canary"])' 2>/dev/null
	}
	all_at() {	# M WEIGHT: members 1..M all serve WEIGHT
		local i
		for ((i = 1; i <= $1; i++)); do [ "$(canary_of "$i")" = "$2" ] || return 1; done
	}
	members() { "$WEIRCTL" -s "$T/w1.sock" show fleet | grep -vc disconnected; }
	echo "rollback time, 30 % errors on the canary at weight 50 %, $RATE requests/s in all, guard sequential"
	for m in 3 2 1; do
		if ((m < 3)); then
			stop_pid "${WPID[m + 1]}" 5
			for _ in $(seq 200); do [ "$(members)" = "$m" ] && break; sleep 0.1; done
			[ "$(members)" = "$m" ] || die "member 1 still sees $(members) members, not $m"
		fi
		: >"$T/rb$m"
		for r in $(seq "$RUNS"); do
			backend_errors 0
			"$WEIRCTL" -s "$T/w1.sock" set weight canary 50 >/dev/null || die "set weight 50 failed"
			for _ in $(seq 100); do all_at "$m" 50.0 && break; sleep 0.05; done
			all_at "$m" 50.0 || die "the members did not all apply weight 50"
			LOADS=()
			for ((i = 1; i <= m; i++)); do
				python3 "$CLIENT" load "${PX[i]}" "$(awk -v r="$RATE" -v m="$m" 'BEGIN {print r / m}')" 60 \
					>"$T/load$m-$r-$i.log" 2>&1 &
				LOADS+=($!)
			done
			sleep 5 # both pools measured before the switch
			t0=$(now_ms)
			backend_errors 0.3
			ok=0
			for _ in $(seq 600); do
				all_at "$m" 0.0 && { ok=1; break; }
				sleep 0.05
			done
			t1=$(now_ms)
			kill "${LOADS[@]}" 2>/dev/null || true
			wait "${LOADS[@]}" 2>/dev/null || true
			((ok)) || die "fleet of $m: not rolled back on every member within 30 s"
			echo $((t1 - t0)) >>"$T/rb$m"
			note "fleet of $m, run $r: rolled back on every member $((t1 - t0)) ms after the switch"
		done
	done
	backend_errors 0
	for m in 1 2 3; do
		printf 'fleet of %d member(s): rollback after (ms) median %s  max %s  (%s runs, %s requests/s each member)\n' \
			"$m" "$(median "%.0f" <"$T/rb$m")" "$(maxof <"$T/rb$m")" "$RUNS" "$(awk -v r="$RATE" -v m="$m" 'BEGIN {print r / m}')"
	done
	exit 0
fi

if [[ $MODE == rps ]]; then
	# member 3 leaves the fleet; a weir alone takes its listen port
	stop_pid "${WPID[3]}" 5
	grep -v '^cluster' "$T/w3.conf" | grep -v '^ *name = "bench"' | sed 's|w3.sock|alone.sock|' >"$T/alone.conf"
	start "$T/alone.log" "$WEIR" -c "$T/alone.conf"
	wait_port "${PX[3]}" "$LAST_PID" "$T/alone.log"
	ALONE=$LAST_PID
	# Member 1 must be the one that judges (the leader), or its cost would
	# leave the judging out: when member 2 leads, it leaves (its lease is
	# revoked at a clean stop) and member 1 takes over.
	leader_is() { [ "$("$WEIRCTL" -s "$T/w1.sock" show fleet | awk '$3 == "leader" { print $1 }')" = "$1" ]; }
	for _ in $(seq 100); do leader_is weir-1 || leader_is weir-2 && break; sleep 0.1; done
	if ! leader_is weir-1; then
		note "member 2 leads: stopping it, so that member 1 judges"
		stop_pid "${WPID[2]}" 5
		for _ in $(seq 150); do leader_is weir-1 && break; sleep 0.1; done
		leader_is weir-1 || die "member 1 does not lead (see $T/weir1.log)"
	fi
	"$WEIRCTL" -s "$T/w1.sock" set weight canary 10 >/dev/null
	"$WEIRCTL" -s "$T/alone.sock" set weight canary 10 >/dev/null
	# The two proxies under test on CPU 1 (each measured alone: the other
	# idles), everything else (etcd, member 2, the backends, wrk) on CPU 0, as
	# in compare.sh: the proxy's own CPU time per request is then the number
	# that tells a cost of the cluster group from noise.
	# MAIN_CPU: where each proxy's main thread (admin, guard, fleet: the
	# control side) runs; its workers stay on PROXY_CPU.
	pin_cpus
	MAIN_CPU=${MAIN_CPU:-$PROXY_CPU}
	if [ "$NCPU" -ge 2 ]; then
		for p in "${PIDS[@]}"; do taskset -a -p -c "$LOAD_CPU" "$p" >/dev/null 2>&1 || true; done
		for p in "${WPID[1]}" "$ALONE"; do
			taskset -a -p -c "$PROXY_CPU" "$p" >/dev/null || die "cannot pin $p"
			taskset -p -c "$MAIN_CPU" "$p" >/dev/null || die "cannot pin $p's main thread"
		done
	fi
	declare -A PPID_OF=([with]=${WPID[1]} [without]=$ALONE)
	if [ -n "$PROXY_QUOTA" ]; then
		cap_cpu "${WPID[1]}" with "$PROXY_QUOTA"
		cap_cpu "$ALONE" without "$PROXY_QUOTA"
		note "each proxy capped at $PROXY_QUOTA % of one core"
	fi
	CLK_TCK=$(getconf CLK_TCK)
	WRK_SCRIPT=() WRK_TAIL=()
	if [ "$PIPELINE" -gt 1 ]; then
		cat >"$T/pipeline.lua" <<'LUA'
-- PIPELINE requests written back to back on each connection
init = function(args)
	local r = {}
	for i = 1, tonumber(args[1]) do r[i] = wrk.format() end
	req = table.concat(r)
end
request = function() return req end
LUA
		WRK_SCRIPT=(-s "$T/pipeline.lua") WRK_TAIL=(-- "$PIPELINE")
	fi
	: >"$T/with"; : >"$T/without"; : >"$T/with.us"; : >"$T/without.us"
	# Warm-up: each proxy's first seconds of load (connections to the
	# backends, allocator caches, the leader's first judgements) are not
	# measured.
	for port in "${PX[1]}" "${PX[3]}"; do
		"${PIN_LOAD[@]}" wrk -t1 -c50 -d2s "${WRK_SCRIPT[@]}" "http://127.0.0.1:$port/" \
			"${WRK_TAIL[@]}" >/dev/null 2>&1 || die "wrk failed in the warm-up"
	done
	for r in $(seq "$RUNS"); do
		for which in with without; do
			port=${PX[1]}
			[[ $which == without ]] && port=${PX[3]}
			read -r _ t0 <<<"$(proc_ticks "${PPID_OF[$which]}")"
			read -r lb0 _ _ lt0 _ <<<"$(core_ticks "$LOAD_CPU")"
			"${PIN_LOAD[@]}" wrk -t1 -c50 -d"${SECONDS_EACH}s" "${WRK_SCRIPT[@]}" "http://127.0.0.1:$port/" \
				"${WRK_TAIL[@]}" >"$T/wrk.out" 2>&1 ||
				die "wrk failed against the $which-cluster proxy"
			read -r _ t1 <<<"$(proc_ticks "${PPID_OF[$which]}")"
			read -r lb1 _ _ lt1 _ <<<"$(core_ticks "$LOAD_CPU")"
			load=$(awk -v b=$((lb1 - lb0)) -v t=$((lt1 - lt0)) 'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }')
			rps=$(awk '/^Requests\/sec/ { print $2 }' "$T/wrk.out")
			n=$(awk '/ requests in / { print $1 }' "$T/wrk.out")
			us=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.2f", n ? 1e6 * t / hz / n : 0 }')
			echo "$rps" >>"$T/$which"
			echo "$us" >>"$T/$which.us"
			note "run $r $which cluster: $rps req/s, $us us of the proxy's CPU per request, load core $load % busy"
		done
	done
	# Each run's pair (with, then without, a few seconds apart) shares the
	# host's phase; the median of the pairs' ratios is the steadier number
	# on a host whose speed drifts by more than the effect.
	pair_ratio=$(paste "$T/with" "$T/without" | awk '{ printf "%.4f\n", $1 / $2 }' | median "%.3f")
	pair_cpu=$(paste "$T/with.us" "$T/without.us" | awk '{ printf "%.4f\n", $1 / $2 }' | median "%.3f")
	w=$(median "%.1f" <"$T/with"); wo=$(median "%.1f" <"$T/without")
	wu=$(median "%.2f" <"$T/with.us"); wou=$(median "%.2f" <"$T/without.us")
	echo "requests/s, median of $RUNS: with cluster $w, without $wo, ratio $(awk -v a="$w" -v b="$wo" 'BEGIN { printf "%.3f", a / b }')"
	echo "proxy CPU per request (us), median of $RUNS: with cluster $wu, without $wou, ratio $(awk -v a="$wu" -v b="$wou" 'BEGIN { printf "%.3f", a / b }')"
	echo "median of the $RUNS runs' own ratios: requests/s $pair_ratio, proxy CPU per request $pair_cpu"
	exit 0
fi

note "$CHANGES set weight commands on member 1"
: >"$T/rtt"
for n in $(seq "$CHANGES"); do
	pct=$(((n % 99) + 1))
	t0=$(now_ms)
	"$WEIRCTL" -s "$T/w1.sock" set weight canary "$pct" >/dev/null || die "set weight $pct failed"
	echo $(($(now_ms) - t0)) >>"$T/rtt"
done
sleep 1

python3 - "$T/rtt" "$T/events1.log" "$T/events2.log" "$T/events3.log" <<'PY'
import datetime, json, sys

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]

def times(path):
    out = []
    for line in open(path):
        e = json.loads(line)
        if e.get("action") == "set_weight" and e.get("actor") == "control":
            out.append(datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ"))
    return out

rtt = [float(x) for x in open(sys.argv[1])]
t1 = times(sys.argv[2])
lags = []
for path in sys.argv[3:]:
    other = times(path)
    if len(other) != len(t1):
        sys.exit("fleet.sh: %s has %d changes, member 1 %d" % (path, len(other), len(t1)))
    lags += [(b - a).total_seconds() * 1000 for a, b in zip(t1, other)]
print("changes: %d" % len(t1))
print("set weight round trip (ms): p50 %.1f  p99 %.1f  max %.1f" % (pct(rtt, 50), pct(rtt, 99), max(rtt)))
print("apply lag, members 2 and 3 after member 1 (ms): p50 %.1f  p99 %.1f  max %.1f"
      % (pct(lags, 50), pct(lags, 99), max(lags)))
PY
