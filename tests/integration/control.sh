#!/bin/bash
# Operations: the control socket through weirctl and raw clients, the state
# file across kill -9, the event log, /stats.json and /metrics, reload.
. "$(dirname "$0")/lib.sh"
CLIENT="python3 $top_srcdir/tests/integration/client.py"

B1=$(free_port); B2=$(free_port); C1=$(free_port)
PROXY=$(free_port); ADMIN=$(free_port)
SOCK=$T/weir.sock
start_backend base1 "$B1"
start_backend base2 "$B2"
start_backend canary1 "$C1"

# write_conf FILE CANARY_WEIGHT BASELINE_SERVERS [EXTRA]
write_conf() {
	cat >"$1" <<CONF
listen = ( "127.0.0.1:$PROXY" );
workers = 2;
admin = { http = "127.0.0.1:$ADMIN"; socket = "$SOCK"; };
pools = {
  baseline = { servers = ( $3 ); };
  canary   = { servers = ( "127.0.0.1:$C1" ); };
};
split = { canary_weight = $2; expose_pool = true; override_header = "X-Weir-Pool"; };
guard = { enabled = false; };
state_file = "$T/state";
event_log = "$T/events.log";
${4:-}
CONF
}

start_weir() {
	start_bg weir "$WEIR" -c "$T/weir.conf"
	wait_port "$PROXY" 10 "$BG_PID"
	wait_port "$ADMIN" 10 "$BG_PID"
	wait_for "control socket" 10 test -S "$SOCK"
}
ctl() { "$WEIRCTL" -s "$SOCK" "$@"; }
stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }

write_conf "$T/weir.conf" 10 "\"127.0.0.1:$B1\""
start_weir

# ---- the socket ------------------------------------------------------------------
assert_eq "control socket mode 0600" 600 "$(stat -c %a "$SOCK")"

# ---- weirctl and every command ------------------------------------------------------
assert_status "show weights" 0 "$WEIRCTL" -s "$SOCK" show weights
assert_eq "show weights payload" $'baseline 90.00\ncanary 10.00' "$RUN_OUT"
assert_status "help" 0 "$WEIRCTL" -s "$SOCK" help
for cmd in "show weights" "set weight" "rollback" "promote" "pause" "resume" "show stats" \
	"show guard" "show events" "show report" "reload"; do
	assert_contains "help lists $cmd" "$cmd" "$RUN_OUT"
done
assert_status "set weight canary 25" 0 "$WEIRCTL" -s "$SOCK" set weight canary 25
assert_eq "set weight prints nothing" "" "$RUN_OUT"
assert_eq "weights after set" $'baseline 75.00\ncanary 25.00' "$(ctl show weights)"
assert_eq "stats.json canary weight" 25.0 "$(json_get "$(stats)" .weights.canary)"
assert_status "set weight baseline 60.5" 0 "$WEIRCTL" -s "$SOCK" set weight baseline 60.5
assert_eq "baseline weight sets the rest" $'baseline 60.50\ncanary 39.50' "$(ctl show weights)"
last=$(tail -n 1 "$T/events.log")
assert_eq "event actor" control "$(json_get "$last" .actor)"
assert_eq "event action" set_weight "$(json_get "$last" .action)"
assert_eq "event before" 25.0 "$(json_get "$last" .before.canary)"
assert_eq "event after" 39.5 "$(json_get "$last" .after.canary)"
assert_contains "state file has the weight" "39.50" "$(cat "$T/state")"

# refusals: ERR, exit 1, reason on stderr, nothing changed
for bad in "set weight canary 101" "set weight canary -1" "set weight canary abc" \
	"set weight canary 0.005" "set weight canary" "set weight both 5" "frobnicate" \
	"show events 0" "show events abc"; do
	# shellcheck disable=SC2086
	assert_status "refused: $bad" 1 "$WEIRCTL" -s "$SOCK" $bad
	assert_ne "refused with a reason: $bad" "" "$RUN_ERR"
done
assert_eq "weights unchanged by refusals" $'baseline 60.50\ncanary 39.50' "$(ctl show weights)"
assert_status "unreachable socket exits 2" 2 "$WEIRCTL" -s "$T/nope.sock" show weights

# several commands on one connection, garbage, an over-long line
printf 'show weights\nbogus\n\001\377\000garbage\n%s\nshow weights\n' "$(head -c 10000 /dev/zero | tr '\0' x)" >"$T/ctl.in"
out=$(python3 - "$SOCK" "$T/ctl.in" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1]); s.sendall(open(sys.argv[2], "rb").read()); s.shutdown(socket.SHUT_WR)
s.settimeout(10); out = b""
while True:
    b = s.recv(65536)
    if not b: break
    out += b
print(out.decode("utf-8", "replace"))
PY
)
assert_eq "five replies on one connection" 5 "$(grep -c -E '^(OK|ERR)' <<<"$out")"
assert_contains "unknown command answered ERR" "ERR unknown command" "$out"
assert_contains "over-long line answered ERR" "ERR line too long" "$out"
assert_eq "still serving after garbage" $'baseline 60.50\ncanary 39.50' "$(ctl show weights)"

# show stats / events / report / guard
assert_status "show stats" 0 "$WEIRCTL" -s "$SOCK" show stats
assert_eq "show stats is one line" 1 "$(wc -l <<<"$RUN_OUT")"
assert_eq "show stats is the stats document" 39.5 "$(json_get "$RUN_OUT" .weights.canary)"
assert_status "show events 2" 0 "$WEIRCTL" -s "$SOCK" show events 2
assert_eq "two events" 2 "$(wc -l <<<"$RUN_OUT")"
assert_eq "newest event last" set_weight "$(json_get "$(tail -n 1 <<<"$RUN_OUT")" .action)"
assert_status "show report" 0 "$WEIRCTL" -s "$SOCK" show report
assert_eq "report equals /report.json shape" "$(json_get "$RUN_OUT" '.steps[0].outcome')" \
	"$(json_get "$(hcurl "http://127.0.0.1:$ADMIN/report.json")" '.steps[0].outcome')"
assert_status "show guard" 0 "$WEIRCTL" -s "$SOCK" show guard
assert_contains "show guard names the state" "state" "$RUN_OUT"

# pause / resume / promote / rollback
assert_status "pause" 0 "$WEIRCTL" -s "$SOCK" pause
assert_eq "guard paused" paused "$(json_get "$(stats)" .guard.state)"
assert_status "resume" 0 "$WEIRCTL" -s "$SOCK" resume
assert_ne "guard resumed" paused "$(json_get "$(stats)" .guard.state)"
assert_status "promote" 0 "$WEIRCTL" -s "$SOCK" promote
assert_eq "promote without rollout: canary 100" $'baseline 0.00\ncanary 100.00' "$(ctl show weights)"
assert_eq "guard promoted" promoted "$(json_get "$(stats)" .guard.state)"
res=$($CLIENT count "$PROXY" 300)
assert_eq "every request on the canary at 100 % (both workers)" "baseline=0 canary=300 other=0" "$res"
assert_status "rollback with a reason" 0 "$WEIRCTL" -s "$SOCK" rollback bad deploy 42
assert_eq "rollback: canary 0" $'baseline 100.00\ncanary 0.00' "$(ctl show weights)"
assert_eq "guard rolled_back" rolled_back "$(json_get "$(stats)" .guard.state)"
assert_eq "rollback reason kept" "bad deploy 42" "$(json_get "$(tail -n 1 "$T/events.log")" .reason)"
res=$($CLIENT count "$PROXY" 300)
assert_eq "every request on the baseline after rollback (both workers)" "baseline=300 canary=0 other=0" "$res"

# ---- /stats.json shape and /metrics ------------------------------------------------------
s=$(stats)
for path in .version .uptime_seconds .weights.baseline .pools.baseline.weight \
	'.pools.baseline.servers[0].address' '.pools.baseline.servers[0].state' '.pools.baseline.servers[0].active' \
	.pools.canary.total.requests .pools.canary.total.errors .pools.canary.total.error_rate \
	.pools.canary.total.p50_ms .pools.canary.total.p99_ms .pools.canary.total.p999_ms .pools.canary.total.max_ms \
	.pools.canary.window.seconds .pools.canary.window.rps .pools.canary.window.p99_ms \
	.guard.state .guard.since .guard.reason .rollout '.events[0].actor' '.events[0].before.canary'; do
	json_get "$s" "$path" >/dev/null || fail "/stats.json lacks $path"
	ok "/stats.json has $path"
done
hcurl "http://127.0.0.1:$ADMIN/metrics" >"$T/metrics"
python3 - "$T/metrics" <<'PY' || fail "/metrics is not valid Prometheus text"
import re, sys
names = {"weir_requests_total": "counter", "weir_errors_total": "counter",
         "weir_pool_weight_percent": "gauge", "weir_request_duration_seconds": "summary",
         "weir_guard_state": "gauge", "weir_weight_changes_total": "counter",
         "weir_downstream_requests_total": "counter"}
types, seen = {}, set()
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, n, t = line.split(" ")
        types[n] = t
    elif line.startswith("#") or not line:
        continue
    else:
        m = sample.match(line)
        if not m:
            sys.exit("bad sample line: %r" % line)
        base = re.sub(r"_(sum|count)$", "", m.group(1)) if m.group(1).endswith(("_sum", "_count")) and re.sub(r"_(sum|count)$", "", m.group(1)) in types else m.group(1)
        if base not in types:
            sys.exit("sample before its TYPE: %r" % line)
        seen.add(base)
for n, t in names.items():
    if types.get(n) != t or n not in seen:
        sys.exit("missing or mistyped %s (%s)" % (n, types.get(n)))
PY
ok "/metrics parses as Prometheus text with every documented metric"
assert_contains "guard state metric" 'weir_guard_state{state="rolled_back"} 1' "$(cat "$T/metrics")"
assert_contains "weight changes by control" 'weir_weight_changes_total{actor="control"}' "$(cat "$T/metrics")"
# The counts come with the HTTP/2 front's tests; here, both series exist.
for proto in http/1.1 h2; do
	assert_num "requests by downstream protocol $proto in /metrics" \
		"$(sed -n "s|^weir_downstream_requests_total{protocol=\"$proto\"} ||p" "$T/metrics")" ">=" 0
done
for path in /nope /stats; do
	assert_eq "GET $path is 404" 404 "$(http_status "http://127.0.0.1:$ADMIN$path")"
done
assert_eq "POST is 405" 405 "$(http_status "http://127.0.0.1:$ADMIN/stats.json" -X POST)"
assert_eq "healthz" "ok" "$(hcurl "http://127.0.0.1:$ADMIN/healthz")"

# ---- kill -9 keeps the rollback ------------------------------------------------------------
kill_bg weir KILL
wait_bg weir 10 || true
assert_eq "stale socket left behind by kill -9" yes "$([ -S "$SOCK" ] && echo yes)"
start_weir
assert_eq "restart keeps canary 0" $'baseline 100.00\ncanary 0.00' "$(ctl show weights)"
assert_eq "restart keeps rolled_back" rolled_back "$(json_get "$(stats)" .guard.state)"

# a second weir on the same socket is refused
sed -e "s/127.0.0.1:$PROXY/127.0.0.1:$(free_port)/" -e "s/127.0.0.1:$ADMIN/127.0.0.1:$(free_port)/" \
	-e "s|$T/state|$T/state2|" -e "s|$T/events.log|$T/events2.log|" "$T/weir.conf" >"$T/second.conf"
assert_status "second weir on a live socket exits 2" 2 "$WEIR" -c "$T/second.conf"
assert_contains "second weir says why" "$SOCK" "$RUN_ERR"

# ---- reload --------------------------------------------------------------------------------
ctl set weight canary 0 >/dev/null
write_conf "$T/weir.conf" 50 "\"127.0.0.1:$B1\", \"127.0.0.1:$B2\""
b2_before=$(json_get "$(backend_stats "$B2")" .hits)
kill_bg weir HUP
second_server_is() { [ "$(json_get "$(stats)" '.pools.baseline.servers[1].address' 2>/dev/null)" = "$1" ]; }
wait_for "reloaded server list" 10 second_server_is "127.0.0.1:$B2"
$CLIENT count "$PROXY" 100 >/dev/null
b2_after=$(json_get "$(backend_stats "$B2")" .hits)
assert_num "reload added a server that now gets traffic" "$b2_after" ">" "$b2_before"
assert_eq "reload does not overwrite the persisted weights" $'baseline 100.00\ncanary 0.00' "$(ctl show weights)"
echo 'pools = { baseline = { servers = ( ); }; };' >>"$T/weir.conf"
assert_status "invalid reload answers ERR" 1 "$WEIRCTL" -s "$SOCK" reload
assert_contains "invalid reload names file:line" "$T/weir.conf:" "$RUN_ERR"
assert_eq "still serving after an invalid reload" 200 "$(http_status "http://127.0.0.1:$PROXY/")"
assert_eq "still two baseline servers" "127.0.0.1:$B2" "$(json_get "$(stats)" '.pools.baseline.servers[1].address')"
# 200 errors do not fit one ERR line (4 KiB): it says it was cut.
sed -i '$d' "$T/weir.conf"
for i in $(seq 200); do echo "bogus_setting_number_$i = 1;"; done >>"$T/weir.conf"
assert_status "reload with 200 errors answers ERR" 1 "$WEIRCTL" -s "$SOCK" reload
assert_contains "the ERR line says it was cut" "... (cut; the log has the rest)" "$RUN_ERR"
assert_contains "and the log has the last error" "unknown setting bogus_setting_number_200" \
	"$(cat "$(bg_log weir)")"

# ---- corrupt state file: refuse to start, say what to do -------------------------------------
rc=0; stop_bg weir || rc=$?
assert_eq "clean stop" 0 "$rc"
write_conf "$T/weir.conf" 10 "\"127.0.0.1:$B1\""
echo 'canary_weight = "lots";' >"$T/state"
assert_status "corrupt state file exits 2" 2 "$WEIR" -c "$T/weir.conf"
assert_contains "corrupt state file: what to do" "remove it" "$RUN_ERR"

done_testing
