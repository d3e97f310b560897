#!/bin/bash
# bench/tls.sh: weir against HAProxy as an HTTPS terminating proxy.
#
# One backend (nginx answering `return 200`, or the demo backend) behind two
# proxies that terminate TLS with the same certificate and key: weir (one
# worker) and HAProxy 2.6 (nbthread 1), each pinned to PROXY_CPU while wrk
# and the backend share LOAD_CPU. Both keep connections to the backend alive
# and offer the same TLS settings (TLS 1.2 minimum, ECDHE+AEAD ciphers for
# 1.2, OpenSSL's suites for 1.3, ALPN http/1.1).
#
# Two measures, interleaved (the proxy order alternates every repetition):
#   handshakes   new connections per second: wrk sends "Connection: close",
#                so every request opens a new connection with a full TLS
#                handshake (wrk never offers a session back, so there is no
#                resumption); requests/s = handshakes/s.
#   keepalive    requests per second over established HTTPS connections.
#   plain        the same over plain HTTP (a second, plain listener on each
#                proxy): the reference that tells TLS's share of the cost.
# For each run the script prints requests/s, the proxy's CPU use (a run at
# well under 100 % was limited by the client side, not the proxy) and the
# proxy's cost per request in CPU microseconds; then the medians and weir's
# ratios to HAProxy. On a machine shared with other work, requests/s swing
# with the neighbours while the cost per request barely moves: compare
# "per core" (1e6 / cost: what one core could do) when the runs disagree.
#
# Usage (from the build directory, or with WEIR= set):
#   bench/tls.sh                          # about 3 minutes with the defaults
#   KEY=ec DURATION=5s REPEATS=1 bench/tls.sh
#
# Settings (environment):
#   WEIR=PATH          weir binary (default: ./src/weir, else next to this script)
#   DEMO_BACKEND=PATH  contrib/weir-demo-backend (only for BACKEND=demo)
#   BACKEND=nginx      or "demo"
#   KEY=rsa            the certificate's key: "rsa" (2048 bits: the server's
#                      signature dominates a handshake, so the proxy is the
#                      bottleneck) or "ec" (P-256: cheap for the server, and
#                      the client's verification may limit instead)
#   CONNS_NEW=50       wrk connections for the handshake measure
#   CONNS_KA=50        wrk connections for the keep-alive measures
#   MEASURES="handshakes keepalive plain"
#   DURATION=10s       length of one measured run
#   REPEATS=3          measured runs per proxy and measure
#   WRK_THREADS=1
#   PROXY_CPU=1        CPU of the proxy under test; LOAD_CPU=0 for wrk and backend
#   KEEP_TMP=0         1 keeps the scratch directory
#
# Everything listens on 127.0.0.1 on ports the kernel hands out; every process
# is started by this script and stopped on exit. Requires wrk, haproxy,
# openssl, curl, python3, taskset, and nginx for BACKEND=nginx.
set -euo pipefail

PROG=tls.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

BACKEND=${BACKEND:-nginx}
KEY=${KEY:-rsa}
CONNS_NEW=${CONNS_NEW:-50}
CONNS_KA=${CONNS_KA:-50}
DURATION=${DURATION:-10s}
REPEATS=${REPEATS:-3}
MEASURES=${MEASURES:-handshakes keepalive plain}
WRK_THREADS=${WRK_THREADS:-1}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
KEEP_TMP=${KEEP_TMP:-0}

WEIR=$(find_bin weir "${WEIR:-}" ./src/weir "$BENCH_DIR/../src/weir")
case $BACKEND in
nginx) command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx-light)" ;;
demo) DEMO_BACKEND=$(find_bin weir-demo-backend "${DEMO_BACKEND:-}" ./contrib/weir-demo-backend \
	"$BENCH_DIR/../contrib/weir-demo-backend") ;;
*) die "BACKEND must be nginx or demo (got $BACKEND)" ;;
esac
need_tools wrk haproxy openssl curl python3 taskset
case $KEY in rsa | ec) ;; *) die "KEY must be rsa or ec (got $KEY)" ;; esac
for m in $MEASURES; do
	case $m in handshakes | keepalive | plain) ;; *) die "unknown measure $m" ;; esac
done
need_posint REPEATS
pin_cpus

# ---- scratch directory and cleanup ----------------------------------------------
make_tmp weir-bench-tls
cleanup_on_exit

read -r P_BE P_WEIR P_WEIR_PLAIN P_WEIR_ADMIN P_HAPROXY P_HAPROXY_PLAIN <<<"$(free_ports 6)"

# ---- certificate: a CA and a leaf for 127.0.0.1 ------------------------------------
make_certs "$KEY"

# ---- backend ---------------------------------------------------------------------------
start_backend be "$P_BE" plain
wait_200 be "http://127.0.0.1:$P_BE/" "$LAST_PID"

# ---- proxies -----------------------------------------------------------------------------
cat >"$T/weir.conf" <<EOF
listen = ( { address = "127.0.0.1:$P_WEIR";
             tls = { certificate = "$T/chain.pem"; key = "$T/leaf.key"; }; },
           "127.0.0.1:$P_WEIR_PLAIN" );
workers = 1;
admin = { http = "127.0.0.1:$P_WEIR_ADMIN"; socket = ""; };
pools = { baseline = { servers = ( "127.0.0.1:$P_BE" ); };
          canary   = { servers = ( "127.0.0.1:$P_BE" ); }; };
state_file = "";
event_log = "";
EOF
"$WEIR" -t -c "$T/weir.conf" >/dev/null || die "weir rejects $T/weir.conf"
start "$T/weir.log" "${PIN_PROXY[@]}" "$WEIR" -c "$T/weir.conf"
PID_WEIR=$LAST_PID

# The settings weir uses, spelled for HAProxy; keep-alive to the backend with
# any idle connection reusable (http-reuse always); the same forwarded headers.
{
	haproxy_head "${HAPROXY_TLS_GLOBAL[@]}"
	cat <<EOF
frontend fe
  bind 127.0.0.1:$P_HAPROXY ssl crt $T/haproxy.pem alpn http/1.1
  default_backend be
frontend plain
  bind 127.0.0.1:$P_HAPROXY_PLAIN
  default_backend be
backend be
  option forwardfor
  http-request set-header X-Forwarded-Proto https
  server be 127.0.0.1:$P_BE
EOF
} >"$T/haproxy.cfg"
haproxy -c -q -f "$T/haproxy.cfg" || die "haproxy rejects $T/haproxy.cfg"
start "$T/haproxy.log" "${PIN_PROXY[@]}" haproxy -db -f "$T/haproxy.cfg"

declare -A URL=([weir]="https://127.0.0.1:$P_WEIR/" [haproxy]="https://127.0.0.1:$P_HAPROXY/")
declare -A PLAIN_URL=([weir]="http://127.0.0.1:$P_WEIR_PLAIN/" [haproxy]="http://127.0.0.1:$P_HAPROXY_PLAIN/")
declare -A PID=([weir]=$PID_WEIR [haproxy]=$LAST_PID)
for p in weir haproxy; do
	wait_200 "$p" "${URL[$p]}" "${PID[$p]}" --cacert "$T/ca.pem"
	wait_200 "$p" "${PLAIN_URL[$p]}" "${PID[$p]}"
done

# ---- measuring -------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

# run MEASURE PROXY: one wrk run; prints "requests/s cpu% cpu-us-per-request"
run() {
	local measure=$1 p=$2 conns=$CONNS_KA hdr=() url=${URL[$2]} t0 t1 s0 s1 out=$T/wrk-$1-$2.txt rps n errs
	case $measure in
	handshakes) conns=$CONNS_NEW hdr=(-H "Connection: close") ;;
	plain) url=${PLAIN_URL[$p]} ;;
	esac
	read -r _ t0 <<<"$(proc_ticks "${PID[$p]}")"
	s0=$(date +%s%N)
	"${PIN_LOAD[@]}" wrk -t"$WRK_THREADS" -c"$conns" -d"$DURATION" "${hdr[@]}" "$url" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed against $p"; }
	s1=$(date +%s%N)
	read -r _ t1 <<<"$(proc_ticks "${PID[$p]}")"
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	n=$(awk '/ requests in / {print $1}' "$out")
	errs=$(awk '/Non-2xx|Socket errors/' "$out")
	[ -z "$errs" ] || note "$measure $p: $errs"
	awk -v r="$rps" -v n="$n" -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v ns=$((s1 - s0)) \
		'BEGIN { printf "%.0f %.0f %.1f\n", r, 100 * t / hz / (ns / 1e9), n ? 1e6 * t / hz / n : 0 }'
}

echo "== weir vs HAProxy over HTTPS ($KEY key, backend $BACKEND, $DURATION runs, proxy on CPU $PROXY_CPU)"
# A short warm-up of each, not recorded.
for p in weir haproxy; do DURATION=2s run keepalive "$p" >/dev/null; done
declare -A RPS=() COST=()
for measure in $MEASURES; do
	for ((r = 1; r <= REPEATS; r++)); do
		order="weir haproxy"
		((r % 2 == 0)) && order="haproxy weir"
		for p in $order; do
			read -r rps cpu cost <<<"$(run "$measure" "$p")"
			printf '   %-10s %-8s run %d: %8s req/s  proxy CPU %3s%%  %6s us/req\n' \
				"$measure" "$p" "$r" "$rps" "$cpu" "$cost"
			RPS[$measure-$p]="${RPS[$measure-$p]:-} $rps"
			COST[$measure-$p]="${COST[$measure-$p]:-} $cost"
		done
	done
done
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
echo "== medians (per core = 1e6 / us per request: one core's worth of the proxy)"
for measure in $MEASURES; do
	w=$(med "${RPS[$measure-weir]}") h=$(med "${RPS[$measure-haproxy]}")
	wc=$(med "${COST[$measure-weir]}") hc=$(med "${COST[$measure-haproxy]}")
	awk -v m="$measure" -v w="$w" -v h="$h" -v wc="$wc" -v hc="$hc" 'BEGIN {
		printf "   %-10s req/s   weir %8.0f  haproxy %8.0f  weir/haproxy %.2f\n", m, w, h, h ? w / h : 0
		printf "   %-10s per core weir %8.0f  haproxy %8.0f  weir/haproxy %.2f\n", m,
			wc ? 1e6 / wc : 0, hc ? 1e6 / hc : 0, wc ? hc / wc : 0 }'
done
