#!/bin/bash
# Misbehaving backends (tests/integration/evil_backend.py, one process, the
# misbehaviour chosen by the request path): each gives the client a clean
# 502 or 504, or a closed connection once the response has started; each
# counts as exactly one error of its pool; no upstream connection that saw
# it is pooled again (the next request gets its own answer); weir keeps
# serving throughout.
. "$(dirname "$0")/lib.sh"
EVIL=("$WEIR_PYTHON" -S "$top_srcdir/tests/integration/evil_backend.py")

BE=$(free_port); DEAD=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_bg evil "${EVIL[@]}" serve "$BE"
wait_port "$BE" 10 "$BG_PID"

cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:$BE" ); };
  canary   = { servers = ( "127.0.0.1:$DEAD" ); };
};
split = { canary_weight = 0; override_header = "X-Weir-Pool"; };
timeouts = { backend = "1s"; connect = "1s"; };
state_file = ""; event_log = "";
CONF
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
wait_port "$ADMIN" 10 "$BG_PID"

evil_stats() { hcurl "http://127.0.0.1:$BE/__evil/stats"; }
errors() { json_get "$(hcurl "http://127.0.0.1:$ADMIN/stats.json")" ".pools.$1.total.errors"; }
errors_are() { [[ $(errors "$1") == "$2" ]]; }	# POOL N, for wait_for
overridden_is() { [[ $(json_get "$(hcurl "http://127.0.0.1:$ADMIN/stats.json")" ".pools.$1.total.overridden") == "$2" ]]; }
upstream_closed() { ! json_get "$(evil_stats)" .open_ids | grep -qw "$1"; }
fields() {	# JSON KEY...: the values at the top-level KEYs, one line
	"$WEIR_PYTHON" -S -c 'import json, sys
d = json.loads(sys.argv[1])
print(" ".join(str(d.get(k, "-")) or "-" for k in sys.argv[2:]))' "$@"
}
# conn_of PATH: the upstream connection (evil's id) that carried PATH, 0 if none
conn_of() {
	json_get "$(evil_stats)" .log | "$WEIR_PYTHON" -S -c '
import json, sys
print(([0] + [e[0] for e in json.load(sys.stdin) if e[2] == sys.argv[1]])[-1])' "$1"
}

# get PATH [HEADER...]: one GET on a fresh client connection; sets STATUS
# END COMPLETE CONNECTION BODY.
get() {
	local path=$1
	shift
	{
		printf 'GET %s HTTP/1.1\r\nHost: t\r\n' "$path"
		if (($#)); then printf '%s\r\n' "$@"; fi
		printf '\r\n'
	} >"$T/req"
	read -r STATUS END COMPLETE CONNECTION BODY < <(EVIL_FIELDS="status end complete connection body" \
		"${EVIL[@]}" probe "$PROXY" "$T/req" 10)
}

# check_next TAG: weir still serves, and a new request gets its own answer
# (not bytes left over from a broken exchange).
check_next() {
	get "/next-$1" "Connection: close"
	assert_eq "$1: the next request works" 200 "$STATUS"
	assert_eq "$1: and gets its own answer" "/next-$1" "$(json_get "$BODY" .path)"
}

# bad MODE WANT: WANT 502 or 504, an answer from weir with Connection:
# close; "cut": the response had started, so all the client can be told is
# a close before the response is complete (weir may or may not have flushed
# the head it had queued).
bad() {
	local mode=$1 want=$2 e0 conn
	get "/prime-$mode" "Connection: close"	# leaves an idle pooled connection
	assert_eq "$mode: priming request" 200 "$STATUS"
	e0=$(errors baseline)
	get "/mode/$mode"
	if [[ $want == cut ]]; then
		assert_eq "$mode: no complete response, the connection closed" "closed False" \
			"$([[ $END == reset ]] && echo closed || echo "$END") $COMPLETE"
		[[ $STATUS == 0 ]] && note "$mode: the client got nothing at all (queued head discarded)"
	else
		assert_eq "$mode: weir answered" "$want" "$STATUS"
		assert_eq "$mode: with Connection: close" close "$CONNECTION"
		assert_ne "$mode: and closed" timeout "$END"
	fi
	wait_for "$mode: one error counted" 5 errors_are baseline $((e0 + 1))
	ok "$mode: counted as one error of the baseline pool"
	conn=$(conn_of "/mode/$mode")
	assert_ne "$mode: the request reached the backend" 0 "$conn"
	wait_for "$mode: the upstream connection to close" 5 upstream_closed "$conn"
	ok "$mode: its upstream connection was not kept"
	check_next "$mode"
	assert_eq "$mode: weir is running" yes "$(bg_alive weir && echo yes || echo no)"
}

# ---- broken responses ---------------------------------------------------------------
bad reset_mid_head 502
bad close_mid_head 502
bad close_no_answer 502
bad bad_status 502
bad garbage 502
bad lf_only 502
bad two_cl 502
bad te_cl 502
bad huge_head 502
bad switch 502
bad never_respond 504
bad reset_mid_body cut
bad cl_short cut
bad bad_chunk cut
bad chunk_eof cut
bad never_finish cut

# ---- a body delimited by the close, cut short -----------------------------------------
# Only the backend's clean close ends such a body. Cut by a reset or by the
# backend timeout, the client must not be told it is complete (a clean
# close is all it could go by), and the pool must count it.
for mode in close_delim_reset close_delim_stall; do
	e0=$(errors baseline)
	get "/mode/$mode"
	assert_eq "$mode: the client's connection is reset, not closed cleanly" reset "$END"
	wait_for "$mode: one error counted" 5 errors_are baseline $((e0 + 1))
	ok "$mode: counted as one error of the baseline pool"
	check_next "$mode"
done

# ---- connection refused: 502, counted in the canary, never moved to the baseline -------
# (routed by the override header: counted as overridden, never judged)
e0=$(errors canary); r0=$(json_get "$(evil_stats)" .requests)
get /refused "X-Weir-Pool: canary"
assert_eq "refused: weir answered" 502 "$STATUS"
assert_eq "refused: with Connection: close" close "$CONNECTION"
wait_for "refused: one overridden canary request" 5 overridden_is canary 1
assert_eq "refused: an override request is no judged error" "$e0" "$(errors canary)"
assert_eq "refused: not moved to the baseline" "$r0" "$(json_get "$(evil_stats)" .requests)"
check_next refused

# ---- a Content-Length that is too short for what follows: a desync attempt -------------
e0=$(errors baseline)
get /mode/cl_long "Connection: close"
assert_eq "cl_long: the declared body is relayed" "200 True 0123456789" "$STATUS $COMPLETE $BODY"
conn=$(conn_of /mode/cl_long)
wait_for "cl_long: the upstream connection to close" 5 upstream_closed "$conn"
ok "cl_long: the connection with bytes after the response was not kept"
check_next cl_long
assert_eq "cl_long: no error (the answer itself was fine)" "$e0" "$(errors baseline)"
# The same with the next request pipelined behind it on one client
# connection: the bytes after the declared length must not become its answer.
printf 'GET /mode/cl_long HTTP/1.1\r\nHost: t\r\n\r\nGET /behind HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' >"$T/req"
raw=$("${EVIL[@]}" probe "$PROXY" "$T/req" 10 | json_get - .raw)
assert_not_contains "cl_long pipelined: the extra response never reaches the client" SMUGGLED "$raw"
assert_contains "cl_long pipelined: the second request gets its own answer" '"path": "/behind"' "$raw"

# ---- a response whose Connection field names its Content-Length -------------------------
# The client must still learn the body's length; dropped, the body would run
# into the next response on the client's keep-alive connection.
printf 'GET /mode/conn_cl HTTP/1.1\r\nHost: t\r\n\r\nGET /behind-conn-cl HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' >"$T/req"
out=$("${EVIL[@]}" probe "$PROXY" "$T/req" 10)
read -r STATUS COMPLETE < <(fields "$out" status complete)
assert_eq "conn_cl: the response keeps its length" "200 True hello" "$STATUS $COMPLETE $(json_get "$out" .body)"
assert_contains "conn_cl: the next response is separate and its own" '"path": "/behind-conn-cl"' \
	"$(json_get "$out" .raw | tail -n 1)"

# ---- an unsolicited response on an idle pooled connection ------------------------------
get /mode/unsolicited "Connection: close"
assert_eq "unsolicited: the requested answer" "200 /mode/unsolicited" "$STATUS $(json_get "$BODY" .path)"
conn=$(conn_of /mode/unsolicited)
wait_for "unsolicited: weir to drop the connection" 5 upstream_closed "$conn"
ok "unsolicited: the idle connection that spoke out of turn was closed"
check_next unsolicited

# ---- the backend closes a pooled connection as weir reuses it ----------------------------
# RFC 9112 9.3.1 would allow retrying an idempotent request here; weir
# answers 502 instead (the pool's error), and must not reuse the connection.
get /mode/close_on_next "Connection: close"
assert_eq "close_on_next: first answer" 200 "$STATUS"
conn=$(conn_of /mode/close_on_next)
e0=$(errors baseline)
get /reuse "Connection: close"
on_conn=$(json_get "$(evil_stats)" .log | "$WEIR_PYTHON" -S -c '
import json, sys
print(any(e[0] == int(sys.argv[1]) and e[2] == "/reuse" for e in json.load(sys.stdin)))' "$conn")
assert_eq "close during reuse: the request went out on the pooled connection" True "$on_conn"
if [[ $STATUS == 502 ]]; then
	wait_for "close during reuse: one error counted" 5 errors_are baseline $((e0 + 1))
	ok "close during reuse: 502, counted as the pool's error"
else
	assert_eq "close during reuse: retried elsewhere, its own answer" "200 /reuse" \
		"$STATUS $(json_get "$BODY" .path)"
fi
check_next close_on_next

# ---- the backend timeout in each phase of an exchange ----------------------------------
# The server takes none of the request body (weir's buffer for it fills and
# reading the client stops), or takes it all and never answers: either way
# the backend timeout, 504 (Connection: close), one request and one error of
# the pool, and the upstream connection let go. (A client that stops sending
# its body is a 408 and no error of the pool: exhaustion.sh.) A server that
# reads nothing cannot see weir's close (the FIN waits behind the body bytes
# queued for it), so there weir's own count of active connections says it.
requests() { json_get "$(hcurl "http://127.0.0.1:$ADMIN/stats.json")" ".pools.$1.total.requests"; }
requests_are() { [[ $(requests "$1") == "$2" ]]; }	# POOL N, for wait_for
# POOL's request count once the requests before (check_next's) are in it: a
# worker folds what it measured every 200 ms, so wait until two reads 300 ms
# apart agree (at most ~5 s).
settled_requests() {
	local a b i
	b=$(requests "$1")
	for ((i = 0; i < 16; i++)); do
		a=$b
		sleep 0.3
		b=$(requests "$1")
		[[ $a == "$b" ]] && break
	done
	echo "$b"
}
active_is() { [[ $(json_get "$(hcurl "http://127.0.0.1:$ADMIN/stats.json")" ".pools.$1.servers[0].active") == "$2" ]]; }
# post PATH FILE: POST FILE's bytes on a fresh connection; prints "STATUS
# SECONDS UPLOADED" (curl's http_code, time_total, size_upload)
post() {
	CURL_MAX_TIME=20 hcurl -o /dev/null -w '%{http_code} %{time_total} %{size_upload}\n' \
		-H 'Expect:' -H 'Connection: close' --data-binary @"$2" "http://127.0.0.1:$PROXY$1" || true
}
big=$((64 << 20))	# more than loopback's socket buffers hold on the way
head -c "$big" /dev/zero >"$T/big"
printf 'x=1' >"$T/small"
for phase in send_body await; do
	case $phase in
	send_body) path=/mode/stall_body file=$T/big ;;
	await) path=/mode/never_respond file=$T/small ;;
	esac
	n0=$(settled_requests baseline); e0=$(errors baseline)
	read -r status secs sent < <(post "$path" "$file")
	assert_eq "$phase: the backend timeout answers 504" 504 "$status"
	assert_num "$phase: after timeouts.backend (1 s), not before" "$secs" ">=" 0.9
	assert_num "$phase: and not much after" "$secs" "<" 5
	if [[ $phase == send_body ]]; then
		assert_num "$phase: while the body was still being sent" "$sent" "<" "$big"
	fi
	wait_for "$phase: one error counted" 5 errors_are baseline $((e0 + 1))
	ok "$phase: counted as one error of the baseline pool"
	wait_for "$phase: one request counted" 5 requests_are baseline $((n0 + 1))
	ok "$phase: and as one request"
	conn=$(conn_of "$path")
	assert_ne "$phase: the request reached the backend" 0 "$conn"
	if [[ $phase == send_body ]]; then
		wait_for "$phase: weir to let go of the upstream connection" 5 active_is baseline 0
	else
		wait_for "$phase: the upstream connection to close" 5 upstream_closed "$conn"
	fi
	ok "$phase: its upstream connection was not kept"
	check_next "timeout-$phase"
done
rm -f "$T/big"

# ---- everything is still consistent ----------------------------------------------------
# Keep-alive exchanges after all that reuse connections and get their answers.
out=$("$WEIR_PYTHON" -S - "$PROXY" <<'PY'
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
wrong = 0
for i in range(50):
    conn.request("GET", "/final/%d" % i)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200 or json.loads(body)["path"] != "/final/%d" % i:
        wrong += 1
print(wrong)
PY
)
assert_eq "50 keep-alive requests afterwards, each with its own answer" 0 "$out"
rc=0; stop_bg weir || rc=$?
assert_eq "SIGTERM: clean exit 0" 0 "$rc"
done_testing
