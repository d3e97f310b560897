#!/bin/bash
# gRPC end to end: a Python gRPC client (h2c, prior knowledge) -> weir's h2c
# listener -> "h2" pools of Python gRPC servers. Unary and server-streaming
# calls arrive whole, split between the pools; the client's deadline
# (grpc-timeout) reaches the server; trailers (grpc-status, custom
# metadata) reach the client; a canary answering grpc-status 14 (UNAVAILABLE,
# in errors.grpc by default) counts as the canary's errors and is rolled back;
# a status outside errors.grpc is no error; an "h2" pool whose server is gone
# gives the client UNAVAILABLE and the pool a 502.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c 'import grpc' 2>/dev/null || skip "python3-grpcio is not installed"
PEER="$top_srcdir/tests/integration/grpc_peer.py"

B1=$(free_port); C1=$(free_port); DEAD=$(free_port)
PROXY=$(free_port); ADMIN=$(free_port)

# The servers run in $T: NAME.fail there makes one fail every call.
start_server() {	# NAME PORT
	(cd "$T" && exec "$PY" "$PEER" serve "$2" "$1") >"$T/$1.log" 2>&1 </dev/null &
	BG_PID=$!
	_WEIR_PID[$1]=$BG_PID
	printf '%s %s\n' "$BG_PID" "$1" >>"$T/.pids"
	wait_port "$2" 20 "$BG_PID"
}
start_server gbase "$B1"
start_server gcan "$C1"

cat >"$T/weir.conf" <<CONF
listen = ( { address = "127.0.0.1:$PROXY"; protocols = ( "h2c" ); } );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); protocol = "h2"; };
  canary   = { servers = ( "127.0.0.1:$C1" ); protocol = "h2"; };
};
split = { canary_weight = 30; };
# Only errors judge here: a p99 ratio could roll back by host noise and spoil
# the split share counted below.
guard = { max_error_rate = 0.05; max_p99_ratio = "off"; };
state_file = ""; event_log = "";
CONF
run "$WEIR" -t -c "$T/weir.conf"
assert_eq "an h2c listener and h2 pools are a valid configuration" "0:" "$RUN_RC:$RUN_ERR"
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
wait_port "$ADMIN" 10 "$BG_PID"

stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }
pool_stat() { json_get "$(stats)" ".pools.$1.total.$2"; }
canary_is() { [ "$(json_get "$(stats)" .weights.canary)" = "$1" ]; }
total_is() { [ $(( $(pool_stat baseline requests) + $(pool_stat canary requests) )) = "$1" ]; }
field() {	# NAME LINE: the value of NAME=... in a grpc_peer.py summary line
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

# ---- unary calls, split ---------------------------------------------------------
out=$("$PY" "$PEER" unary "127.0.0.1:$PROXY" 400)
assert_eq "400 unary calls through weir succeed" "400 0" "$(field ok "$out") $(field failed "$out")"
by=$(field by "$out")
base=$(sed -n 's/.*gbase:\([0-9]*\).*/\1/p' <<<"$by"); can=$(sed -n 's/.*gcan:\([0-9]*\).*/\1/p' <<<"$by")
# 30 % of 400: 120, sd 9.2; 4.5 sd either way
assert_num "canary share of 400 calls >= 79" "${can:-0}" ">=" 79
assert_num "canary share of 400 calls <= 161" "${can:-0}" "<=" 161
assert_eq "baseline took the rest" 400 $(( ${base:-0} + ${can:-0} ))
wait_for "weir's counts to reach 400" 10 total_is 400
assert_eq "weir counts the canary's calls as the servers answered them" "$can" "$(pool_stat canary requests)"
assert_eq "no errors counted" "0 0" "$(pool_stat baseline errors) $(pool_stat canary errors)"
metrics=$(hcurl "http://127.0.0.1:$ADMIN/metrics")
assert_contains "h2 requests counted by protocol" 'weir_downstream_requests_total{protocol="h2"} 400' "$metrics"

# ---- a server-streaming call, and trailers ----------------------------------------
out=$("$PY" "$PEER" stream "127.0.0.1:$PROXY" 500)
assert_eq "a server-streaming call delivers all 500 messages" "received=500 status=OK" "$out"
command -v nghttp >/dev/null || fail "nghttp (nghttp2-client) is needed"
printf '\0\0\0\0\2hi' >"$T/req.bin"
tr_out=$(nghttp -v -H 'content-type: application/grpc' -H 'te: trailers' -d "$T/req.bin" \
	"http://127.0.0.1:$PROXY/weir.Test/Unary" 2>&1 || true)
assert_contains "grpc-status arrives as a trailer" "grpc-status: 0" "$tr_out"
assert_contains "the server's trailing metadata arrives" "x-server: g" "$tr_out"
wait_for "the streaming call and the trailer check counted" 10 total_is 402

# ---- deadlines pass through ---------------------------------------------------------
out=$("$PY" "$PEER" deadline "127.0.0.1:$PROXY" 30)
left=$(field deadline "$out")
# At most the 30 s given, plus a little: gRPC's client encodes grpc-timeout
# rounded up, and the server counts what is left from its own receipt (one
# CI run saw 30.10 s). No deadline at all would print None and fail.
assert_num "the server sees the client's deadline (grpc-timeout), at most 30 s (+1 s of rounding)" "$left" "<=" 31
assert_num "... not cut short on the way (over 20 s left)" "$left" ">=" 20
wait_for "the deadline call counted" 10 total_is 403

# ---- a status outside errors.grpc is no error; one inside is --------------------
n=$(( $(pool_stat baseline requests) + $(pool_stat canary requests) ))
out=$("$PY" "$PEER" unary "127.0.0.1:$PROXY" 20 fail)
assert_eq "calls the servers fail get UNAVAILABLE" "0 20 UNAVAILABLE:20" \
	"$(field ok "$out") $(field failed "$out") $(field codes "$out")"
wait_for "weir's counts to reach $((n + 20))" 10 total_is $((n + 20))
assert_num "UNAVAILABLE answers are errors of their pool" \
	$(( $(pool_stat baseline errors) + $(pool_stat canary errors) )) ">=" 20

# ---- the canary failing every call is rolled back ---------------------------------
touch "$T/gcan.fail"
start_bg load "$PY" "$PEER" unary "127.0.0.1:$PROXY" 3000
wait_for "the guard to roll back the failing gRPC canary" 60 canary_is 0.0
assert_eq "the guard rolled it back" rolled_back "$(json_get "$(stats)" .guard.state)"
stop_bg load >/dev/null || true
rm -f "$T/gcan.fail"
out=$("$PY" "$PEER" unary "127.0.0.1:$PROXY" 20)
assert_eq "after the rollback every call goes to the baseline" "20 gbase:20" "$(field ok "$out") $(field by "$out")"

# ---- an h2 pool whose server is gone ------------------------------------------------
stop_bg weir
sed -i "s/127.0.0.1:$C1/127.0.0.1:$DEAD/; s/canary_weight = 30/canary_weight = 100/" "$T/weir.conf"
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
wait_port "$ADMIN" 10 "$BG_PID"
out=$("$PY" "$PEER" unary "127.0.0.1:$PROXY" 3)
assert_eq "a dead h2 server: the client gets UNAVAILABLE" "0 UNAVAILABLE:3" "$(field ok "$out") $(field codes "$out")"
wait_for "the failed calls counted" 10 total_is 3
assert_eq "... and the canary 3 errors (weir's 502)" 3 "$(pool_stat canary errors)"
stop_bg weir
done_testing
