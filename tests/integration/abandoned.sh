#!/bin/bash
# Requests whose client leaves first (INTERFACE.md). A canary that stops
# answering, with clients that give up after 1 s (long before
# timeouts.backend = 30 s), is rolled back within 15 s at guard window 10 s,
# for its error rate. With errors = { abandoned = false; } the same requests
# are still counted as abandoned (and logged 499), but are no errors. A
# request that arrives with its client's close (it left while weir had not
# read it yet: an overloaded weir's accept queue) is measured by its outcome.
. "$(dirname "$0")/lib.sh"
CLIENT="python3 $top_srcdir/tests/integration/client.py"

B1=$(free_port); C1=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_backend base1 "$B1" --latency-ms 5 --jitter-ms 2
start_backend canary1 "$C1" --latency-ms 5 --jitter-ms 2

# write_conf EXTRA
write_conf() {
	rm -f "$T/state" "$T/events.log" "$T/access.log"
	cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); };
  canary   = { servers = ( "127.0.0.1:$C1" ); };
};
split = { canary_weight = 30.0; expose_pool = true; };
guard = { window = "10s"; };
timeouts = { drain = "1s"; };
state_file = "$T/state";
event_log = "$T/events.log";
access_log = "$T/access.log";
$1
CONF
}
start_weir() {
	start_bg weir "$WEIR" -c "$T/weir.conf"
	wait_port "$PROXY" 10 "$BG_PID"
	wait_port "$ADMIN" 10 "$BG_PID"
}
stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }
stat_of() { json_get "$(stats)" "$1"; }
metric() { hcurl "http://127.0.0.1:$ADMIN/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
canary_is() { [ "$(stat_of .weights.canary)" = "$1" ]; }
stat_at_least() { [ "$(stat_of "$1")" -ge "$2" ]; }	# PATH N, for wait_for
now_ms() { date +%s%3N; }

# ---- a hanging canary, 1-s clients: rolled back for its error rate --------------------
write_conf ""
start_weir
start_bg load "${CLIENT% *}" "${CLIENT#* }" impatient "$PROXY" 50 60 1
# The guard judges (min_requests = 100 in the window) before the hang.
wait_for "guard judging before the hang" 30 stat_at_least .pools.canary.window.requests 100
assert_eq "guard watching before the hang" watching "$(stat_of .guard.state)"
t0=$(now_ms)
backend_set "$C1" "latency_ms=3600000"
wait_for "rollback of the hanging canary" 30 canary_is 0.0
t1=$(now_ms)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
note "hang to canary 0 in ${secs}s"
assert_num "hanging canary rolled back within 15 s" "$secs" "<" 15
assert_eq "guard rolled_back" rolled_back "$(stat_of .guard.state)"
reason=$(grep '"actor":"guard"' "$T/events.log" | tail -n 1)
assert_contains "rollback reason names the error rate" "error_rate" "$reason"
s=$(stats)
ab=$(json_get "$s" .pools.canary.total.abandoned)
assert_num "canary requests counted abandoned" "$ab" ">" 0
assert_num "abandoned requests are canary errors" "$(json_get "$s" .pools.canary.total.errors)" ">=" "$ab"
assert_num "window.abandoned counted" "$(json_get "$s" .pools.canary.window.abandoned)" ">" 0
assert_num "their wait is the canary's latency (p99 near the 1-s client timeout)" \
	"$(json_get "$s" .pools.canary.total.p99_ms)" ">" 500
assert_eq "the baseline abandoned nothing" 0 "$(json_get "$s" .pools.baseline.total.abandoned)"
stop_bg load 90 >/dev/null || true
# Once the last clients have given up, the metric and the JSON agree.
metric_is_stat() {
	[ "$(metric 'weir_abandoned_total{pool="canary"}')" = "$(stat_of .pools.canary.total.abandoned)" ]
}
wait_for "weir_abandoned_total{pool=\"canary\"} = total.abandoned" 10 metric_is_stat
stop_bg weir
backend_set "$C1" "latency_ms=5"

# ---- errors.abandoned = false: counted as abandoned, not as errors --------------------
write_conf 'errors = { abandoned = false; };'
backend_set "$C1" "latency_ms=3600000"
start_weir
run $CLIENT impatient "$PROXY" 20 4 0.5
assert_contains "clients gave up" "gave_up=" "$RUN_OUT"
wait_for "abandoned canary requests counted" 10 stat_at_least .pools.canary.total.abandoned 3
s=$(stats)
assert_eq "abandoned, but no canary errors" 0 "$(json_get "$s" .pools.canary.total.errors)"
assert_eq "and no canary requests judged" 0 "$(json_get "$s" .pools.canary.total.requests)"
assert_num "window.abandoned counted" "$(json_get "$s" .pools.canary.window.abandoned)" ">=" 3
assert_eq "weir_errors_total{pool=\"canary\"} stays 0" 0 "$(metric 'weir_errors_total{pool="canary"}')"
assert_eq "the canary is not rolled back" 30.0 "$(stat_of .weights.canary)"
# One access log line per abandoned request, status 499, with its pool.
has_499() { (($(awk '$5 == 499 && $6 == "canary"' "$T/access.log" | wc -l) >= 3)); }
wait_for "abandoned requests logged 499" 10 has_499
stop_bg weir
backend_set "$C1" "latency_ms=5"

# ---- request and FIN together: weir's delay, not the pool's ------------------------------
write_conf ""
backend_set "$C1" "latency_ms=1500"
start_weir
# TCP_CORK holds the request until shutdown() sends it with the FIN: weir
# finds the client gone as it routes the request, as for one that waited in
# the accept queue until it gave up.
cat >"$T/early.py" <<'PY'
import socket, sys
port = int(sys.argv[1])
socks = []
for i in range(30):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    s.sendall(b"GET /early/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    s.shutdown(socket.SHUT_WR)
    socks.append(s)
for s in socks:
    s.close()
print("sent", len(socks))
PY
run python3 "$T/early.py" "$PROXY"
assert_eq "30 requests sent with their FIN" "sent 30" "$RUN_OUT"
all_measured() { (($(stat_of .pools.baseline.total.requests) + $(stat_of .pools.canary.total.requests) == 30)); }
wait_for "all 30 measured by their outcome" 15 all_measured
s=$(stats)
assert_num "some went to the slow canary" "$(json_get "$s" .pools.canary.total.requests)" ">" 0
assert_eq "none abandoned" 0 $(($(json_get "$s" .pools.canary.total.abandoned) + $(json_get "$s" .pools.baseline.total.abandoned)))
assert_eq "no canary error" 0 "$(json_get "$s" .pools.canary.total.errors)"
stop_bg weir
backend_set "$C1" "latency_ms=5"

done_testing
