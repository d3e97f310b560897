#!/bin/bash
# What weir counts, and what the guard judges:
#  - /stats.json has abandoned and overridden (total and window), /metrics
#    weir_abandoned_total and weir_overridden_total;
#  - weir_request_duration_seconds_count and _sum are since start: they do not
#    go down when the window passes (a counter reset for rate()), while the
#    quantiles stay the window's;
#  - requests routed by the override header are counted as overridden and
#    never judged: a healthy canary is not rolled back when only override
#    traffic to it fails, and those failures are in no error count.
. "$(dirname "$0")/lib.sh"
CLIENT="python3 $top_srcdir/tests/integration/client.py"
EVIL=("$WEIR_PYTHON" -S "$top_srcdir/tests/integration/evil_backend.py")

B1=$(free_port); C1=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_backend base1 "$B1" --latency-ms 2
start_backend canary1 "$C1" --latency-ms 2

# write_conf WEIGHT CANARY_PORT GUARD
write_conf() {
	rm -f "$T/state" "$T/events.log"
	cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); };
  canary   = { servers = ( "127.0.0.1:$2" ); };
};
split = { canary_weight = $1; expose_pool = true; override_header = "X-Weir-Pool"; };
guard = $3;
state_file = "$T/state";
event_log = "$T/events.log";
CONF
}
start_weir() {
	start_bg weir "$WEIR" -c "$T/weir.conf"
	wait_port "$PROXY" 10 "$BG_PID"
	wait_port "$ADMIN" 10 "$BG_PID"
}
stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }
stat_of() { json_get "$(stats)" "$1"; }
metrics() { hcurl "http://127.0.0.1:$ADMIN/metrics"; }
metric() { metrics | awk -v k="$1" '$1 == k { print $2 }'; }
stat_is() { [ "$(stat_of "$1")" = "$2" ]; }
stat_at_least() { [ "$(stat_of "$1")" -ge "$2" ]; }

# ---- fields, and since-start _count/_sum across a window roll-over ----------------------
write_conf 50.0 "$C1" '{ window = "2s"; }'
start_weir
run $CLIENT count "$PROXY" 40
assert_contains "40 requests answered" "other=0" "$RUN_OUT"
both_counted() {
	(($(metric 'weir_request_duration_seconds_count{pool="baseline"}') + \
		$(metric 'weir_request_duration_seconds_count{pool="canary"}') == 40))
}
wait_for "weir_request_duration_seconds_count of both pools = 40" 10 both_counted
s=$(stats)
for path in .pools.canary.total.abandoned .pools.canary.window.abandoned \
	.pools.canary.total.overridden .pools.canary.window.overridden \
	.pools.baseline.total.abandoned .pools.baseline.window.overridden; do
	assert_eq "/stats.json $path is 0" 0 "$(json_get "$s" "$path")"
done
metrics >"$T/m1"
families=$(sed -n 's/^# TYPE \(weir_[a-z_]*\) \(.*\)/\1 \2/p' "$T/m1")
assert_contains "weir_abandoned_total is a counter" "weir_abandoned_total counter" "$families"
assert_contains "weir_overridden_total is a counter" "weir_overridden_total counter" "$families"
for pool in baseline canary; do
	assert_contains "weir_abandoned_total{pool=\"$pool\"}" "weir_abandoned_total{pool=\"$pool\"} 0" "$(cat "$T/m1")"
done
# Let the 2-s window pass: it empties, the since-start series stay.
window_empty() { stat_is .pools.baseline.window.requests 0 && stat_is .pools.canary.window.requests 0; }
wait_for "the window to pass" 15 window_empty
metrics >"$T/m2"
val() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
for pool in baseline canary; do
	for suffix in count sum; do
		k="weir_request_duration_seconds_$suffix{pool=\"$pool\"}"
		before=$(val "$T/m1" "$k"); after=$(val "$T/m2" "$k")
		assert_num "$pool _$suffix was counted" "$before" ">" 0
		assert_eq "$pool _$suffix does not go down when the window passes" "$before" "$after"
	done
	assert_eq "$pool _count = total.requests" "$(stat_of ".pools.$pool.total.requests")" \
		"$(val "$T/m2" "weir_request_duration_seconds_count{pool=\"$pool\"}")"
	assert_eq "$pool p99 is the (empty) window's" 0.000000 \
		"$(val "$T/m2" "weir_request_duration_seconds{pool=\"$pool\",quantile=\"0.99\"}")"
done
stop_bg weir

# ---- override traffic: counted, never judged ------------------------------------------
# The canary is tests/integration/evil_backend.py: /load is answered 200,
# /mode/close_no_answer gets nothing (weir answers 502).
EB=$(free_port)
start_bg evil "${EVIL[@]}" serve "$EB"
wait_port "$EB" 10 "$BG_PID"
write_conf 10.0 "$EB" '{ window = "10s"; }'
start_weir
start_bg load "${CLIENT% *}" "${CLIENT#* }" load "$PROXY" 200 40
wait_for "guard judging (100 canary requests in the window)" 30 stat_at_least .pools.canary.window.requests 100
assert_eq "guard watching" watching "$(stat_of .guard.state)"
cat >"$T/override.py" <<'PY'
import http.client, sys
port = int(sys.argv[1])
codes = {}
for pool, path, n in (("canary", "/mode/close_no_answer", 300), ("baseline", "/ov", 50)):
    for i in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", path, headers={"X-Weir-Pool": pool})
        r = c.getresponse()
        r.read()
        c.close()
        codes["%s:%d" % (pool, r.status)] = codes.get("%s:%d" % (pool, r.status), 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(codes.items())))
PY
run python3 "$T/override.py" "$PROXY"
assert_eq "override traffic: 300 canary 502s, 50 baseline 200s" "baseline:200=50 canary:502=300" "$RUN_OUT"
wait_for "canary total.overridden = 300" 10 stat_is .pools.canary.total.overridden 300
wait_for "baseline total.overridden = 50" 10 stat_is .pools.baseline.total.overridden 50
# (the 10-s window may already be letting the first ones go)
assert_num "window.overridden counted" "$(stat_of .pools.canary.window.overridden)" ">" 0
# Under the old rule these 300 errors breach at once and roll back 5 s later
# (guard "for"); give it twice that.
end=$(($(date +%s) + 10))
while (($(date +%s) < end)); do
	[[ $(stat_of .weights.canary) == 10.0 ]] || fail "the canary was rolled back for override traffic: $(stat_of .guard.reason)"
	sleep 0.5
done
ok "a healthy canary is not rolled back when only override traffic fails"
s=$(stats)
assert_eq "override errors are no canary errors (total)" 0 "$(json_get "$s" .pools.canary.total.errors)"
assert_eq "nor in the window" 0 "$(json_get "$s" .pools.canary.window.errors)"
assert_eq "weir_overridden_total{pool=\"canary\"}" 300 "$(metric 'weir_overridden_total{pool="canary"}')"
assert_eq "weir_errors_total{pool=\"canary\"} stays 0" 0 "$(metric 'weir_errors_total{pool="canary"}')"
assert_eq "guard still watching" watching "$(json_get "$s" .guard.state)"
stop_bg load 90 >/dev/null || true
stop_bg weir

done_testing
