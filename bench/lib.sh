# bench/lib.sh: the setup the benchmark scripts share. Source it, after
# setting PROG (the name in messages), with
#
#   . "$(cd "$(dirname "$0")" && pwd)/lib.sh"
#
# It sets BENCH_DIR (this directory), PIDS=() and LAST_PID, and defines:
#
#   die MSG...              "PROG: error: MSG" on stderr, exit 1
#   note MSG...             "PROG: MSG" on stderr
#   find_bin NAME CAND...   the first executable candidate, else die
#   need_tools TOOL...      die unless every TOOL is on PATH
#   need_uint VAR...        die unless each named variable is an integer >= 0
#   need_posint VAR...      die unless each named variable is an integer >= 1
#   no_proxies              unset the http(s)_proxy variables (curl to loopback)
#   now_ms                  wall-clock time in milliseconds
#   secs A_MS B_MS          (B - A) in seconds, two decimals
#   median [EVEN_FMT]       median of the numbers on stdin (one a line): the
#                           middle one as given, or the mean of the two middle
#                           ones printed with EVEN_FMT (default %.6g); "-" if none
#   maxof                   largest number on stdin, "-" if none
#   free_ports N [LO HI]    N distinct free loopback ports: chosen by the kernel,
#                           or at random in [LO, HI)
#   port_open PORT          true if 127.0.0.1:PORT accepts a connection
#   wait_port PORT PID LOG  until PORT accepts (at most 10 s); 1 if PID exits
#                           first; dies showing LOG after 10 s
#   wait_200 NAME URL PID [CURL_ARG...]
#                           until URL answers 200 (at most 10 s); dies showing
#                           $T/NAME.log if PID exits or time runs out
#   make_tmp NAME           T=a new scratch directory /tmp/NAME.XXXXXX
#                           (under $TMPDIR when set)
#   start LOG CMD...        CMD in the background, output to LOG; its pid in
#                           LAST_PID and in PIDS (stopped at exit)
#   stop_pid PID [SECONDS]  SIGTERM, wait up to SECONDS (default STOP_SECONDS,
#                           5), SIGKILL, reap; forget it
#   forget PID              drop PID from PIDS
#   cleanup_on_exit         on exit (INT: 130, TERM: 143) stop every process in
#                           PIDS and remove $T unless KEEP_TMP=1, or the exit
#                           status is not 0 and KEEP_TMP_ON_ERROR=1
#   pin_cpus                PROXY_CPU/LOAD_CPU/BACKEND_CPU to 0 on a one-CPU
#                           machine (with a note); NCPU, and the command
#                           prefixes PIN_PROXY, PIN_LOAD and PIN_BACKEND
#                           (arrays: taskset -c CPU; BACKEND_CPU defaults to
#                           LOAD_CPU)
#   proc_ticks PID...       "utime utime+stime" in clock ticks, summed over the
#                           processes (all threads); 0 for a gone one
#   core_ticks CPU          "busy irq+softirq steal total user+nice" of one CPU
#                           from /proc/stat, in clock ticks
#   cap_cpu PID NAME PCT    PID (all its threads) capped at PCT % of one core
#                           through a cgroup of its own, removed at exit (root)
#   haproxy_head [LINE...]  an HAProxy configuration's global section (one
#                           thread, the LINEs added) and defaults (HTTP,
#                           keep-alive, http-reuse always), on stdout
#   haproxy_split FRONT_PORT BASE_PORT CANARY_PORT [BIND_OPTION...]
#                           HAProxy's frontend and its 90/10 "pools" backend,
#                           on stdout (after haproxy_head)
#   start_backend NAME PORT [plain]
#                           a backend on 127.0.0.1:PORT pinned to BACKEND_CPU,
#                           log $T/NAME.log, pid in LAST_PID: BACKEND=nginx
#                           answers "ok" with "X-Backend: NAME" (plain: no
#                           header) and serves $T/www/64k at /64k;
#                           BACKEND=demo runs $DEMO_BACKEND --name NAME
#
# Variables the caller may set: PROG, T, KEEP_TMP, KEEP_TMP_ON_ERROR,
# STOP_SECONDS, PROXY_CPU, LOAD_CPU, BACKEND_CPU, BACKEND, DEMO_BACKEND.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=${PROG:-$(basename "$0")}
PIDS=()
LAST_PID=
T=
STOP_SECONDS=5

die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

find_bin() {	# NAME CANDIDATE...: the first executable candidate
	local name=$1 c
	shift
	for c in "$@"; do
		[ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
	done
	die "$name not found (tried: $*); build weir first or set the variable"
}

need_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || die "$tool is not installed"
	done
}

need_uint() {
	local v
	for v in "$@"; do
		case ${!v} in '' | *[!0-9]*) die "$v must be a non-negative integer (got '${!v}')" ;; esac
	done
}

need_posint() {
	local v
	for v in "$@"; do
		case ${!v} in '' | *[!0-9]* | 0) die "$v must be a positive integer (got '${!v}')" ;; esac
	done
}

no_proxies() { unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY; }

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t / 1000)); }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b - a) / 1000}'; }

median() {
	sort -g | awk -v f="${1:-%.6g}" '{v[NR] = $1}
		END {if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf f "\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
maxof() { sort -g | tail -n 1 | grep . || echo -; }

# Kernel-chosen ports are held open together while chosen. A range (below
# Linux's ephemeral range, say) keeps many outgoing connections from taking
# a port between choosing and binding it.
free_ports() {
	python3 -S -c '
import random, socket, sys
n = int(sys.argv[1])
lo, hi = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (0, 0)
socks = []
while len(socks) < n:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(lo, hi) if hi else 0))
    except OSError:
        s.close()
        continue
    socks.append(s)
ports = [s.getsockname()[1] for s in socks]
for s in socks:
    s.close()
print(" ".join(map(str, ports)))' "$@"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {	# PORT PID LOG
	for _ in $(seq 200); do
		port_open "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	sed 's/^/    /' "$3" >&2
	die "nothing accepts on 127.0.0.1:$1 after 10 s (log above)"
}

wait_200() {	# NAME URL PID [CURL_ARG...]
	local name=$1 url=$2 pid=$3 code=000
	shift 3
	for _ in $(seq 100); do
		if ! kill -0 "$pid" 2>/dev/null; then
			sed 's/^/    /' "$T/$name.log" >&2 || true
			die "$name exited during start-up (log above)"
		fi
		code=$(curl -s --noproxy '*' -o /dev/null -m 2 -w '%{http_code}' "$@" "$url" || true)
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	sed 's/^/    /' "$T/$name.log" >&2 || true
	die "$name does not answer 200 at $url (last status $code; log above)"
}

make_tmp() { T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX"); }

start() {	# LOG CMD...
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

stop_pid() {	# PID [SECONDS]
	local pid=$1 tenths=$((${2:-$STOP_SECONDS} * 10))
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq "$tenths"); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget "$pid"
}

forget() {	# PID
	local keep=() p
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# The EXIT trap: everything started goes (SIGCONT too, for a process stopped
# on purpose), then the scratch directory.
lib_cleanup() {
	local rc=$? pid dir
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	for dir in "${CGROUPS[@]}"; do
		rmdir "$dir" 2>/dev/null || note "cgroup $dir left behind"
	done
	if [ -n "$T" ]; then
		if [ "${KEEP_TMP:-0}" = 1 ] || { [ "${KEEP_TMP_ON_ERROR:-0}" = 1 ] && [ "$rc" != 0 ]; }; then
			note "scratch directory kept: $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}
cleanup_on_exit() {
	trap lib_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

pin_cpus() {
	NCPU=$(nproc)
	if [ "$NCPU" -lt 2 ]; then
		note "only $NCPU CPU: proxy, wrk and backends share it; results say little"
		PROXY_CPU=0
		LOAD_CPU=0
		BACKEND_CPU=0
	fi
	BACKEND_CPU=${BACKEND_CPU:-$LOAD_CPU}
	PIN_PROXY=(taskset -c "$PROXY_CPU")
	PIN_LOAD=(taskset -c "$LOAD_CPU")
	PIN_BACKEND=(taskset -c "$BACKEND_CPU")
}

proc_ticks() {	# PID...
	local pid u=0 t=0 a b
	for pid in "$@"; do
		read -r a b <<<"$(awk '{print $14, $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0 0)"
		u=$((u + a)) t=$((t + b))
	done
	echo "$u $t"
}

# CPU: "busy irq+softirq steal total user+nice" for that core from /proc/stat,
# in USER_HZ ticks.
core_ticks() {
	awk -v c="cpu$1" '$1 == c {print $2+$3+$4+$7+$8, $7+$8, $9, $2+$3+$4+$5+$6+$7+$8+$9, $2+$3}' /proc/stat
}

# cap_cpu PID NAME PERCENT: PID's threads (and later children) get at most
# PERCENT % of one core, through a cgroup "weir-bench-NAME-$$" (cgroup v2's
# cpu.max, or v1's cpu.cfs_quota_us), removed at exit. Needs root. The
# period is 10 ms: with the default 100 ms a capped proxy stalls for up to
# 40 ms at a time, which becomes every client's p99.
CGROUPS=()
cap_cpu() {
	local pid=$1 dir period=10000 quota=$(($3 * 100))
	if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
		dir=/sys/fs/cgroup/weir-bench-$2-$$
		mkdir "$dir" || die "cannot create $dir (root? cgroup v2 cpu controller delegated?)"
		CGROUPS+=("$dir")
		echo "$quota $period" >"$dir/cpu.max"
	elif [ -d /sys/fs/cgroup/cpu ]; then
		dir=/sys/fs/cgroup/cpu/weir-bench-$2-$$
		mkdir "$dir" || die "cannot create $dir (root?)"
		CGROUPS+=("$dir")
		echo "$period" >"$dir/cpu.cfs_period_us"
		echo "$quota" >"$dir/cpu.cfs_quota_us"
	else
		die "no cgroup cpu controller: cannot cap a proxy's CPU"
	fi
	echo "$pid" >"$dir/cgroup.procs" || die "cannot move $pid into $dir"
}

# make_certs [rsa|ec]: a throwaway CA and a leaf for localhost / 127.0.0.1
# in $T: ca.pem, leaf.key, chain.pem (leaf + CA) and haproxy.pem (chain +
# key, as HAProxy wants them in one file).
make_certs() {
	local keyopt=(-newkey rsa:2048)
	[ "${1:-rsa}" = rsa ] || keyopt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
	openssl req -x509 "${keyopt[@]}" -nodes -subj "/CN=bench CA" -days 2 \
		-keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
	openssl req -new "${keyopt[@]}" -nodes -subj "/CN=localhost" -keyout "$T/leaf.key" \
		-out "$T/leaf.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$T/leaf.ext"
	openssl x509 -req -in "$T/leaf.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -set_serial 1 -days 2 \
		-extfile "$T/leaf.ext" -out "$T/leaf.pem" 2>/dev/null
	cat "$T/leaf.pem" "$T/ca.pem" >"$T/chain.pem"
	cat "$T/chain.pem" "$T/leaf.key" >"$T/haproxy.pem"
}

# The TLS settings of bench/tls.sh and compare.sh's HTTPS rows for
# haproxy_head: TLS 1.2 and up, forward-secret AEAD ciphers (weir's and
# OpenSSL's defaults negotiate TLS 1.3 with wrk either way).
HAPROXY_TLS_GLOBAL=("ssl-default-bind-options ssl-min-ver TLSv1.2"
	"ssl-default-bind-ciphers ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL")

haproxy_head() {
	local line
	printf 'global\n  nbthread 1\n  maxconn 4096\n'
	for line in "$@"; do printf '  %s\n' "$line"; done
	cat <<EOF
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 30s
  option http-keep-alive
  http-reuse always
EOF
}

# 90/10 by server weight, smooth round robin; X-Forwarded-For/-Proto as weir
# sets them, so both proxies do the same header work.
haproxy_split() {	# FRONT_PORT BASE_PORT CANARY_PORT [BIND_OPTION...]
	local front=$1 base=$2 canary=$3
	shift 3
	cat <<EOF
frontend fe
  bind 127.0.0.1:$front${*:+ $*}
  default_backend pools
backend pools
  balance roundrobin
  option forwardfor
  http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]
  server baseline 127.0.0.1:$base weight 90
  server canary 127.0.0.1:$canary weight 10
EOF
}

# nginx backend: one worker; connections live as long as the run
# (keepalive_requests would otherwise close them every 1000 requests and
# every proxy would pay for the reconnects).
start_backend() {	# NAME PORT [plain]
	local name=$1 port=$2 hdr="add_header X-Backend $1; "
	[ "${3:-}" = plain ] && hdr=
	if [ "$BACKEND" = demo ]; then
		start "$T/$name.log" "${PIN_BACKEND[@]}" "$DEMO_BACKEND" --listen "127.0.0.1:$port" --name "$name"
		return
	fi
	mkdir -p "$T/nginx-tmp"
	cat >"$T/$name.conf" <<EOF
worker_processes 1;
daemon off;
pid $T/$name.pid;
error_log $T/$name.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path $T/nginx-tmp/body-$name;
  server {
    listen 127.0.0.1:$port backlog=4096;
    location / { ${hdr}return 200 "ok\n"; }
    location = /64k { ${hdr}root $T/www; }
  }
}
EOF
	start "$T/$name.log" "${PIN_BACKEND[@]}" nginx -e "$T/$name.err" -p "$T" -c "$T/$name.conf"
}
