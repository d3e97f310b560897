#!/bin/bash
# bench/h2.sh: weir against HAProxy as an HTTP/2 front to HTTP/1.1 backends.
#
# Two nginx backends (baseline, canary) behind two proxies that take HTTP/2
# with prior knowledge (h2c) and speak HTTP/1.1 with keep-alive to the
# backends, splitting 90/10: weir (one worker, canary_weight 10) and
# HAProxy 2.6 (nbthread 1, "proto h2" on the bind line, server weights 90/10).
# The proxy under test is pinned to PROXY_CPU; h2load and the backends share
# LOAD_CPU, as in compare.sh.
#
# For every body (3 B "ok\n" at /, 64 KiB at /64k) and repetition, h2load runs
# -c CONNS -m STREAMS for DURATION against each proxy, the order alternating
# every repetition. Each run prints streams/s, the p99 of the streams'
# response times (from h2load's per-request log), the proxy's CPU use and its
# CPU time per stream; then the medians and weir's ratios to HAProxy. A run
# with a failed stream or a status other than 2xx stops the script.
#
# PROFILE=perf adds one more run per body and proxy under
# `perf stat -e 'syscalls:sys_enter_*'` and prints the syscalls per stream
# (the ten most frequent).
#
# Usage (from the build directory, or with WEIR= set):
#   bench/h2.sh                               # about 3 minutes with the defaults
#   DURATION=5 REPEATS=1 bench/h2.sh          # a quick look
#   BODIES=64k PROFILE=perf bench/h2.sh
#
# Settings (environment):
#   WEIR=PATH        weir binary (default: ./src/weir, else next to this script)
#   BODIES="3 64k"   response bodies: 3 (bytes, at /) and/or 64k (at /64k)
#   CONNS=50         h2load connections (-c)
#   STREAMS=10       concurrent streams per connection (-m)
#   DURATION=10      seconds of one measured run (h2load -D), after a 1-s warm-up
#   REPEATS=3        measured runs per proxy and body
#   PROXY_CPU=1      CPU of the proxy under test; LOAD_CPU=0 for h2load and backends
#   PROFILE=         "perf" for syscalls per stream
#   KEEP_TMP=0       1 keeps the scratch directory
#
# Everything listens on 127.0.0.1 on ports the kernel hands out; every process
# is started by this script and stopped on exit. Requires h2load
# (nghttp2-client), haproxy, nginx (nginx-light), curl, python3, taskset.
set -euo pipefail

PROG=h2.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

BACKEND=nginx
BODIES=${BODIES:-3 64k}
CONNS=${CONNS:-50}
STREAMS=${STREAMS:-10}
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-3}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROFILE=${PROFILE:-}
KEEP_TMP=${KEEP_TMP:-0}

WEIR=$(find_bin weir "${WEIR:-}" ./src/weir "$BENCH_DIR/../src/weir")
need_tools h2load haproxy nginx curl python3 taskset
need_posint CONNS STREAMS DURATION REPEATS
for b in $BODIES; do
	case $b in 3 | 64k) ;; *) die "BODIES holds 3 and/or 64k (got $b)" ;; esac
done
case $PROFILE in '' | perf) ;; *) die "PROFILE must be empty or perf (got $PROFILE)" ;; esac
[ -z "$PROFILE" ] || need_tools perf
pin_cpus

echo "== $("$WEIR" -V) ($WEIR)"
echo "== $(haproxy -v 2>/dev/null | head -1 || true); $(nginx -v 2>&1 || true); $(h2load --version 2>&1 | head -1 || true)"
echo "== $NCPU CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"

# ---- scratch directory and cleanup ------------------------------------------
make_tmp weir-bench-h2
cleanup_on_exit

read -r P_BASE P_CANARY P_WEIR P_WEIR_ADMIN P_HAPROXY <<<"$(free_ports 5)"
mkdir -p "$T/www"
head -c 65536 /dev/urandom >"$T/www/64k"
chmod 755 "$T" "$T/www" && chmod 644 "$T/www/64k"	# nginx workers run as nobody

# ---- backends -----------------------------------------------------------------
start_backend baseline "$P_BASE"
PID_BASE=$LAST_PID
start_backend canary "$P_CANARY"
PID_CANARY=$LAST_PID
wait_200 baseline "http://127.0.0.1:$P_BASE/" "$PID_BASE"
wait_200 canary "http://127.0.0.1:$P_CANARY/" "$PID_CANARY"
got=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$P_BASE/64k")
[ "$got" = "200 65536" ] || die "the backend's /64k answered '$got', not '200 65536'"

# ---- proxies --------------------------------------------------------------------
cat >"$T/weir.conf" <<EOF
listen = ( { address = "127.0.0.1:$P_WEIR"; protocols = ( "h2c" ); } );
workers = 1;
admin = { http = "127.0.0.1:$P_WEIR_ADMIN"; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:$P_BASE" ); };
  canary   = { servers = ( "127.0.0.1:$P_CANARY" ); };
};
split = { canary_weight = 10.0; };
limits = { h2_max_streams = 100; };
state_file = "";
event_log = "";
EOF
"$WEIR" -t -c "$T/weir.conf" >/dev/null || die "weir rejects $T/weir.conf"
start "$T/weir.log" "${PIN_PROXY[@]}" "$WEIR" -c "$T/weir.conf"
PID_WEIR=$LAST_PID

# The same work for HAProxy: h2 with prior knowledge in front, keep-alive to
# the servers with any idle connection reusable, 90/10 by weight, and the
# forwarded headers weir sets.
{
	haproxy_head
	haproxy_split "$P_HAPROXY" "$P_BASE" "$P_CANARY" proto h2
} >"$T/haproxy.cfg"
haproxy -c -q -f "$T/haproxy.cfg" || die "haproxy rejects $T/haproxy.cfg"
start "$T/haproxy.log" "${PIN_PROXY[@]}" haproxy -db -f "$T/haproxy.cfg"
PID_HAPROXY=$LAST_PID

declare -A URL=([weir]="http://127.0.0.1:$P_WEIR" [haproxy]="http://127.0.0.1:$P_HAPROXY")
declare -A PID=([weir]=$PID_WEIR [haproxy]=$PID_HAPROXY)
for p in weir haproxy; do
	wait_port "${URL[$p]##*:}" "${PID[$p]}" "$T/$p.log"
	code=$(curl -s --noproxy '*' --http2-prior-knowledge -o /dev/null -w '%{http_code} %{http_version}' \
		"${URL[$p]}/" || true)
	[ "$code" = "200 2" ] || die "$p does not answer h2c with 200 (got '$code'; log $T/$p.log)"
done

# ---- measuring ----------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
path_of() { [ "$1" = 64k ] && echo /64k || echo /; }

# h2load_run PROXY BODY OUT: one h2load run; its report in OUT.txt, its
# per-request log in OUT.log; dies on a failed or non-2xx stream
h2load_run() {
	local p=$1 body=$2 out=$3 bad
	rm -f "$out.log" # h2load appends to its log
	"${PIN_LOAD[@]}" h2load -t 1 -c "$CONNS" -m "$STREAMS" -D "$DURATION" --warm-up-time=1 \
		--log-file="$out.log" "${URL[$p]}$(path_of "$body")" >"$out.txt" 2>&1 ||
		{ cat "$out.txt" >&2; die "h2load failed against $p"; }
	# (h2load's status counts leave out the streams still open when time ran out)
	bad=$(awk '/^requests:/ {f = $10 + $12 + $14; d = $6} /^status codes:/ {s = $5 + $7 + $9}
		END {if (d == "" || d == 0) print "no stream done"; else if (f + s) print f " failed, " s " not 2xx"}' "$out.txt")
	if [ -n "$bad" ]; then
		cat "$out.txt" >&2
		die "$p, body $body: $bad"
	fi
}

# run PROXY BODY: prints "streams/s p99-ms cpu% cpu-us-per-stream"
run() {
	local p=$1 body=$2 out=$T/h2load-$1-$2 t0 t1 s0 s1 rps p99
	read -r _ t0 <<<"$(proc_ticks "${PID[$p]}")"
	s0=$(date +%s%N)
	h2load_run "$p" "$body" "$out"
	s1=$(date +%s%N)
	read -r _ t1 <<<"$(proc_ticks "${PID[$p]}")"
	# The log holds the measured streams only, the CPU ticks the warm-up
	# second too: the cost per stream is the CPU share over streams/s.
	rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$out.txt")
	p99=$(awk -F'\t' '$2 > 0 {print $3}' "$out.log" | sort -n |
		awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f", NR ? v[i] / 1000 : 0}')
	awk -v r="$rps" -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v ns=$((s1 - s0)) -v p99="$p99" \
		'BEGIN { u = t / hz / (ns / 1e9); printf "%.0f %s %.0f %.1f\n", r, p99, 100 * u, r ? 1e6 * u / r : 0 }'
}

# syscalls PROXY BODY: a profiled run; the syscalls per stream, most first
syscalls() {
	local p=$1 body=$2 out=$T/perf-$1-$2 n
	perf stat -x, -e 'syscalls:sys_enter_*' -p "${PID[$p]}" -o "$out.perf" -- \
		sleep $((DURATION + 1)) &
	local perf_pid=$!
	h2load_run "$p" "$body" "$out"
	wait "$perf_pid" || true
	# perf counts from when it is attached (setting up hundreds of
	# tracepoints takes a second or two) for $4 ns: streams = rate x that
	n=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$out.txt")
	awk -F, -v r="$n" '$1 ~ /^[0-9]+$/ && $1 > 0 && $4 > 0 {sub("syscalls:sys_enter_", "", $3); printf "%.2f %s\n", $1 / (r * $4 / 1e9), $3}' \
		"$out.perf" | sort -rn | head -n 10 | awk -v p="$p" '{printf "   %-8s %8s %s\n", p, $1, $2}'
}

echo "== weir vs HAProxy 2.6, h2c front, HTTP/1.1 backends 90/10:" \
	"h2load -c $CONNS -m $STREAMS, ${DURATION}-s runs, proxy on CPU $PROXY_CPU"
for p in weir haproxy; do
	h2load_run "$p" 3 "$T/warm-$p" # a short warm-up of each, not recorded
done 2>/dev/null
declare -A RPS=() P99=() COST=()
for body in $BODIES; do
	for ((r = 1; r <= REPEATS; r++)); do
		order="weir haproxy"
		((r % 2 == 0)) && order="haproxy weir"
		for p in $order; do
			read -r rps p99 cpu cost <<<"$(run "$p" "$body")"
			printf '   body %-4s %-8s run %d: %8s streams/s  p99 %7s ms  proxy CPU %3s%%  %6s us/stream\n' \
				"$body" "$p" "$r" "$rps" "$p99" "$cpu" "$cost"
			RPS[$body-$p]="${RPS[$body-$p]:-} $rps"
			P99[$body-$p]="${P99[$body-$p]:-} $p99"
			COST[$body-$p]="${COST[$body-$p]:-} $cost"
		done
	done
done
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
echo "== medians"
for body in $BODIES; do
	awk -v b="$body" -v w="$(med "${RPS[$body-weir]}")" -v h="$(med "${RPS[$body-haproxy]}")" \
		-v wp="$(med "${P99[$body-weir]}")" -v hp="$(med "${P99[$body-haproxy]}")" \
		-v wc="$(med "${COST[$body-weir]}")" -v hc="$(med "${COST[$body-haproxy]}")" 'BEGIN {
		printf "   body %-4s streams/s weir %8.0f  haproxy %8.0f  weir/haproxy %.2f\n", b, w, h, h ? w / h : 0
		printf "   body %-4s p99 ms    weir %8.1f  haproxy %8.1f\n", b, wp, hp
		printf "   body %-4s us/stream weir %8.1f  haproxy %8.1f  weir/haproxy %.2f\n", b, wc, hc, hc ? wc / hc : 0 }'
done
if [ "$PROFILE" = perf ]; then
	echo "== syscalls per stream (perf stat over one more run of each)"
	for body in $BODIES; do
		echo "   body $body"
		for p in weir haproxy; do syscalls "$p" "$body"; done
	done
fi
