#!/bin/bash
# The sequential guard (guard.method "sequential", the default) end to end:
# a canary switched to 30 % errors at ~200 canary requests/s is rolled back
# within seconds (the window rule needs its 5 s `for` plus a tick), with a
# reason naming the test, the estimate, the interval and both sample sizes;
# show guard and /stats.json show each test; a re-arm starts the evidence
# from zero; a healthy canary (1 % errors against max_error_rate 0.05) is
# not rolled back over 30 s of traffic; a rollout step waits after its hold
# until the evidence shows the canary within its thresholds.
. "$(dirname "$0")/lib.sh"
CLIENT="python3 $top_srcdir/tests/integration/client.py"

B1=$(free_port); C1=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_backend base1 "$B1" --latency-ms 5 --jitter-ms 2
start_backend canary1 "$C1" --latency-ms 5 --jitter-ms 2

rm -f "$T/state" "$T/events.log"
cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); };
  canary   = { servers = ( "127.0.0.1:$C1" ); };
};
split = { canary_weight = 50; expose_pool = true; };
guard = { max_error_rate = 0.05; };
state_file = "$T/state";
event_log = "$T/events.log";
CONF

run "$WEIR" -t -c "$T/weir.conf"
assert_eq "the configuration is clean (no window-only key)" "0:" "$RUN_RC:$RUN_ERR"

start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
wait_port "$ADMIN" 10 "$BG_PID"

stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }
stat_of() { json_get "$(stats)" "$1"; }
canary_is() { [ "$(stat_of .weights.canary)" = "$1" ]; }
ctl() { "$WEIRCTL" -s "$T/weir.sock" "$@"; }
now_ms() { date +%s%3N; }
# The first test's canary sample size (0 when not judged yet).
n_canary() {
	local n
	n=$(stat_of '.guard.tests[0].n_canary')
	[[ $n =~ ^[0-9]+$ ]] && echo "$n" || echo 0
}
judged_at_least() { [ "$(n_canary)" -ge "$1" ]; }

# ---- 30 % errors at ~200 canary requests/s ----------------------------------------
start_bg load "${CLIENT% *}" "${CLIENT#* }" load "$PROXY" 400 120
wait_for "sequential guard judging" 20 judged_at_least 100
s=$(stats)
assert_eq "method in /stats.json" sequential "$(json_get "$s" .guard.method)"
assert_eq "alpha in /stats.json" 0.001 "$(json_get "$s" .guard.alpha)"
assert_eq "first test is error_rate" error_rate "$(json_get "$s" '.guard.tests[0].name')"
assert_eq "tests: error_rate, error_rate_increase, p99_ratio" \
	"error_rate error_rate_increase p99_ratio" \
	"$(json_get "$s" '.guard.tests[0].name') $(json_get "$s" '.guard.tests[1].name') $(json_get "$s" '.guard.tests[2].name')"
assert_eq "threshold in the test" 0.05 "$(json_get "$s" '.guard.tests[0].threshold')"
assert_num "evidence below the boundary while healthy" "$(json_get "$s" '.guard.tests[0].evidence')" "<" 1
assert_num "interval: lower end <= estimate" "$(json_get "$s" '.guard.tests[0].interval[0]')" "<=" \
	"$(json_get "$s" '.guard.tests[0].estimate')"
assert_num "interval: upper end > 0" "$(json_get "$s" '.guard.tests[0].interval[1]')" ">" 0
assert_eq "guard watching" watching "$(json_get "$s" .guard.state)"
show=$(ctl show guard)
assert_contains "show guard: method" "method sequential" "$show"
assert_contains "show guard: error_rate test line" "test error_rate evidence " "$show"
assert_contains "show guard: p99_ratio test line" "test p99_ratio evidence " "$show"

t0=$(now_ms)
backend_set "$C1" "error_rate=0.3"
wait_for "rollback of the 30 % canary" 30 canary_is 0.0
t1=$(now_ms)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
note "30% errors at ~200 canary req/s: breach to canary 0 in ${secs}s"
# The window rule takes its `for` (5 s) plus up to a tick; generous bound for
# a shared machine, still clearly below it.
assert_num "rolled back well before the window rule could (< 5 s)" "$secs" "<" 5
ev=$(grep '"actor":"guard"' "$T/events.log" | grep '"action":"rollback"' | tail -n 1)
reason=$(json_get "$ev" .reason)
note "reason: $reason"
assert_contains "reason names the test" "sequential test error_rate" "$reason"
assert_contains "reason has the metric and estimate" "canary error_rate" "$reason"
assert_contains "reason has an interval" " [0." "$reason"
assert_contains "reason has the canary sample size" "canary n=" "$reason"
assert_contains "reason has the baseline sample size" "baseline n=" "$reason"
assert_contains "reason has the test's level" "alpha=0.000" "$reason"
assert_eq "guard rolled_back" rolled_back "$(stat_of .guard.state)"
# the run so far: every canary request since weir started
n_rb=$(stat_of .pools.canary.total.requests)
report=$(hcurl "http://127.0.0.1:$ADMIN/report.json")
assert_eq "report: the run's tests" error_rate "$(json_get "$report" '.guard.tests[0].name')"
assert_eq "report: the rollback step" rolled_back "$(json_get "$report" '.steps[0].outcome')"

# ---- re-arm: fresh evidence -------------------------------------------------------
backend_set "$C1" "error_rate=0"
# At weight 0 the canary gets no traffic: every canary request the re-armed
# guard judges came after this point.
c0=$(stat_of .pools.canary.total.requests)
ctl set weight canary 50 >/dev/null
s=$(stats)
assert_eq "re-armed: watching" watching "$(json_get "$s" .guard.state)"
n_new=$(json_get "$s" '.guard.tests[0].n_canary')
since=$(($(json_get "$s" .pools.canary.total.requests) - c0))
note "canary requests in the first run $n_rb; since the re-arm $since; judged: $n_new"
if [[ $n_new == null ]]; then
	pass "re-arm: evidence restarted (not judged yet)"
else
	assert_num "re-arm: only requests since the re-arm are judged" "$n_new" "<=" "$since"
fi
wait_for "re-armed guard judging" 20 judged_at_least 50
assert_num "re-armed: the old errors are forgotten" \
	"$(stat_of '.guard.tests[0].estimate')" "<" 0.05
stop_bg load 90 >/dev/null || true

# ---- healthy canary: 1 % errors against 5 %, 30 s at ~200 canary req/s ------------
backend_set "$B1" "error_rate=0.01"
backend_set "$C1" "error_rate=0.01"
ctl set weight canary 50 >/dev/null
run_for=${WEIR_HEALTHY_SECONDS:-30}
$CLIENT load "$PROXY" 400 "$run_for" >"$T/healthy.out"
note "healthy run: $(cat "$T/healthy.out")"
assert_eq "healthy canary never rolled back in ${run_for}s" 50.0 "$(stat_of .weights.canary)"
assert_eq "healthy canary: guard watching" watching "$(stat_of .guard.state)"
assert_eq "one rollback event in all (the 30 % drill)" 1 "$(grep -c '"action":"rollback"' "$T/events.log")"
assert_num "the healthy run was judged on many requests" "$(n_canary)" ">=" $((run_for * 50))
stop_bg weir

# ---- a rollout step advances on shown health, not on the absence of a rejection -----
# Default thresholds; 20 clean canary requests are far from any rejection
# but show nothing (max_p99_ratio alone needs ~1,100): the hold (1 s) ends,
# the step waits and says why.
backend_set "$B1" "error_rate=0"
backend_set "$C1" "error_rate=0"
rm -f "$T/state" "$T/events.log"
sed -i -e 's/^guard = .*$/guard = { max_error_rate = 0.05; };\
rollout = { steps = [ 10.0, 50.0 ]; hold = "1s"; auto = true; };/' \
	-e 's/canary_weight = 50;/canary_weight = 10;/' "$T/weir.conf"
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
wait_port "$ADMIN" 10 "$BG_PID"
$CLIENT load "$PROXY" 40 5 >/dev/null
awaiting() { [ "$(stat_of .rollout.awaiting_evidence)" = true ]; }
wait_for "the step waits for evidence after its hold" 10 awaiting
assert_eq "no advance without shown health" 10.0 "$(stat_of .weights.canary)"
assert_contains "weir says which bound is in the way" "not yet below" "$(cat "$(bg_log weir)")"
# Thresholds a few dozen clean requests can show (a reload with new
# thresholds starts the evidence over): then the step advances.
sed -i 's/^guard = .*$/guard = { max_error_rate = 0.5; max_error_rate_increase = "off"; max_p99_ratio = "off"; };/' \
	"$T/weir.conf"
assert_eq "reload with thresholds that little traffic can show" 0 "$(ctl reload >/dev/null; echo $?)"
start_bg load "${CLIENT% *}" "${CLIENT#* }" load "$PROXY" 100 90
wait_for "the step advances once health is shown" 80 canary_is 50.0
assert_eq "one advance, by the rollout" 1 \
	"$(grep '"action":"advance"' "$T/events.log" | grep -c '"actor":"rollout"')"
stop_bg load 90 >/dev/null || true
stop_bg weir
done_testing
