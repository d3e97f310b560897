#!/bin/bash
# Active health checks (pools.X.check), end to end:
#   - weir -t: a check without path, a bad expect, with file:line.
#   - check traffic is not counted in the pools' request statistics.
#   - a baseline server stopped goes down within fall x interval + timeout
#     and, restarted, up again within rise x interval (plus a generous
#     margin for a loaded machine), with zero failed client requests while
#     the other server is up; a reload keeps the state of servers that stay.
#   - a server that accepts but never answers goes down by timeout.
#   - TLS checks against a pool whose server has an untrusted certificate fail.
#   - all canary servers down: rollback at once, reason in the event log;
#     all baseline servers down: an alert, a 503 from that pool, and its
#     traffic is not moved to the canary.
#   - a rollout does not advance while a checked canary server is not up.
. "$(dirname "$0")/lib.sh"
CLIENT="$top_srcdir/tests/integration/client.py"
require_cmd openssl

B1=$(free_port); B2=$(free_port); C1=$(free_port); C2=$(free_port)
PROXY=$(free_port); ADMIN=$(free_port)
INTERVAL_MS=300; TIMEOUT_MS=200; RISE=2; FALL=2
MARGIN_MS=4000   # scheduling on a shared, loaded machine

start_backend base1 "$B1"
start_backend base2 "$B2"
start_backend canary1 "$C1"

# write_conf WEIGHT CANARY_SERVERS [EXTRA]
write_conf() {
	rm -f "$T/state" "$T/events.log"
	cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1", "127.0.0.1:$B2" );
               check = { path = "/healthz"; interval = ${INTERVAL_MS}; timeout = ${TIMEOUT_MS};
                         rise = $RISE; fall = $FALL; }; };
  canary   = { servers = ( $2 );
               check = { path = "/healthz"; interval = ${INTERVAL_MS}; timeout = ${TIMEOUT_MS};
                         rise = $RISE; fall = $FALL; expect = "200, 204"; }; };
};
split = { canary_weight = $1; expose_pool = true; override_header = "X-Weir-Pool"; };
state_file = "$T/state";
event_log = "$T/events.log";
${3:-}
CONF
}
start_weir() {
	start_bg weir "$WEIR" -c "$T/weir.conf"
	wait_port "$PROXY" 10 "$BG_PID"
	wait_port "$ADMIN" 10 "$BG_PID"
}
stop_weir() { stop_bg weir; }
ctl() { "$WEIRCTL" -s "$T/weir.sock" "$@"; }
stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }
stat_of() { json_get "$(stats)" "$1"; }
# state_of ADDRESS: its state in "show servers"
state_of() { ctl show servers | awk -v a="$1" '$2 == a { print $3 }'; }
state_is() { [ "$(state_of "127.0.0.1:$1")" = "$2" ]; }
now_ms() { date +%s%3N; }

# ---- weir -t -------------------------------------------------------------------
cat >"$T/bad.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
pools = { baseline = { servers = ( "127.0.0.1:$B1" );
                       check = { interval = "1s"; }; };
          canary = { servers = ( "127.0.0.1:$C1" );
                     check = { path = "/healthz"; expect = "2xx, 600"; }; }; };
CONF
run "$WEIR" -t -c "$T/bad.conf"
assert_eq "weir -t: invalid checks fail" 1 "$RUN_RC"
assert_contains "weir -t: missing path at file:line" \
	"$T/bad.conf:3: pools.baseline.check.path is required" "$RUN_ERR"
assert_contains "weir -t: bad expect at file:line" \
	"$T/bad.conf:5: pools.canary.check.expect: \"600\" is neither" "$RUN_ERR"

# ---- down and up, no failed request, reload ---------------------------------------
write_conf 0 "\"127.0.0.1:$C1\""
start_weir
wait_for "every server up" 15 eval 'state_is "$B1" up && state_is "$B2" up && state_is "$C1" up'
ok "every server checked up"
hits_before=$(json_get "$(backend_stats "$B1")" .hits)
sleep 1.5 # about five more checks of each server
assert_eq "check traffic is not in baseline's requests" 0 "$(stat_of .pools.baseline.total.requests)"
assert_eq "check traffic is not in canary's requests" 0 "$(stat_of .pools.canary.total.requests)"
hits_after=$(json_get "$(backend_stats "$B1")" .hits)
assert_num "the backend did see the checks" "$hits_after" ">" "$hits_before"
assert_eq "stats.json: last_check status" 200 "$(stat_of .pools.baseline.servers[0].last_check.status)"
assert_contains "metrics: weir_server_up" \
	"weir_server_up{pool=\"baseline\",server=\"127.0.0.1:$B2\"} 1" \
	"$(hcurl "http://127.0.0.1:$ADMIN/metrics")"

start_bg load "$WEIR_PYTHON" "$CLIENT" load "$PROXY" 100 14
t0=$(now_ms)
stop_bg base2
# The check's own verdict: with traffic on, the proxy's back-off on refused
# connections shows the server down sooner, before any check has failed.
wait_for "base2 checked down" 20 grep -qF "127.0.0.1:$B2: check down after $FALL failure(s) in a row (Connection refused)" "$(bg_log weir)"
t1=$(now_ms)
down_ms=$((t1 - t0))
note "stopped server checked down after ${down_ms} ms (fall x interval + timeout = $((FALL * INTERVAL_MS + TIMEOUT_MS)) ms)"
assert_num "down within fall x interval + timeout (+${MARGIN_MS} ms margin)" \
	"$down_ms" "<=" $((FALL * INTERVAL_MS + TIMEOUT_MS + MARGIN_MS))
assert_eq "stats.json: a down server's state" down "$(stat_of .pools.baseline.servers[1].state)"
assert_contains "show servers: the reason" "Connection refused" "$(ctl show servers)"
assert_contains "metrics: weir_server_up 0" \
	"weir_server_up{pool=\"baseline\",server=\"127.0.0.1:$B2\"} 0" \
	"$(hcurl "http://127.0.0.1:$ADMIN/metrics")"

# A reload keeps the state of servers that stay (not "unchecked" again).
sed -i 's/expose_pool = true;/expose_pool = true; sticky_header = "X-User-Id";/' "$T/weir.conf"
kill_bg weir HUP
wait_for "reload applied" 10 grep -q "applied" "$(bg_log weir)"
assert_eq "reload: the down server stays down" down "$(state_of "127.0.0.1:$B2")"
assert_eq "reload: an up server stays up" up "$(state_of "127.0.0.1:$B1")"

sleep 1
start_backend base2 "$B2"
t0=$(now_ms)
wait_for "base2 up again" 20 state_is "$B2" up
t1=$(now_ms)
up_ms=$((t1 - t0))
note "restarted server up after ${up_ms} ms (rise x interval = $((RISE * INTERVAL_MS)) ms)"
assert_num "up within rise x interval (+${MARGIN_MS} ms margin)" \
	"$up_ms" "<=" $((RISE * INTERVAL_MS + MARGIN_MS))
wait_bg load 40
load_out=$(tail -n 1 "$(bg_log load)")
note "client during the stop and restart: $load_out"
assert_contains "zero failed requests while another server was up" "errors=0" "$load_out"
assert_contains "the client did run" "other=0" "$load_out"
assert_num "baseline requests during the drill" "$(stat_of .pools.baseline.total.requests)" ">" 200

# ---- all baseline servers down: alert, 503, nothing moved to the canary ----------------
ctl set weight canary 10 >/dev/null
backend_set "$B1" "error_rate=1"
backend_set "$B2" "error_rate=1"
wait_for "baseline pool down" 20 eval 'state_is "$B1" down && state_is "$B2" down'
wait_for "baseline alert event" 10 grep -q '"alert".*pool baseline has no server up' "$T/events.log"
ok "baseline with no server up: alert in the event log"
# Sent with the override header: counted in each pool's `overridden`.
base_before=$(stat_of .pools.baseline.total.overridden)
canary_before=$(stat_of .pools.canary.total.overridden)
statuses=""
for _ in 1 2 3 4 5 6 7 8; do
	statuses+="$(http_status "http://127.0.0.1:$PROXY/" -H "X-Weir-Pool: baseline") "
done
assert_eq "baseline with no server up answers 503" "503 503 503 503 503 503 503 503 " "$statuses"
overridden_at_least() { (($(stat_of .pools.baseline.total.overridden) >= $1)); }
wait_for "the 8 requests counted in the baseline pool" 10 overridden_at_least $((base_before + 8))
assert_eq "its traffic is not moved to the canary" "$canary_before" "$(stat_of .pools.canary.total.overridden)"
assert_eq "the canary weight stays" 10.0 "$(stat_of .weights.canary)"
backend_set "$B1" "error_rate=0"
backend_set "$B2" "error_rate=0"

# ---- all canary servers down: rollback at once ------------------------------------------
backend_set "$C1" "error_rate=1"
wait_for "canary rolled back" 15 eval '[ "$(stat_of .weights.canary)" = 0.0 ]'
assert_eq "guard state" rolled_back "$(stat_of .guard.state)"
assert_contains "the reason names the pool and the check" \
	"pool canary has no server up: 127.0.0.1:$C1 status 500 (expect 200,204)" \
	"$(stat_of .guard.reason)"
assert_contains "rollback in the event log with the reason" \
	"\"actor\":\"guard\",\"action\":\"rollback\"" "$(grep 'pool canary has no server up' "$T/events.log")"
backend_set "$C1" "error_rate=0"
stop_weir

# ---- a hanging server goes down by timeout; a bad certificate fails ------------------
HANG=$(free_port); TLS_PORT=$(free_port)
start_bg hang "$WEIR_PYTHON" -c "import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $HANG)); s.listen(64); time.sleep(120)"
wait_port "$HANG" 10 "$BG_PID"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=rogue" \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$T/rogue.key" -out "$T/rogue.pem" -days 2 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=trusted" \
	-keyout "$T/trusted.key" -out "$T/trusted.pem" -days 2 2>/dev/null
start_bg tlsbe openssl s_server -quiet -www -accept "127.0.0.1:$TLS_PORT" \
	-cert "$T/rogue.pem" -key "$T/rogue.key"
wait_port "$TLS_PORT" 10 "$BG_PID"
cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$HANG", "127.0.0.1:$B1" );
               check = { path = "/healthz"; interval = ${INTERVAL_MS}; timeout = ${TIMEOUT_MS};
                         rise = $RISE; fall = $FALL; }; };
  canary   = { servers = ( "127.0.0.1:$TLS_PORT" );
               tls = { ca = "$T/trusted.pem"; };
               check = { path = "/"; interval = ${INTERVAL_MS}; timeout = ${TIMEOUT_MS};
                         rise = $RISE; fall = $FALL; }; };
};
split = { canary_weight = 0; };
state_file = "$T/state";
event_log = "$T/events.log";
CONF
rm -f "$T/state" "$T/events.log"
start_weir
wait_for "hanging server down" 15 state_is "$HANG" down
assert_contains "hanging server: down by timeout" "timeout after ${TIMEOUT_MS} ms" \
	"$(ctl show servers | grep "127.0.0.1:$HANG")"
wait_for "bad-certificate server down" 15 state_is "$TLS_PORT" down
assert_contains "TLS check against an untrusted certificate fails" \
	"TLS certificate verification failed" "$(ctl show servers | grep "127.0.0.1:$TLS_PORT")"
assert_eq "the hanging server gets no request" "200 200 200 200" \
	"$(for _ in 1 2 3 4; do printf '%s ' "$(http_status "http://127.0.0.1:$PROXY/")"; done | sed 's/ $//')"
stop_weir
stop_bg tlsbe || true
stop_bg hang || true

# ---- a rollout waits for every checked canary server up ---------------------------------
# Thresholds a few dozen clean requests can show the canary to be within
# (a step advances only on that proof; p99 bounds would need ~1,100).
write_conf 50 "\"127.0.0.1:$C1\", \"127.0.0.1:$C2\"" \
	'guard = { max_error_rate = 0.5; max_error_rate_increase = "off"; max_p99_ratio = "off"; };
rollout = { steps = [ 50.0, 100.0 ]; hold = "1s"; auto = true; };'
start_weir
wait_for "canary1 up" 15 state_is "$C1" up
wait_for "canary2 down" 15 state_is "$C2" down
# Traffic throughout: the sequential guard judges (and a step can be shown
# healthy) only once the canary has seen requests.
some_traffic() {	# SECONDS: a request every 50 ms or so
	local end=$((SECONDS + $1))
	while ((SECONDS < end)); do http_status "http://127.0.0.1:$PROXY/" >/dev/null; sleep 0.05; done
}
advanced() {
	some_traffic 1
	[ "$(stat_of .weights.canary)" = 100.0 ]
}
some_traffic 8 # enough requests to show health, many ticks past the hold
assert_eq "no advance with a canary server down" 50.0 "$(stat_of .weights.canary)"
start_backend canary2 "$C2"
wait_for "rollout advances once both are up" 30 advanced
ok "rollout advanced with a healthy canary pool"
stop_weir

done_testing
