#!/bin/bash
# The window rule (guard.method "window"; the sequential default has its own
# test, guard_sequential.sh) end to end, with its defaults (interval 1s,
# window 30s, for 5s, max_error_rate 0.02, max_p99_ratio 1.5): a canary
# switched to 30 % errors, and separately to +50 ms, is rolled back within
# 30 s and gets no request afterwards; a healthy canary at 1 % errors and
# ~20 requests/s is never rolled back in a minute; a staged rollout advances.
. "$(dirname "$0")/lib.sh"
CLIENT="python3 $top_srcdir/tests/integration/client.py"

B1=$(free_port); C1=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_backend base1 "$B1" --latency-ms 5 --jitter-ms 2
start_backend canary1 "$C1" --latency-ms 5 --jitter-ms 2

WINDOW_GUARD='guard = { method = "window"; };'
# write_conf WEIGHT [EXTRA] (EXTRA replaces WINDOW_GUARD)
write_conf() {
	rm -f "$T/state" "$T/events.log"
	cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); };
  canary   = { servers = ( "127.0.0.1:$C1" ); };
};
split = { canary_weight = $1; expose_pool = true; };
state_file = "$T/state";
event_log = "$T/events.log";
${2:-$WINDOW_GUARD}
CONF
}
start_weir() {
	start_bg weir "$WEIR" -c "$T/weir.conf"
	wait_port "$PROXY" 10 "$BG_PID"
	wait_port "$ADMIN" 10 "$BG_PID"
}
stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }
stat_of() { json_get "$(stats)" "$1"; }
canary_is() { [ "$(stat_of .weights.canary)" = "$1" ]; }
guard_is() { [ "$(stat_of .guard.state)" = "$1" ]; }
canary_window_at_least() { [ "$(stat_of .pools.canary.window.requests)" -ge "$1" ]; }
hits() { json_get "$(backend_stats "$1")" .hits; }
now_ms() { date +%s%3N; }

# breach_drill NAME BACKEND_QUERY METRIC: healthy traffic, then break the
# canary; measure switch -> canary weight 0; check nothing reaches it after.
breach_drill() {
	local name=$1 query=$2 metric=$3 t0 t1 h1 h2
	write_conf 10
	start_weir
	start_bg load "${CLIENT% *}" "${CLIENT#* }" load "$PROXY" 200 60
	wait_for "$name: guard judging (100 canary requests in the window)" 20 canary_window_at_least 100
	assert_eq "$name: guard watching before the breach" watching "$(stat_of .guard.state)"
	t0=$(now_ms)
	backend_set "$C1" "$query"
	wait_for "$name: rollback" 30 canary_is 0.0
	t1=$(now_ms)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
	note "$name: breach to canary 0 in ${secs}s"
	echo "$name ${secs}" >>"$T/times"
	assert_num "$name: rolled back within 30 s" "$secs" "<" 30
	assert_eq "$name: guard rolled_back" rolled_back "$(stat_of .guard.state)"
	h1=$(hits "$C1")
	sleep 2	# traffic goes on: none of it may reach the canary
	h2=$(hits "$C1")
	assert_eq "$name: no request reaches the canary after the rollback" "$h1" "$h2"
	ev=$(grep '"actor":"guard"' "$T/events.log" | grep '"action":"rollback"' | tail -n 1)
	assert_contains "$name: rollback event names the metric" "$metric" "$(json_get "$ev" .reason)"
	assert_eq "$name: event after = canary 0" 0.0 "$(json_get "$ev" .after.canary)"
	assert_contains "$name: state file says rolled_back" rolled_back "$(cat "$T/state")"
	stop_bg load 90 >/dev/null || true
	stop_bg weir
	backend_set "$C1" "error_rate=0&latency_ms=5"
}

breach_drill "30% errors" "error_rate=0.3" "error_rate"
breach_drill "+50ms latency" "latency_ms=55" "p99"
note "breach-to-rollback seconds: $(tr '\n' ' ' <"$T/times")"

# ---- healthy canary at 1 % errors, ~20 canary requests/s, one minute -------------------
backend_set "$B1" "error_rate=0.01"
backend_set "$C1" "error_rate=0.01"
write_conf 10
start_weir
run_for=${WEIR_HEALTHY_SECONDS:-60}
$CLIENT load "$PROXY" 200 "$run_for" >"$T/healthy.out"
note "healthy run: $(cat "$T/healthy.out")"
assert_eq "healthy canary never rolled back in ${run_for}s" 10.0 "$(stat_of .weights.canary)"
assert_ne "healthy canary guard not rolled_back" rolled_back "$(stat_of .guard.state)"
n=$(grep -c '"action":"rollback"' "$T/events.log" || true)
assert_eq "no rollback event" 0 "$n"
canary_req=$(stat_of .pools.canary.total.requests)
assert_num "the canary had ~20 requests/s" "$canary_req" ">=" $((run_for * 12))
stop_bg weir
backend_set "$B1" "error_rate=0"
backend_set "$C1" "error_rate=0"

# ---- staged rollout 1 -> 10 -> 25 -> 50 -> 100 ---------------------------------------------

write_conf 1 'guard = { method = "window"; min_requests = 5; };
rollout = { steps = [ 1.0, 10.0, 25.0, 50.0, 100.0 ]; hold = "2s"; auto = true; };'
start_weir
assert_eq "rollout starts at step 1" 1 "$(stat_of .rollout.step)"
start_bg load "${CLIENT% *}" "${CLIENT#* }" load "$PROXY" 300 90
wait_for "rollout to reach 100 %" 80 canary_is 100.0
assert_eq "guard promoted at the last step" promoted "$(stat_of .guard.state)"
advances=$(grep -c '"action":"advance"' "$T/events.log" || true)
assert_eq "four advances, each an event" 4 "$advances"
assert_eq "advances by the rollout" 4 "$(grep '"action":"advance"' "$T/events.log" | grep -c '"actor":"rollout"')"
report=$(hcurl "http://127.0.0.1:$ADMIN/report.json")
assert_eq "report: first step advanced" advanced "$(json_get "$report" '.steps[0].outcome')"
assert_eq "report: last step current" current "$(json_get "$report" '.steps[4].outcome')"
assert_num "report: step 2 has canary requests" "$(json_get "$report" '.steps[1].pools.canary.requests')" ">" 0
stop_bg load 90 >/dev/null || true

done_testing
