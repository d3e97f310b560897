# shellcheck shell=bash
# lib.sh: the harness every integration test sources.
#
#   #!/bin/bash
#   . "$(dirname "$0")/lib.sh"
#   port=$(free_port)
#   start_backend be1 "$port"
#   assert_eq "status" 200 "$(http_status "http://127.0.0.1:$port/")"
#   done_testing
#
# It turns on `set -euo pipefail`, makes a scratch directory $T, and on exit
# (success, failure, set -e, or a signal) stops every process started through
# start_bg, prints the tail of their logs if the test failed, removes $T and
# prints "N passed, M failed" as the last line. A skip exits 77 (automake's
# code). Everything listens on 127.0.0.1 and every wait is bounded.
#
# make check sets top_srcdir and top_builddir (absolute). Run by hand, they
# default to the source tree this file is in.

# `make check` may run us with /bin/sh: everything below needs bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

set -euo pipefail
set -E				# the ERR trap also fires inside functions
shopt -s inherit_errexit 2>/dev/null || true

_WEIR_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$_WEIR_LIB_DIR/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir

WEIR=${WEIR:-$top_builddir/src/weir}
WEIRCTL=${WEIRCTL:-$top_builddir/src/weirctl}
DEMO_BACKEND=${DEMO_BACKEND:-$top_builddir/contrib/weir-demo-backend}
TEST_NAME=$(basename "$0" .sh)

# Sanitizer builds: undefined behaviour fails the test instead of scrolling by.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Loopback traffic must never go to a proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
	no_proxy NO_PROXY

_WEIR_PASSED=0
_WEIR_FAILED=0
_WEIR_ERR=""
declare -gA _WEIR_PID=()

T=$(mktemp -d "${TMPDIR:-/tmp}/weir-$TEST_NAME.XXXXXX")
: >"$T/.pids"

# ---- reporting --------------------------------------------------------------

# ok MSG / pass MSG: count a passed check and print "ok - MSG".
ok() {
	_WEIR_PASSED=$((_WEIR_PASSED + 1))
	printf 'ok - %s\n' "$*"
}
pass() { ok "$@"; }

# note MSG: a diagnostic line ("# MSG"), not counted.
note() { printf '# %s\n' "$*"; }

# fail MSG: print "FAIL: MSG" on stderr and end the test (status 1).
fail() {
	_WEIR_FAILED=$((_WEIR_FAILED + 1))
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# skip MSG: end the test as skipped (status 77).
skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

# done_testing: end the test successfully; the summary line follows.
done_testing() { exit 0; }

_weir_short() {			# a value for a message, cut to 300 chars
	local v=$1
	if ((${#v} > 300)); then v="${v:0:300}... (${#1} chars)"; fi
	printf '%s' "$v"
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
	(($# == 3)) || fail "assert_eq: wants WHAT EXPECTED ACTUAL, got $# arguments"
	if [[ "$2" == "$3" ]]; then
		ok "$1"
	else
		fail "$1: expected '$(_weir_short "$2")', got '$(_weir_short "$3")'"
	fi
}

# assert_ne WHAT UNEXPECTED ACTUAL
assert_ne() {
	(($# == 3)) || fail "assert_ne: wants WHAT UNEXPECTED ACTUAL, got $# arguments"
	if [[ "$2" != "$3" ]]; then
		ok "$1"
	else
		fail "$1: expected anything but '$(_weir_short "$2")'"
	fi
}

# assert_contains WHAT NEEDLE HAYSTACK (fixed string)
assert_contains() {
	(($# == 3)) || fail "assert_contains: wants WHAT NEEDLE HAYSTACK, got $# arguments"
	if [[ "$3" == *"$2"* ]]; then
		ok "$1"
	else
		fail "$1: '$(_weir_short "$2")' not found in '$(_weir_short "$3")'"
	fi
}

# assert_not_contains WHAT NEEDLE HAYSTACK (fixed string)
assert_not_contains() {
	(($# == 3)) || fail "assert_not_contains: wants WHAT NEEDLE HAYSTACK, got $# arguments"
	if [[ "$3" != *"$2"* ]]; then
		ok "$1"
	else
		fail "$1: '$(_weir_short "$2")' unexpectedly found in '$(_weir_short "$3")'"
	fi
}

# assert_num WHAT ACTUAL OP EXPECTED: numeric comparison, OP one of
# < <= > >= == != ; decimals are fine (assert_num "p99" "$p99" "<=" 5.5).
assert_num() {
	(($# == 4)) || fail "assert_num: wants WHAT ACTUAL OP EXPECTED, got $# arguments"
	local re='^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$'
	[[ $2 =~ $re ]] || fail "$1: '$(_weir_short "$2")' is not a number"
	[[ $4 =~ $re ]] || fail "$1: '$(_weir_short "$4")' is not a number"
	case $3 in '<' | '<=' | '>' | '>=' | '==' | '!=') ;;
	*) fail "assert_num: unknown operator '$3'" ;;
	esac
	if awk -v a="$2" -v b="$4" -v op="$3" 'BEGIN {
		a += 0; b += 0
		r = (op == "<") ? a < b : (op == "<=") ? a <= b : \
		    (op == ">") ? a > b : (op == ">=") ? a >= b : \
		    (op == "==") ? a == b : a != b
		exit !r }'; then
		ok "$1"
	else
		fail "$1: expected $2 $3 $4"
	fi
}

# run CMD...: run a command without failing the test; sets RUN_RC and
# RUN_OUT / RUN_ERR (its stdout and stderr). External commands are bounded
# by RUN_TIMEOUT seconds (default 60) when coreutils' timeout exists.
run() {
	local wrap=()
	if [[ $(type -t "$1") == file ]] && command -v timeout >/dev/null; then
		wrap=(timeout -k 5 "${RUN_TIMEOUT:-60}")
	fi
	RUN_RC=0
	"${wrap[@]}" "$@" >"$T/.run.out" 2>"$T/.run.err" </dev/null || RUN_RC=$?
	# shellcheck disable=SC2034	# for the caller
	RUN_OUT=$(<"$T/.run.out")
	RUN_ERR=$(<"$T/.run.err")
}

# assert_status WHAT EXPECTED_RC CMD...: run CMD (see run) and check its
# exit status; RUN_OUT / RUN_ERR stay available for further checks.
assert_status() {
	local what=$1 want=$2
	shift 2
	run "$@"
	if [[ $RUN_RC == "$want" ]]; then
		ok "$what"
	else
		fail "$what: exit status $RUN_RC, expected $want (stderr: $(_weir_short "$RUN_ERR"))"
	fi
}

# require_cmd CMD...: skip the test unless every command exists.
require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
	done
}

# ---- time -----------------------------------------------------------------

_weir_now_ms() {
	if [[ -n ${EPOCHREALTIME:-} ]]; then
		local t=${EPOCHREALTIME/[.,]/}
		printf '%s\n' $((10#$t / 1000))
	else
		date +%s%3N
	fi
}

_weir_to_ms() {			# "2", "0.5", "1.25" seconds -> milliseconds
	local frac
	[[ $1 =~ ^([0-9]*)(\.([0-9]*))?$ && -n "${BASH_REMATCH[1]}${BASH_REMATCH[3]}" ]] ||
		fail "not a duration in seconds: '$1'"
	frac="${BASH_REMATCH[3]}000"
	printf '%s\n' $((10#${BASH_REMATCH[1]:-0} * 1000 + 10#${frac:0:3}))
}

# ---- processes --------------------------------------------------------------

_weir_alive() {			# PID: running (not gone, not a zombie)
	local st
	if [[ -d /proc/$1 ]]; then
		{ read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
		st=${st##*) }
		st=${st%% *}
		[[ -n $st && $st != Z && $st != X ]]
	else
		kill -0 "$1" 2>/dev/null
	fi
}

_weir_wait_gone() {		# PID TIMEOUT_S: 0 once it has exited
	local deadline
	deadline=$(($(_weir_now_ms) + $(_weir_to_ms "$2")))
	while _weir_alive "$1"; do
		(($(_weir_now_ms) < deadline)) || return 1
		sleep 0.05
	done
}

_weir_forget() {		# PID: no longer ours to stop
	local line keep=()
	while IFS= read -r line; do
		[[ ${line%% *} == "$1" ]] || keep+=("$line")
	done <"$T/.pids"
	if ((${#keep[@]})); then printf '%s\n' "${keep[@]}"; fi >"$T/.pids.new"
	mv "$T/.pids.new" "$T/.pids"
}

# start_bg NAME CMD...: start CMD in the background, stdout and stderr to
# $T/NAME.log (emptied first), stdin from /dev/null. Sets BG_PID. Stopped at
# exit for sure. Call it from the test's own shell, not inside $(...), so that
# wait_bg can collect the exit status.
start_bg() {
	local name=$1
	shift
	[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || fail "start_bg: bad name '$name'"
	(($#)) || fail "start_bg: no command for $name"
	: >"$T/$name.log"
	"$@" >>"$T/$name.log" 2>&1 </dev/null &
	BG_PID=$!
	_WEIR_PID[$name]=$BG_PID
	printf '%s %s\n' "$BG_PID" "$name" >>"$T/.pids"
}

# bg_pid NAME: print the pid of the process started as NAME.
bg_pid() {
	local line pid=""
	if [[ -n ${_WEIR_PID[$1]:-} ]]; then
		pid=${_WEIR_PID[$1]}
	else
		while IFS= read -r line; do
			[[ ${line#* } == "$1" ]] && pid=${line%% *}
		done <"$T/.pids"
	fi
	[[ -n $pid ]] || fail "no background process named '$1'"
	printf '%s\n' "$pid"
}

# bg_log NAME: print the path of NAME's log ($T/NAME.log).
bg_log() { printf '%s\n' "$T/$1.log"; }

# bg_alive NAME: status 0 while NAME is running.
bg_alive() { _weir_alive "$(bg_pid "$1")"; }

# kill_bg NAME [SIGNAL]: send a signal (default TERM), do not wait.
kill_bg() { kill -s "${2:-TERM}" "$(bg_pid "$1")"; }

# wait_bg NAME [TIMEOUT_S]: wait (default 10 s) for NAME to exit and return
# its exit status (128+N for signal N). Fails the test if it does not exit.
wait_bg() {
	local name=$1 timeout=${2:-10} pid rc=0
	pid=$(bg_pid "$name")
	_weir_wait_gone "$pid" "$timeout" ||
		fail "$name (pid $pid) still running after ${timeout}s"
	wait "$pid" 2>/dev/null || rc=$?
	_weir_forget "$pid"
	unset "_WEIR_PID[$name]"
	return "$rc"
}

# stop_bg NAME [TIMEOUT_S]: SIGTERM, wait (default 10 s), return the exit
# status; SIGKILL and return 137 if it would not stop.
#   stop_bg be1                       # set -e: fails the test unless 0
#   rc=0; stop_bg be1 || rc=$?        # to look at the status
stop_bg() {
	local name=$1 timeout=${2:-10} pid
	pid=$(bg_pid "$name")
	kill -TERM "$pid" 2>/dev/null || true
	if ! _weir_wait_gone "$pid" "$timeout"; then
		printf '# %s (pid %s) ignored SIGTERM for %ss: SIGKILL\n' \
			"$name" "$pid" "$timeout" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait_bg "$name" 5
}

# ---- network ----------------------------------------------------------------

# free_port: print a TCP port on 127.0.0.1 that was free a moment ago (the
# kernel picks it); never the same twice in one test.
free_port() {
	local port _
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		port=$("$WEIR_PYTHON" -S -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()') || fail "free_port: python3 failed"
		if ! grep -qx "$port" "$T/.ports" 2>/dev/null; then
			echo "$port" >>"$T/.ports"
			printf '%s\n' "$port"
			return 0
		fi
	done
	fail "free_port: no fresh port after 10 tries"
}

_weir_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT [TIMEOUT_S] [PID]: wait (default 10 s) until 127.0.0.1:PORT
# accepts a connection. With PID, give up as soon as that process is gone.
wait_port() {
	local port=$1 timeout=${2:-10} pid=${3:-} deadline
	deadline=$(($(_weir_now_ms) + $(_weir_to_ms "$timeout")))
	until _weir_port_open "$port"; do
		if [[ -n $pid ]] && ! _weir_alive "$pid"; then
			fail "process $pid exited before 127.0.0.1:$port opened"
		fi
		(($(_weir_now_ms) < deadline)) ||
			fail "127.0.0.1:$port not accepting after ${timeout}s"
		sleep 0.05
	done
}

# wait_port_closed PORT [TIMEOUT_S]: wait until nothing accepts on PORT.
wait_port_closed() {
	local port=$1 timeout=${2:-10} deadline
	deadline=$(($(_weir_now_ms) + $(_weir_to_ms "$timeout")))
	while _weir_port_open "$port"; do
		(($(_weir_now_ms) < deadline)) ||
			fail "127.0.0.1:$port still accepting after ${timeout}s"
		sleep 0.05
	done
}

# wait_for DESC TIMEOUT_S CMD...: run CMD (output discarded) every 50 ms
# until it succeeds; fail with DESC after TIMEOUT_S. CMD must be bounded
# itself (use hcurl, not bare curl).
wait_for() {
	local desc=$1 timeout=$2 deadline
	shift 2
	deadline=$(($(_weir_now_ms) + $(_weir_to_ms "$timeout")))
	until "$@" >/dev/null 2>&1; do
		(($(_weir_now_ms) < deadline)) ||
			fail "timed out after ${timeout}s waiting for $desc"
		sleep 0.05
	done
}

# hcurl ARGS...: curl, quiet but showing errors, never through a proxy,
# bounded by CURL_MAX_TIME seconds (default 30).
hcurl() {
	curl -sS --noproxy '*' --connect-timeout 5 \
		--max-time "${CURL_MAX_TIME:-30}" "$@"
}

# http_status URL [CURL_ARGS...]: print only the status code (000 when
# there was no answer); the body is dropped.
http_status() {
	local url=$1
	shift
	hcurl -o /dev/null -w '%{http_code}' "$@" "$url" || true
}

# ---- the demo backend -------------------------------------------------------

# start_backend NAME PORT [FLAGS...]: start the demo backend as NAME on
# 127.0.0.1:PORT (extra flags: --latency-ms, --error-rate, --seed ...) and
# wait until it accepts. Stop it with stop_bg NAME (or leave it to the exit).
start_backend() {
	local name=$1 port=$2
	shift 2
	[[ -x $DEMO_BACKEND ]] || fail "demo backend not built: $DEMO_BACKEND"
	start_bg "$name" "$DEMO_BACKEND" --listen "127.0.0.1:$port" \
		--name "$name" "$@"
	wait_port "$port" 10 "$BG_PID"
}

# backend_set PORT QUERY: GET /__backend/set?QUERY, fail unless 200.
#   backend_set "$port" "error_rate=1&latency_ms=0"
backend_set() {
	local out code
	out=$(hcurl -w '\n%{http_code}' "http://127.0.0.1:$1/__backend/set?$2") ||
		fail "backend_set $1 $2: curl failed"
	code=${out##*$'\n'}
	[[ $code == 200 ]] || fail "backend_set $1 $2: status $code: ${out%$'\n'*}"
}

# backend_stats PORT: print the /__backend/stats JSON: name, settings, "hits",
# "errors", "served" and "latency_p99_ms" with "latency_samples" (see the
# header of contrib/weir-demo-backend.c).
backend_stats() { hcurl "http://127.0.0.1:$1/__backend/stats"; }

# bytes_sha256 N: SHA-256 (hex) of the body of the backend's /bytes/N.
bytes_sha256() {
	"$WEIR_PYTHON" -S - "$1" <<'PY'
import hashlib, sys
n = int(sys.argv[1])
h = hashlib.sha256()
step = 1 << 20                      # a multiple of the 32-byte record
for base in range(0, n, step):
    block = b"".join(b"%016x0123456789abcde\n" % off
                     for off in range(base, min(base + step, n + 31), 32))
    h.update(block[:min(step, n - base)])
print(h.hexdigest())
PY
}

# bytes_expected N FILE: write the expected body of /bytes/N to FILE.
bytes_expected() {
	"$WEIR_PYTHON" -S - "$1" "$2" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
step = 1 << 20
with open(path, "wb") as f:
    for base in range(0, n, step):
        block = b"".join(b"%016x0123456789abcde\n" % off
                         for off in range(base, min(base + step, n + 31), 32))
        f.write(block[:min(step, n - base)])
PY
}

# sha256_file FILE: print the SHA-256 (hex) of FILE.
sha256_file() {
	if command -v sha256sum >/dev/null; then
		sha256sum "$1" | cut -d' ' -f1
	else
		"$WEIR_PYTHON" -S -c 'import hashlib, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
	fi
}

# ---- JSON -----------------------------------------------------------------

_WEIR_JSON_GET_PY='
import json, re, sys
src, path = sys.argv[1], sys.argv[2]
try:
    if src == "-":
        text = sys.stdin.read()
    elif src.lstrip()[:1] in ("{", "[", "\"") or src.strip() in ("true", "false", "null"):
        text = src
    else:
        try:
            with open(src) as f:
                text = f.read()
        except OSError:
            text = src
    doc = json.loads(text)
except ValueError as e:
    sys.exit("json_get: not JSON (%s): %.200r" % (e, src))
tok = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]|\[\"([^\"]*)\"\]")
pos, v = 0, doc
p = "" if path == "." else path
while pos < len(p):
    m = tok.match(p, pos)
    if not m or m.end() == pos:
        sys.exit("json_get: bad path %r" % path)
    pos = m.end()
    key = m.group(1) if m.group(1) is not None else m.group(3)
    try:
        v = v[int(m.group(2))] if m.group(2) is not None else v[key]
    except (KeyError, IndexError, TypeError):
        sys.exit("json_get: %s not found in %.200s" % (path, text))
if isinstance(v, bool) or v is None:
    print(json.dumps(v))
elif isinstance(v, str):
    print(v)
elif isinstance(v, (dict, list)):
    print(json.dumps(v, separators=(",", ":")))
else:
    print(v)
'

# json_get FILE_OR_STRING PATH: print the value at PATH (".hits",
# ".headers.Host", ".pools.canary.window.p99_ms", ".events[0].action",
# '.["odd.key"]', "." for all). Strings print raw, true/false/null as such,
# objects and arrays as compact JSON. "-" reads stdin. Status 1 if missing.
json_get() {
	(($# == 2)) || fail "json_get: wants FILE_OR_STRING PATH"
	"$WEIR_PYTHON" -S -c "$_WEIR_JSON_GET_PY" "$1" "$2"
}

# ---- exit -------------------------------------------------------------------

_weir_on_err() {		# RC WHERE COMMAND: remember why set -e stopped us
	_WEIR_ERR="$2: '$3' exited with status $1"
}

_weir_exit() {
	local rc=$? pid name pids=() deadline f
	set +e
	trap - ERR
	while read -r pid name; do
		[[ -n $pid ]] || continue
		pids+=("$pid")
		# a stopped process (a drill's SIGSTOP) acts on TERM only once continued
		_weir_alive "$pid" && kill -TERM "$pid" 2>/dev/null && kill -CONT "$pid" 2>/dev/null
	done <"$T/.pids"
	deadline=$(($(_weir_now_ms) + 5000))
	for pid in "${pids[@]}"; do
		while _weir_alive "$pid" && (($(_weir_now_ms) < deadline)); do
			sleep 0.05
		done
		if _weir_alive "$pid"; then
			printf '# pid %s ignored SIGTERM: SIGKILL\n' "$pid" >&2
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	done
	if ((rc != 0 && rc != 77)); then
		if ((_WEIR_FAILED == 0)); then
			_WEIR_FAILED=1
			printf 'FAIL: %s\n' "${_WEIR_ERR:-exited with status $rc}" >&2
		fi
		for f in "$T"/*.log; do
			[[ -s $f ]] || continue
			printf -- '---- %s (last 30 lines)\n' "$(basename "$f")" >&2
			tail -n 30 "$f" >&2
		done
	fi
	if [[ -n ${WEIR_KEEP_TMP:-} ]]; then
		printf '# kept %s\n' "$T" >&2
	else
		rm -rf "$T"
	fi
	if ((rc != 77)); then
		printf '%d passed, %d failed\n' "$_WEIR_PASSED" "$_WEIR_FAILED"
	fi
	exit "$rc"
}

trap '_weir_on_err "$?" "${BASH_SOURCE[0]##*/}:$LINENO" "$BASH_COMMAND"' ERR
trap _weir_exit EXIT
trap '_WEIR_ERR="interrupted by SIGHUP"; exit 129' HUP
trap '_WEIR_ERR="interrupted by SIGINT"; exit 130' INT
trap '_WEIR_ERR="interrupted by SIGTERM"; exit 143' TERM

command -v python3 >/dev/null 2>&1 || skip "python3 is required by the test harness"
command -v curl >/dev/null 2>&1 || skip "curl is required by the test harness"
# The interpreter itself, not a version-manager shim: json_get runs often.
if [[ -z ${WEIR_PYTHON:-} ]]; then
	WEIR_PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) ||
		WEIR_PYTHON=python3
	[[ -x $WEIR_PYTHON ]] || WEIR_PYTHON=python3
fi
