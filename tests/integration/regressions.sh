#!/bin/bash
# Bugs found in review, each reproduced against a real weir so it stays fixed:
# head rewrites overflowing their buffer (ASan in the sanitizer build), a
# half-closed client losing the end of its response, a stalled upload
# charged to the pool as a 504, a pooled connection the backend closed
# answered 502, a reload moving the state file under a running weir.
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

done_testing
