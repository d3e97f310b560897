#!/bin/bash
# Bugs found in review, and behaviour a rewrite could break, each reproduced
# against a real weir so it stays fixed: head rewrites overflowing their
# buffer (ASan in the sanitizer build), a half-closed client losing the end
# of its response, idle connections answered and timed wrongly after giving
# their buffers back, parked backend connections never expiring, a stalled
# upload charged to the pool as a 504, a pooled connection the backend
# closed answered 502, a reload moving the state file under a running weir.
. "$(dirname "$0")/lib.sh"
REG="python3 $top_srcdir/tests/integration/regressions.py"

B1=$(free_port); C1=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_backend base1 "$B1"
start_backend canary1 "$C1"
cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); };
  canary   = { servers = ( "127.0.0.1:$C1" ); };
};
split = { canary_weight = 0; override_header = "X-Weir-Pool"; };
timeouts = { backend = "2s"; idle = "3s"; };
guard = { enabled = false; };
state_file = "$T/stateA"; event_log = "$T/eventsA.log";
CONF
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }

assert_status "rewritten request heads fit their buffer (IPv4 peer, every padding)" 0 \
	$REG head_sweep "$PROXY" 127.100.200.250
for v in 1.0 1.1; do
	assert_status "HTTP/$v client that half-closes gets the whole response" 0 \
		$REG halfclose "$PROXY" "$v" 4000000
done

# Idle keep-alive connections give their buffers back after a second and
# take some again at their next request: 300 of them (more than a worker
# keeps spare), each answered its own requests before and after, and each
# closed timeouts.idle (3 s) after its last answer.
assert_status "idle connections sleep and wake" 0 $REG dormant "$PROXY" 300 3

# A backend connection parked for reuse is closed once it has idled for
# timeouts.idle (3 s; the worker's tick expires it): not at once, and not
# never. Counted from the kernel's table of weir's established sockets.
to_backend() { awk -v p=":$(printf '%04X' "$B1")" '$4 == "01" && substr($3, 9) == p' /proc/net/tcp | wc -l; }
backend_conns_are() { [[ $(to_backend) == "$1" ]]; }
wait_for "earlier backend connections to expire" 10 backend_conns_are 0
t0=$(_weir_now_ms)
assert_eq "a request for the backend connection" 200 \
	"$(http_status "http://127.0.0.1:$PROXY/parked" -H "X-Weir-Pool: baseline")"
assert_eq "its backend connection is parked" 1 "$(to_backend)"
wait_for "the parked backend connection to expire" 10 backend_conns_are 0
idled=$(($(_weir_now_ms) - t0))
assert_num "the parked connection idled timeouts.idle first ($idled ms)" "$idled" ">=" 2900

# A client that stalls mid-upload: answered 408 by weir, not a pool error.
assert_status "stalled upload" 0 $REG stall "$PROXY"
assert_contains "stalled upload answered 408" "408" "$RUN_OUT"
sleep 0.5
assert_eq "stalled upload is not the canary's error" 0 "$(json_get "$(stats)" .pools.canary.total.errors)"

# Reload must not move the state file or event log under a running weir.
sed -i -e "s|stateA|stateB|" -e "s|eventsA|eventsB|" "$T/weir.conf"
assert_status "reload" 0 "$WEIRCTL" -s "$T/weir.sock" reload
assert_status "set weight after reload" 0 "$WEIRCTL" -s "$T/weir.sock" set weight canary 7
assert_contains "state still written to the old path" "7.00" "$(cat "$T/stateA")"
assert_eq "no state file at the new path before a restart" no "$([ -e "$T/stateB" ] && echo yes || echo no)"
assert_status "show events after reload" 0 "$WEIRCTL" -s "$T/weir.sock" show events 1
assert_contains "show events reads the log in use" set_weight "$RUN_OUT"

# Documents whose size grows with the configuration must come out whole: a
# 500-step rollout once cut /stats.json (and "show stats") off at 2 KiB.
stop_bg weir
STEPS=$(seq -s ', ' 500 | awk -v RS=', ' -v ORS=', ' '{ printf "%.1f, ", $1 / 5 }' | sed 's/, $//')
cat >"$T/steps.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); };
  canary   = { servers = ( "127.0.0.1:$C1" ); };
};
split = { canary_weight = 0.2; };
rollout = { steps = [ $STEPS ]; hold = "1h"; auto = false; };
state_file = "$T/stateS"; event_log = "$T/eventsS.log";
CONF
start_bg weir "$WEIR" -c "$T/steps.conf"
wait_port "$ADMIN" 10 "$BG_PID"
for k in $(seq 1 70); do
	"$WEIRCTL" -s "$T/weir.sock" promote >/dev/null
done
"$WEIRCTL" -s "$T/weir.sock" rollback 'a "quoted" \ reason' >/dev/null
valid_json() { python3 -m json.tool >/dev/null 2>&1 && echo valid || echo invalid; }
hcurl "http://127.0.0.1:$ADMIN/stats.json" >"$T/stats.json"
assert_eq "/stats.json with 500 rollout steps is valid JSON" valid "$(valid_json <"$T/stats.json")"
assert_eq "/stats.json lists all 500 steps" 500 \
	"$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["rollout"]["steps"]))' <"$T/stats.json")"
assert_eq "/stats.json carries the last step" 100 "$(json_get "$T/stats.json" '.rollout.steps[499]')"
assert_eq "/stats.json guard reason whole" 'a "quoted" \ reason' "$(json_get "$T/stats.json" .guard.reason)"
"$WEIRCTL" -s "$T/weir.sock" show stats >"$T/show_stats"
assert_eq "show stats with 500 rollout steps is valid JSON" valid "$(valid_json <"$T/show_stats")"
assert_eq "show stats lists all 500 steps" 500 \
	"$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["rollout"]["steps"]))' <"$T/show_stats")"
"$WEIRCTL" -s "$T/weir.sock" show report >"$T/show_report"
assert_eq "show report after 71 steps is valid JSON" valid "$(valid_json <"$T/show_report")"
hcurl "http://127.0.0.1:$ADMIN/report.json" >"$T/report.json"
assert_eq "/report.json after 71 steps is valid JSON" valid "$(valid_json <"$T/report.json")"
assert_eq "/report.json ends with the rollback's step" "current 0 rolled_back" \
	"$(python3 -c 'import json,sys; s=json.load(sys.stdin)["steps"]
print(s[-1]["outcome"], s[-1]["weight"], s[-2]["outcome"])' <"$T/report.json")"
assert_eq "/report.json counts the steps it dropped" 8 "$(json_get "$T/report.json" .dropped)"

done_testing
