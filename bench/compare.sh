#!/bin/bash
# bench/compare.sh: weir against HAProxy and nginx as a 90/10 canary splitter.
#
# The same two backends (baseline and canary) sit behind each proxy: weir with
# split.canary_weight = 10, HAProxy 2.6 with two servers weighted 90/10, nginx
# with an upstream weighted 9/1. Every proxy runs one worker (one thread) and
# keeps connections to the backends alive. wrk drives each proxy on loopback
# at each connection count; runs are interleaved (the proxy order rotates every
# repetition) and repeated, and the script prints requests/s, p50 and p99 of
# every run with the proxy's CPU time per request and the load on both cores,
# the medians, and weir's ratios to HAProxy. It checks the 90/10 split of each
# proxy and that weir's histograms recorded every request wrk saw answered.
#
# Usage (from the build directory, or with WEIR= set):
#   bench/compare.sh                      # about 4 minutes with the defaults
#                                         # (at most 2 more on a busy machine)
#   DURATION=5s REPEATS=1 bench/compare.sh
#   PROFILE=perf bench/compare.sh         # then profile weir under load
#
# Settings (environment):
#   WEIR=PATH        weir binary (default: ./src/weir, else next to this script)
#   DEMO_BACKEND=PATH  contrib/weir-demo-backend (only for BACKEND=demo)
#   BACKEND=nginx    "nginx": two nginx instances answering `return 200` (fast);
#                    "demo": two weir-demo-backend processes (libevent evhttp)
#   PROXIES="weir haproxy nginx"   which proxies to measure
#   WEIR_ALT="LABEL=PATH ..."  more weir binaries (a patched build, say), measured
#                    interleaved with the others as "weir-LABEL"
#   CONNS="50 400"   wrk connection counts; "N:64k" is N connections asking
#                    for a 64 KiB body (nginx backends only), "N:tls" N
#                    keep-alive HTTPS connections (each proxy then has an
#                    HTTPS listener too: RSA-2048, TLS 1.3 with wrk),
#                    "N:tls64k" the same asking for the 64 KiB body, e.g.
#                    CONNS="50 400 50:64k 400:64k 50:tls 50:tls64k"
#   DURATION=10s     length of one measured run (wrk -d)
#   REPEATS=3        measured runs per proxy and connection count
#   WARMUP=3s        one unrecorded run per proxy before measuring (0 to skip)
#   WRK_THREADS=1    wrk threads (they share LOAD_CPU with the backends)
#   PROXY_CPU=1      CPU the proxy under test is pinned to (taskset -c)
#   PROXY_QUOTA=P    also cap each proxy at P % of one core (1-100; a cgroup,
#                    needs root): wrk and two nginx backends share one core
#                    and saturate it before an efficient proxy saturates its
#                    own, and then the load side's number is measured; under
#                    a cap below that point each proxy is the bottleneck, and
#                    requests/s compare what each does with the same CPU
#   LOAD_CPU=0       CPU wrk (and, by default, the backends) is pinned to
#   BACKEND_CPU=LOAD_CPU  CPU the backends are pinned to. Issue 12's own
#                    method puts the backends beside the proxy and wrk alone:
#                    PROXY_CPU=0 BACKEND_CPU=0 LOAD_CPU=1. Then the proxy and
#                    the backends share a core, the run is bound by that core
#                    rather than by wrk, and what the proxy spends per request
#                    shows in requests/s (the default gives each proxy a core
#                    of its own, where wrk and two nginx often saturate the
#                    load core first)
#   DIRECT=1         also measure wrk straight against the baseline backend,
#                    to show how much headroom the backend side has
#   PROFILE=none     "perf": then system calls per request of every proxy
#                    (perf stat on syscall tracepoints) and where the CPU goes
#                    in weir and HAProxy (perf record on cpu-clock, which
#                    works without hardware counters, e.g. in a VM);
#                    "callgrind": weir under valgrind --tool=callgrind on a
#                    short run (user space only); "both"
#   PROFILE_SECS=8   length of the perf profile run
#   RETRIES=2        a run during which something else used more than
#   MAX_OTHER=10     MAX_OTHER percent of either core (other jobs on a shared
#                    machine) or the hypervisor stole that much, is run again
#                    up to RETRIES times; if it stays disturbed it is kept and
#                    marked '*'
#   QUIET_WAIT=30    before each run, wait up to this many seconds for both
#                    cores to be idle (<= MAX_OTHER percent busy) for a second
#   EXTRA_BUDGET=120 seconds that waiting and repeating may add in all, so the
#                    run stays bounded on a busy machine (then runs are kept,
#                    marked '*')
#   RESULTS=FILE     also write the raw per-run rows there (tab separated)
#   KEEP_TMP=0       1 keeps the scratch directory (configs, logs, profiles)
#
# Everything listens on 127.0.0.1 on ports the kernel hands out; every server
# is started by this script and stopped on exit, whatever the exit path.
# Requires: wrk, haproxy, nginx, curl, python3, taskset; openssl for "N:tls"
# rows; perf or valgrind for PROFILE.
set -euo pipefail

PROG=compare.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

BACKEND=${BACKEND:-nginx}
PROXIES=${PROXIES:-weir haproxy nginx}
CONNS=${CONNS:-50 400}
DURATION=${DURATION:-10s}
REPEATS=${REPEATS:-3}
WARMUP=${WARMUP:-3s}
WRK_THREADS=${WRK_THREADS:-1}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
DIRECT=${DIRECT:-1}
PROFILE=${PROFILE:-none}
PROFILE_SECS=${PROFILE_SECS:-8}
KEEP_TMP=${KEEP_TMP:-0}
RESULTS=${RESULTS:-}
RETRIES=${RETRIES:-2}
MAX_OTHER=${MAX_OTHER:-10}
QUIET_WAIT=${QUIET_WAIT:-30}
EXTRA_BUDGET=${EXTRA_BUDGET:-120}
EXTRA_USED=0

WEIR=$(find_bin weir "${WEIR:-}" ./src/weir "$BENCH_DIR/../src/weir")
if [ "$BACKEND" = demo ]; then
	DEMO_BACKEND=$(find_bin weir-demo-backend "${DEMO_BACKEND:-}" ./contrib/weir-demo-backend \
		"$BENCH_DIR/../contrib/weir-demo-backend")
elif [ "$BACKEND" != nginx ]; then
	die "BACKEND must be nginx or demo (got $BACKEND)"
fi
need_tools wrk curl python3 taskset
# Other weir binaries to measure alongside, as proxies "weir-LABEL".
declare -A WEIR_BIN=()
for p in $PROXIES; do
	case $p in
	weir) WEIR_BIN[weir]=$WEIR ;;
	haproxy) command -v haproxy >/dev/null || die "haproxy is not installed (apt-get install haproxy)" ;;
	nginx) ;;
	*) die "unknown proxy $p (known: weir haproxy nginx; variants through WEIR_ALT)" ;;
	esac
done
for alt in ${WEIR_ALT:-}; do
	label=${alt%%=*} bin=${alt#*=}
	[[ "$alt" == *=* && "$label" =~ ^[A-Za-z0-9_]+$ ]] || die "WEIR_ALT entries are LABEL=PATH (got $alt)"
	[ -x "$bin" ] || die "WEIR_ALT: $bin is not executable"
	WEIR_BIN[weir-$label]=$bin
	PROXIES="$PROXIES weir-$label"
done
if [ "$BACKEND" = nginx ] || [[ " $PROXIES " == *" nginx "* ]]; then
	command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx-light)"
fi
need_posint REPEATS
PROXY_QUOTA=${PROXY_QUOTA:-}
if [ -n "$PROXY_QUOTA" ]; then
	need_posint PROXY_QUOTA
	[ "$PROXY_QUOTA" -le 100 ] || die "PROXY_QUOTA is a percentage of one core: 1-100"
fi
for c in $CONNS; do
	[[ $c =~ ^[0-9]+(:64k|:tls|:tls64k)?$ ]] || die "CONNS holds N, N:64k, N:tls or N:tls64k (got $c)"
done
TLS_ROWS=0
[[ " $CONNS " == *:tls* ]] && TLS_ROWS=1 && need_tools openssl
case $PROFILE in none | perf | callgrind | both) ;; *) die "PROFILE must be none, perf, callgrind or both" ;; esac

pin_cpus

echo "== $("$WEIR" -V) ($WEIR)$(for a in ${WEIR_ALT:-}; do printf ', %s: %s' "${a%%=*}" "$("${a#*=}" -V)"; done)"
echo "== $(haproxy -v 2>/dev/null | head -1 || true); $(nginx -v 2>&1 || true); $(wrk -v 2>&1 | head -1 || true)"
echo "== $NCPU CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"

# ---- scratch directory and cleanup ------------------------------------------
make_tmp weir-compare
cleanup_on_exit

declare -A PORT=() ADMIN=() TLS_PORT=() PROXY_PID=()
nproxies=$(wc -w <<<"$PROXIES")
read -ra ports <<<"$(free_ports $((2 + 3 * nproxies)))"
P_BASE=${ports[0]} P_CANARY=${ports[1]}
i=2
for p in $PROXIES; do
	PORT[$p]=${ports[$i]} ADMIN[$p]=${ports[$((i + 1))]} TLS_PORT[$p]=${ports[$((i + 2))]}
	i=$((i + 3))
done
[ "$TLS_ROWS" = 0 ] || make_certs rsa
mkdir -p "$T/nginx-tmp" "$T/www"
head -c 65536 /dev/urandom >"$T/www/64k"	# the 64 KiB body of the "N:64k" rows
# nginx workers run as nobody when started as root: they must reach the file.
chmod 755 "$T" "$T/www" && chmod 644 "$T/www/64k"

# ---- backends -------------------------------------------------------------------
# nginx backends answer "ok" with an X-Backend header (lib.sh: start_backend).
for be in baseline:$P_BASE canary:$P_CANARY; do
	name=${be%%:*} port=${be#*:}
	start_backend "$name" "$port"
	eval "PID_be_$name=$LAST_PID"
done
wait_200 baseline "http://127.0.0.1:$P_BASE/" "$PID_be_baseline"
wait_200 canary "http://127.0.0.1:$P_CANARY/" "$PID_be_canary"
if [[ $CONNS == *64k* ]]; then
	got=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$P_BASE/64k")
	[ "$got" = "200 65536" ] || die "the backend's /64k answered '$got', not '200 65536'"
fi
LOAD_PIDS="$PID_be_baseline $PID_be_canary"
if [ "$BACKEND" = nginx ]; then # the workers do the work; the masters sleep
	LOAD_PIDS="$LOAD_PIDS $(pgrep -P "$PID_be_baseline" | tr '\n' ' ') $(pgrep -P "$PID_be_canary" | tr '\n' ' ')"
fi

# ---- proxies ----------------------------------------------------------------------
weir_conf() {	# PORT ADMIN_PORT TLS_PORT
	local tls=
	[ "$TLS_ROWS" = 0 ] ||
		tls=", { address = \"127.0.0.1:$3\"; tls = { certificate = \"$T/chain.pem\"; key = \"$T/leaf.key\"; }; }"
	cat <<EOF
listen = ( "127.0.0.1:$1"$tls );
workers = 1;
admin = { http = "127.0.0.1:$2"; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:$P_BASE" ); };
  canary   = { servers = ( "127.0.0.1:$P_CANARY" ); };
};
split = { canary_weight = 10.0; };
state_file = "";
event_log = "";
EOF
}

# One thread; keep-alive to the servers with any idle connection reusable by
# any request (http-reuse always); 90/10 (lib.sh: haproxy_split).
haproxy_conf() {	# PORT TLS_PORT
	if [ "$TLS_ROWS" = 0 ]; then
		haproxy_head
		haproxy_split "$1" "$P_BASE" "$P_CANARY"
		return
	fi
	haproxy_head "${HAPROXY_TLS_GLOBAL[@]}"
	haproxy_split "$1" "$P_BASE" "$P_CANARY"
	printf 'frontend fe_tls\n  bind 127.0.0.1:%s ssl crt %s alpn http/1.1\n  default_backend pools\n' \
		"$2" "$T/haproxy.pem"
}

# One worker; upstream weighted 9/1 (smooth weighted round robin) with up to 64
# idle keep-alive connections cached; HTTP/1.1 and no Connection header upstream.
nginx_proxy_conf() {	# PORT TLS_PORT
	local tls=
	[ "$TLS_ROWS" = 0 ] ||
		tls="listen 127.0.0.1:$2 ssl backlog=4096; ssl_certificate $T/chain.pem; ssl_certificate_key $T/leaf.key;"
	cat <<EOF
worker_processes 1;
daemon off;
pid $T/nginx-proxy.pid;
error_log $T/nginx-proxy.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path $T/nginx-tmp/proxy-body;
  proxy_temp_path $T/nginx-tmp/proxy-temp;
  upstream pools {
    server 127.0.0.1:$P_BASE weight=9;
    server 127.0.0.1:$P_CANARY weight=1;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$1 backlog=4096;
    $tls
    location / {
      proxy_pass http://pools;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
EOF
}

proxy_url() { echo "http://127.0.0.1:${PORT[$1]}/"; }
# row_url PROXY CONNS: where a row's requests go: the HTTPS listener for an
# "N:tls" or "N:tls64k" row, the plain one otherwise (run_wrk adds an
# "N:64k" or "N:tls64k" row's path).
row_url() {
	if [[ $2 == *:tls* ]]; then echo "https://127.0.0.1:${TLS_PORT[$1]}/"; else proxy_url "$1"; fi
}
proxy_pid() { echo "${PROXY_PID[$1]}"; } # the process doing the work

for p in $PROXIES; do
	name=${p//-/_}
	case $p in
	weir*)
		weir_conf "${PORT[$p]}" "${ADMIN[$p]}" "${TLS_PORT[$p]}" >"$T/$name.conf"
		"${WEIR_BIN[$p]}" -t -c "$T/$name.conf" >/dev/null || die "$p rejects $T/$name.conf"
		start "$T/$name.log" "${PIN_PROXY[@]}" "${WEIR_BIN[$p]}" -c "$T/$name.conf"
		wait_200 "$name" "http://127.0.0.1:${ADMIN[$p]}/healthz" "$LAST_PID"
		;;
	haproxy)
		haproxy_conf "${PORT[$p]}" "${TLS_PORT[$p]}" >"$T/haproxy.cfg"
		haproxy -c -q -f "$T/haproxy.cfg" || die "haproxy rejects $T/haproxy.cfg"
		start "$T/haproxy.log" "${PIN_PROXY[@]}" haproxy -db -f "$T/haproxy.cfg"
		;;
	nginx)
		nginx_proxy_conf "${PORT[$p]}" "${TLS_PORT[$p]}" >"$T/nginx-proxy.conf"
		start "$T/nginx.log" "${PIN_PROXY[@]}" nginx -e "$T/nginx-proxy.err" -p "$T" -c "$T/nginx-proxy.conf"
		;;
	esac
	PROXY_PID[$p]=$LAST_PID
	wait_200 "$name" "$(proxy_url "$p")" "${PROXY_PID[$p]}"
	[ "$TLS_ROWS" = 0 ] || wait_200 "$name" "$(row_url "$p" 1:tls)" "${PROXY_PID[$p]}" --cacert "$T/ca.pem"
	# nginx: measure the worker, not the master (it exists once nginx answers)
	[ "$p" = nginx ] && PROXY_PID[$p]=$(pgrep -P "$LAST_PID" | head -1)
	[ -z "$PROXY_QUOTA" ] || cap_cpu "${PROXY_PID[$p]}" "$name" "$PROXY_QUOTA"
done
[ -z "$PROXY_QUOTA" ] || echo "== each proxy capped at $PROXY_QUOTA % of one core (cgroup)"

# ---- checks before measuring --------------------------------------------------------
# The split: 1000 requests on one keep-alive connection, counted by X-Backend.
echo "== split check (1000 requests through each proxy, by backend)"
for p in $PROXIES; do
	out=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code} %header{x-backend}\n' "$(proxy_url "$p")split/[1-1000]")
	bad=$(grep -vc '^200 ' <<<"$out" || true)
	[ "$bad" = 0 ] || die "$p: $bad of 1000 requests did not answer 200"
	n_canary=$(grep -c ' canary$' <<<"$out" || true)
	printf '   %-10s canary %4d / 1000 (%.1f%%)\n' "$p" "$n_canary" "$(awk -v n="$n_canary" 'BEGIN {print n / 10}')"
	[ "$n_canary" -ge 50 ] && [ "$n_canary" -le 150 ] ||
		die "$p sends $n_canary of 1000 requests to the canary, not about 100: check its weights"
done

# ---- measuring -------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
to_ms() {	# wrk's "1.23ms" / "456.00us" / "1.02s" / "2.00m" as milliseconds
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		else if (u == "h") n *= 3600000
		printf "%.3f", n }'
}
weir_recorded() {	# PROXY: requests in its histograms since start, and the canary's
	curl -s --noproxy '*' -m 5 "http://127.0.0.1:${ADMIN[$1]}/stats.json" | python3 -c '
import json, sys
p = json.load(sys.stdin)["pools"]
print(p["baseline"]["total"]["requests"] + p["canary"]["total"]["requests"], p["canary"]["total"]["requests"])'
}

# run_wrk URL CONNS DURATION OUTFILE: CONNS "N" (and "N:tls", whose URL is
# the HTTPS one: row_url) asks for URL, "N:64k" (and "N:tls64k") for
# URL + /64k.
run_wrk() {
	local url=$1 conns=${2%%:*}
	[[ $2 == *64k ]] && url=${1%/}/64k
	"${PIN_LOAD[@]}" wrk -t"$WRK_THREADS" -c"$conns" -d"$3" --latency "$url" >"$4" 2>&1 ||
		{ cat "$4" >&2; die "wrk failed against $url"; }
}

ROWS=$T/rows.tsv
: >"$ROWS"
FAILED_CHECKS=0
HIST=$T/histcheck.txt
: >"$HIST"

# CPU accounting, to tell a proxy-bound run from one disturbed by something
# else on the machine. All counts are in USER_HZ ticks.
# User CPU of this shell's reaped children (wrk), from the output of the
# `times` builtin. Call `times >FILE` in this shell itself: in a $(...)
# subshell it would report the subshell's children.
children_uticks() {	# FILE
	awk -v hz="$CLK_TCK" 'NR == 2 {split($1, a, /[ms]/); printf "%.0f", (a[1] * 60 + a[2]) * hz}' "$1"
}
pct() { awk -v n="$1" -v d="$2" 'BEGIN {v = d ? 100 * n / d : 0; if (v < 0) v = 0; printf "%.0f", v}'; }

# measure PROXY CONNS RUN: one run, one row in $ROWS. A run during which
# something else used one of the two cores is run again (up to RETRIES times).
measure() {
	local p=$1 c=$2 run=$3 try
	local t0
	for ((try = 0; ; try++)); do
		t0=$SECONDS
		measure_once "$p" "$c" "$run" "$try"
		[ "$CONTENDED" = 0 ] && break
		if [ "$try" -ge "$RETRIES" ] || [ "$EXTRA_USED" -ge "$EXTRA_BUDGET" ]; then
			note "WARNING: $p c=$c run $run: the machine was busy with other work; kept, marked '*'"
			break
		fi
		EXTRA_USED=$((EXTRA_USED + SECONDS - t0))
		note "$p c=$c run $run: other work on the cores (proxy core $OTHER_P%, load core $OTHER_L%, steal $STEAL%); again"
	done
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$c" "$run" "$RPS" "$P50" "$P99" \
		"$ERRS" "$PCPU" "$SI" "$OTHER_P" "$LBUSY" "$OTHER_L" "$NREQ$([ "$CONTENDED" = 1 ] && echo '*')" "$USPR" >>"$ROWS"
	if [ "$ERRS" != 0 ]; then
		note "WARNING: $p at $c connections: $ERRS errors (see $T/wrk-$p-$c-$run.txt)"
		FAILED_CHECKS=$((FAILED_CHECKS + 1))
	fi
	if [[ "$p" == weir* ]]; then
		echo "$p $c $run $W_RECORDED $NREQ" >>"$HIST"
	fi
}

# Before a run, wait (at most QUIET_WAIT seconds) until both cores have been
# nearly idle for a second: on a shared machine other jobs come and go.
wait_quiet() {
	local waited=0 a0 b0 a1 b1 x y busy
	while :; do
		read -r a0 _ _ b0 _ <<<"$(core_ticks "$PROXY_CPU")"
		read -r x _ _ y _ <<<"$(core_ticks "$LOAD_CPU")"
		sleep 1
		read -r a1 _ _ b1 _ <<<"$(core_ticks "$PROXY_CPU")"
		busy=$(pct $((a1 - a0)) $((b1 - b0)))
		read -r a1 _ _ b1 _ <<<"$(core_ticks "$LOAD_CPU")"
		[ "$(pct $((a1 - x)) $((b1 - y)))" -gt "$busy" ] && busy=$(pct $((a1 - x)) $((b1 - y)))
		[ "$busy" -le "$MAX_OTHER" ] && return 0
		waited=$((waited + 1))
		EXTRA_USED=$((EXTRA_USED + 1))
		if [ "$waited" -ge "$QUIET_WAIT" ] || [ "$EXTRA_USED" -ge "$EXTRA_BUDGET" ]; then
			note "the cores are still ${busy}% busy with other work after ${waited}s; measuring anyway"
			return 0
		fi
	done
}

measure_once() {
	local p=$1 c=$2 run=$3 try=$4 pid out w0 w1 tu0 t0 tu1 t1 ku0 ku1 x0 x1
	local busy0 si0 st0 tot0 us0 busy1 si1 st1 tot1 us1
	local lbusy0 lsi0 lst0 ltot0 lus0 lbusy1 lsi1 lst1 ltot1 lus1 dt ldt
	pid=$(proxy_pid "$p")
	out=$T/wrk-$p-$c-$run.txt
	wait_quiet
	[[ "$p" == weir* ]] && read -r w0 _ <<<"$(weir_recorded "$p")"
	read -r tu0 t0 <<<"$(proc_ticks "$pid")"
	read -r ku0 _ <<<"$(proc_ticks $LOAD_PIDS)"
	times >"$T/times.0"
	read -r busy0 si0 st0 tot0 us0 <<<"$(core_ticks "$PROXY_CPU")"
	read -r lbusy0 lsi0 lst0 ltot0 lus0 <<<"$(core_ticks "$LOAD_CPU")"
	run_wrk "$(row_url "$p" "$c")" "$c" "$DURATION" "$out"
	read -r busy1 si1 st1 tot1 us1 <<<"$(core_ticks "$PROXY_CPU")"
	read -r lbusy1 lsi1 lst1 ltot1 lus1 <<<"$(core_ticks "$LOAD_CPU")"
	times >"$T/times.1"
	read -r tu1 t1 <<<"$(proc_ticks "$pid")"
	read -r ku1 _ <<<"$(proc_ticks $LOAD_PIDS)"
	x0=$(children_uticks "$T/times.0")
	x1=$(children_uticks "$T/times.1")
	RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
	P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
	NREQ=$(awk '/requests in/ {print $1}' "$out")
	ERRS=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
		/Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$out")
	[ -n "$RPS" ] && [ -n "$NREQ" ] || { cat "$out" >&2; die "cannot parse wrk's output ($out)"; }
	dt=$((tot1 - tot0))
	ldt=$((ltot1 - ltot0))
	# The proxy process (user + system; system includes softirq work done in
	# its context, so PCPU + SI may pass 100), the interrupt time on its core,
	# and other programs' user time on each core: builds and tests on a
	# shared machine are mostly user time, which is never double counted.
	PCPU=$(pct $((t1 - t0)) "$dt")
	# CPU time of the proxy per request: unlike requests/s, it hardly moves
	# when other programs take turns on the core.
	USPR=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$NREQ" 'BEGIN {printf "%.1f", n ? t / hz * 1e6 / n : 0}')
	SI=$(pct $((si1 - si0)) "$dt")
	# the backends' user time is theirs, on whichever core they run
	local kp=0 kl=$((ku1 - ku0))
	[ "$BACKEND_CPU" = "$PROXY_CPU" ] && kp=$kl kl=0
	OTHER_P=$(pct $((us1 - us0 - (tu1 - tu0) - kp)) "$dt")
	LBUSY=$(pct $((lbusy1 - lbusy0)) "$ldt")
	OTHER_L=$(pct $((lus1 - lus0 - kl - (x1 - x0))) "$ldt")
	STEAL=$(pct $((st1 - st0 + lst1 - lst0)) $((dt + ldt)))
	CONTENDED=0
	if [ "$OTHER_P" -gt "$MAX_OTHER" ] || [ "$OTHER_L" -gt "$MAX_OTHER" ] || [ "$STEAL" -gt "$MAX_OTHER" ]; then
		CONTENDED=1
	fi
	printf '   %-10s c=%-4s run %-2s %8.0f req/s  p50 %7.3f ms  p99 %8.3f ms  err %s  %5.1f us/req  cpu%%: proxy %3s si %2s other %2s | load core %3s other %2s%s\n' \
		"$p" "$c" "$run" "$RPS" "$P50" "$P99" "$ERRS" "$USPR" "$PCPU" "$SI" "$OTHER_P" "$LBUSY" "$OTHER_L" \
		"$([ "$CONTENDED" = 1 ] && echo '  (disturbed)')"
	if [[ "$p" == weir* ]]; then
		sleep 0.5 # weir folds its per-worker histograms into the shared ones every 200 ms
		read -r w1 _ <<<"$(weir_recorded "$p")"
		W_RECORDED=$((w1 - w0))
	fi
}

# proxies in the order for repetition R (rotated, so no proxy always goes first)
rotated() {
	local r=$1 arr i n
	read -ra arr <<<"$PROXIES"
	n=${#arr[@]}
	for ((i = 0; i < n; i++)); do
		printf '%s ' "${arr[$(((i + r) % n))]}"
	done
}

nruns=$(($(wc -w <<<"$PROXIES") * $(wc -w <<<"$CONNS") * REPEATS))
LOAD_WHAT="wrk + backends"
[ "$BACKEND_CPU" = "$LOAD_CPU" ] || LOAD_WHAT=wrk
if [ "$BACKEND_CPU" = "$LOAD_CPU" ]; then
	echo "== $nruns runs of $DURATION: proxies on CPU $PROXY_CPU, wrk ($WRK_THREADS thread(s)) and the $BACKEND backends on CPU $LOAD_CPU"
else
	echo "== $nruns runs of $DURATION: proxies on CPU $PROXY_CPU, the $BACKEND backends on CPU $BACKEND_CPU, wrk ($WRK_THREADS thread(s)) on CPU $LOAD_CPU"
fi
if [ "$DIRECT" = 1 ]; then
	echo "== backend headroom: wrk straight to the baseline backend (no proxy)"
	for c in $CONNS; do
		[[ $c == *:tls* ]] && continue # the backends speak plain HTTP
		run_wrk "http://127.0.0.1:$P_BASE/" "$c" 5s "$T/wrk-direct-$c.txt"
		printf '   direct   c=%-4s        %10.0f req/s  p99 %8.3f ms\n' "$c" \
			"$(awk '/^Requests\/sec:/ {print $2}' "$T/wrk-direct-$c.txt")" \
			"$(to_ms "$(awk '$1 == "99%" {print $2}' "$T/wrk-direct-$c.txt")")"
	done
fi
if [ "$WARMUP" != 0 ]; then
	last_c=${CONNS##* }
	for p in $PROXIES; do
		run_wrk "$(row_url "$p" "$last_c")" "$last_c" "$WARMUP" "$T/wrk-warmup-$p.txt"
	done
fi
echo "== runs (interleaved)"
for ((r = 1; r <= REPEATS; r++)); do
	for c in $CONNS; do
		for p in $(rotated "$r"); do
			measure "$p" "$c" "$r"
		done
	done
done

# ---- report -------------------------------------------------------------------------------
echo
echo "== all runs"
echo "   (cpu%: the proxy process, interrupt time on its core, other programs' user time there;"
echo "    the load core ($LOAD_WHAT) busy, other programs' user time there."
echo "    '*': disturbed by other work on the machine in every attempt)"
printf '%-10s %6s %4s %10s %9s %9s %6s %8s %6s %5s %6s %6s %6s\n' proxy conns run rps p50_ms p99_ms errors us/req proxy% si% other% load% other%
sort -t$'\t' -k2,2n -k1,1 -k3,3n "$ROWS" |
	awk -F'\t' '{printf "%-10s %6s %4s %10.0f %9.3f %9.3f %6s %8s %6s %5s %6s %6s %6s%s\n", $1, $2, $3, $4, $5, $6, $7, $14, $8, $9, $10, $11, $12, ($13 ~ /\*$/ ? " *" : "")}'

# col PROXY CONNS FIELD: that field of the undisturbed runs, or of all runs
# when every run was disturbed (then the count below says so).
col() {
	awk -F'\t' -v p="$1" -v c="$2" -v k="$3" '
		$1 == p && $2 == c {all[++n] = $k; if ($13 !~ /\*$/) clean[++m] = $k}
		END {if (m) for (i = 1; i <= m; i++) print clean[i]; else for (i = 1; i <= n; i++) print all[i]}' "$ROWS"
}
used() {	# PROXY CONNS: "runs used/runs"
	awk -F'\t' -v p="$1" -v c="$2" '$1 == p && $2 == c {n++; if ($13 !~ /\*$/) m++}
		END {printf "%d/%d", m ? m : n, n}' "$ROWS"
}

echo
echo "== medians (of the undisturbed runs; 'runs': used/measured)"
printf '%-10s %6s %5s %10s %9s %9s %21s %8s %8s\n' proxy conns runs rps p50_ms p99_ms "rps min..max" us/req proxy%
declare -A MED_RPS MED_P99 MED_US
for c in $CONNS; do
	for p in $PROXIES; do
		MED_RPS[$p.$c]=$(col "$p" "$c" 4 | median)
		MED_P99[$p.$c]=$(col "$p" "$c" 6 | median)
		MED_US[$p.$c]=$(col "$p" "$c" 14 | median)
		printf '%-10s %6s %5s %10.0f %9.3f %9.3f %10.0f..%-10.0f %8.1f %8.0f\n' "$p" "$c" "$(used "$p" "$c")" \
			"${MED_RPS[$p.$c]}" "$(col "$p" "$c" 5 | median)" "${MED_P99[$p.$c]}" \
			"$(col "$p" "$c" 4 | sort -g | head -1)" "$(col "$p" "$c" 4 | sort -g | tail -1)" \
			"${MED_US[$p.$c]}" "$(col "$p" "$c" 8 | median)"
	done
done

WEIRS=$(for p in $PROXIES; do if [[ "$p" == weir* ]]; then echo "$p"; fi; done)
for other in haproxy nginx; do
	[[ " $PROXIES " == *" $other "* ]] && [ -n "$WEIRS" ] || continue
	echo
	if [ "$other" = haproxy ]; then
		echo "== weir / haproxy (medians; target: rps ratio >= 1.00 and p99 ratio <= 1.00;"
		echo "   cpu_ratio: proxy CPU time per request, lower is better)"
	else
		echo "== weir / nginx (medians, for reference)"
	fi
	printf '%-10s %6s %10s %10s %10s %s\n' proxy conns rps_ratio p99_ratio cpu_ratio verdict
	for w in $WEIRS; do
		for c in $CONNS; do
			awk -v w="$w" -v c="$c" -v r1="${MED_RPS[$w.$c]}" -v r0="${MED_RPS[$other.$c]}" \
				-v q1="${MED_P99[$w.$c]}" -v q0="${MED_P99[$other.$c]}" -v o="$other" \
				-v u1="${MED_US[$w.$c]}" -v u0="${MED_US[$other.$c]}" 'BEGIN {
				rr = r0 ? r1 / r0 : 0; qr = q0 ? q1 / q0 : 0; ur = u0 ? u1 / u0 : 0
				v = (rr >= 1.0 && qr <= 1.0) ? "meets the target" : "below the target"
				if (rr < 1.0) v = v sprintf(": %.1f%% fewer requests/s", 100 * (1 - rr))
				if (qr > 1.0) v = v sprintf("%s p99 %.1f%% higher", (rr < 1.0 ? "," : ":"), 100 * (qr - 1))
				printf "%-10s %6s %10.3f %10.3f %10.3f %s\n", w, c, rr, qr, ur, (o == "haproxy" ? v : "")
			}'
		done
	done
done
if [ -n "$WEIRS" ]; then
	echo
	echo "== weir's histograms: requests recorded during each run vs. completed by wrk"
	echo "   (weir may record a few more: replies in flight when wrk stopped)"
	while read -r p c run rec done_; do
		flag=ok
		[ "$rec" -ge "$done_" ] || { flag="MISSING $((done_ - rec))"; FAILED_CHECKS=$((FAILED_CHECKS + 1)); }
		printf '   %-10s c=%-4s run %-2s recorded %9s  wrk %9s  %s\n' "$p" "$c" "$run" "$rec" "$done_" "$flag"
	done <"$HIST"
fi

# Is the proxy the bottleneck? Its core should be (nearly) saturated by it
# (with the backends beside it, by the two together: not checked here).
echo
awk -F'\t' -v pc="$PROXY_CPU" -v lc="$LOAD_CPU" -v full="${PROXY_QUOTA:-100}" -v lw="$LOAD_WHAT" \
	-v shared="$([ "$BACKEND_CPU" = "$PROXY_CPU" ] && echo 1 || echo 0)" '
	BEGIN { mark = shared ? 0 : full * 0.85
		if (shared) printf "core %s is shared by the proxy and the backends: requests/s compare what each proxy leaves the backends\n", pc }
	{n++; if ($8 < mark) low[$1]++; if ($11 >= 98) load[$1]++}
	END {
		for (p in low) { printf "NOTE: %s: in %d run(s) the proxy process used < %d%% of core %s: not (only) proxy-bound there\n", p, low[p], mark, pc; any = 1 }
		if (!any && !shared) printf "in every run the proxy process used >= %d%% of core %s: the proxies are the bottleneck\n", mark, pc
		for (p in load) printf "NOTE: %s: in %d run(s) core %s (%s) was >= 98%% busy: the load side may limit it\n", p, load[p], lc, lw
	}' "$ROWS"
if [ -n "$RESULTS" ]; then
	printf 'proxy\tconns\trun\trps\tp50_ms\tp99_ms\terrors\tproxy_cpu\tsi_cpu\tother_cpu\tload_core\tload_other\trequests\tcpu_us_per_req\n' >"$RESULTS"
	cat "$ROWS" >>"$RESULTS"
fi

# ---- profile ------------------------------------------------------------------------------
profile_perf() {
	local c ev s
	if ! perf record -e cpu-clock -o "$T/perf-probe.data" -- true >/dev/null 2>&1; then
		note "perf record does not work here; skipping the perf profile"
		return 0
	fi
	if perf stat -e instructions true 2>&1 | grep -q 'not supported'; then
		echo "   (no hardware counters on this machine: sampling on the cpu-clock software event)"
	fi
	for c in $CONNS; do
		echo
		echo "== system calls per request at $c connections (perf stat, tracepoints)"
		ev=
		for s in read readv recvfrom recvmsg write writev sendto sendmsg ioctl epoll_wait epoll_ctl connect accept4 close socket setsockopt getsockopt; do
			ev+="syscalls:sys_enter_$s,"
		done
		for p in $PROXIES; do
			run_wrk "$(row_url "$p" "$c")" "$c" "$((PROFILE_SECS + 2))s" "$T/wrk-sys-$p-$c.txt" &
			local wpid=$!
			sleep 1
			perf stat -x, -e "${ev%,}" -p "$(proxy_pid "$p")" -- sleep "$PROFILE_SECS" 2>"$T/sys-$p-$c.csv" || true
			wait "$wpid"
			awk -F, -v p="$p" -v s="$PROFILE_SECS" -v r="$(awk '/^Requests\/sec:/ {print $2}' "$T/wrk-sys-$p-$c.txt")" '
				$1 ~ /^[0-9]+$/ && $1 > 0 {sub(/syscalls:sys_enter_/, "", $3); t += $1; l = l sprintf(" %s %.2f", $3, $1 / (r * s))}
				END {printf "   %-10s %6.2f syscalls/request:%s\n", p, t / (r * s), l}' "$T/sys-$p-$c.csv"
		done
	done
	c=${CONNS##* }
	echo
	echo "== where the CPU goes, at $c connections (perf record -g, cpu-clock, $PROFILE_SECS s each)"
	echo "   % of the proxy's samples. Kernel columns are inclusive (a send on loopback"
	echo "   includes delivering the segment to the receiving socket); user columns are self time."
	printf '   %-12s %7s %6s %6s %6s %6s %6s %6s %6s | %8s %6s %6s %6s\n' proxy req/s \
		kernel send recv ep_ctl ep_wt ioctl conn libevent libc proxy other
	for p in $PROXIES; do
		[[ "$p" == weir* || "$p" == haproxy ]] || continue
		run_wrk "$(row_url "$p" "$c")" "$c" "$((PROFILE_SECS + 2))s" "$T/wrk-perf-$p.txt" &
		local wpid=$!
		sleep 1
		perf record -F 1999 -g -e cpu-clock -p "$(proxy_pid "$p")" -o "$T/perf-$p.data" \
			-- sleep "$PROFILE_SECS" >/dev/null 2>&1 || true
		wait "$wpid"
		{
			perf report -i "$T/perf-$p.data" --stdio --children --sort sym -g none 2>/dev/null |
				awk '$3 == "[k]" {print "K", $4, $1}'
			perf report -i "$T/perf-$p.data" --stdio --no-children --sort dso -g none 2>/dev/null |
				awk '$1 ~ /%$/ {print "D", $2, $1}'
		} | awk -v p="$p" -v r="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$T/wrk-perf-$p.txt")" \
			-v bin="$(basename "${WEIR_BIN[$p]:-haproxy}")" '
			{v = $3 + 0}
			$1 == "K" && $2 == "do_syscall_64" {sys = v}
			$1 == "K" && ($2 == "do_writev" || $2 == "__sys_sendto" || $2 == "__sys_sendmsg") {send += v}
			$1 == "K" && ($2 == "do_readv" || $2 == "__sys_recvfrom" || $2 == "__sys_recvmsg") {recv += v}
			$1 == "K" && $2 == "do_epoll_ctl" {ctl = v}
			$1 == "K" && $2 == "do_epoll_wait" {wt = v}
			$1 == "K" && $2 == "__x64_sys_ioctl" {io = v}
			$1 == "K" && ($2 == "__sys_connect" || $2 == "__x64_sys_close" || $2 == "__sys_socket") {conn += v}
			$1 == "D" && $2 == "[kernel.kallsyms]" {kern = v}
			$1 == "D" && $2 ~ /^libevent/ {lev += v}
			$1 == "D" && $2 ~ /^libc/ {libc += v}
			$1 == "D" && $2 == bin {own += v}
			$1 == "D" {all += v}
			END {printf "   %-12s %7s %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f | %8.1f %6.1f %6.1f %6.1f\n",
				p, r, kern, send, recv, ctl, wt, io, conn, lev, libc, own, all - kern - lev - libc - own}'
	done
	echo
	echo "-- weir: top functions by self time"
	perf report -i "$T/perf-weir.data" --stdio --no-children --sort dso,sym -g none 2>/dev/null |
		grep -v -e '^#' -e '^$' | head -25 || true
	echo "-- weir: its own code and libevent, self time"
	perf report -i "$T/perf-weir.data" --stdio --no-children --sort dso,sym -g none 2>/dev/null |
		grep -E '^ +[0-9.]+% +(weir|libevent)' | head -20 || true
}

profile_callgrind() {
	command -v valgrind >/dev/null || { note "valgrind not installed; skipping callgrind"; return 0; }
	local port admin out
	read -r port admin <<<"$(free_ports 2)"
	weir_conf "$port" "$admin" >"$T/weir-cg.conf"
	echo
	echo "== callgrind: weir under wrk -c50 -d10s (valgrind runs it ~50x slower)"
	start "$T/weir_cg.log" "${PIN_PROXY[@]}" valgrind --tool=callgrind --callgrind-out-file="$T/callgrind.out" \
		"$WEIR" -c "$T/weir-cg.conf"
	PID_weir_cg=$LAST_PID
	wait_200 weir_cg "http://127.0.0.1:$port/" "$PID_weir_cg"
	run_wrk "http://127.0.0.1:$port/" 50 10s "$T/wrk-cg.txt"
	echo "   $(awk '/requests in/ {print $1}' "$T/wrk-cg.txt") requests under callgrind"
	kill -TERM "$PID_weir_cg"
	wait "$PID_weir_cg" 2>/dev/null || true
	out=$T/callgrind.out
	echo "-- inclusive (top 30)"
	callgrind_annotate --inclusive=yes "$out" 2>/dev/null | sed -n '/^Ir/,$p' | head -34 || true
	echo "-- self (top 30)"
	callgrind_annotate "$out" 2>/dev/null | sed -n '/^Ir/,$p' | head -34 || true
}

if [ "$PROFILE" != none ]; then
	[[ " $PROXIES " == *" weir "* ]] || die "PROFILE needs weir in PROXIES"
	case $PROFILE in
	perf) profile_perf ;;
	callgrind) profile_callgrind ;;
	both) profile_perf; profile_callgrind ;;
	esac
fi

if [ "$FAILED_CHECKS" != 0 ]; then
	note "$FAILED_CHECKS check(s) failed (errors or unrecorded requests above)"
	exit 1
fi
