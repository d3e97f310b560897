#!/bin/bash
# The access log as an operator reads it: one well-formed line per request
# with the documented fields (and the byte count curl saw, the server that
# answered, weir's own 502/504 and refusals); exactly as many lines per pool
# as /metrics counts; nothing lost at exit; SIGUSR1 after a rename (by hand
# and by logrotate with contrib/weir.logrotate) starts a new file while the
# old one keeps what came before; a failed reopen keeps the old file; and
# SIGUSR1 never kills a weir that has no access log.
. "$(dirname "$0")/lib.sh"
CLIENT="$WEIR_PYTHON $top_srcdir/tests/integration/client.py"

B=$(free_port); C=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_backend base "$B"
start_backend canary "$C"
mkdir -p "$T/logs"
LOG=$T/logs/access.log

# write_conf FILE ACCESS_LOG
write_conf() {
	cat >"$1" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B" ); };
  canary   = { servers = ( "127.0.0.1:$C" ); };
};
split = { canary_weight = 50.0; override_header = "X-Weir-Pool"; expose_pool = true; };
timeouts = { backend = "1s"; };
guard = { enabled = false; };
state_file = "$T/state";
event_log = "$T/events.log";
access_log = "$2";
CONF
}
start_weir() {
	start_bg weir "$WEIR" -c "$1"
	wait_port "$PROXY" 10 "$BG_PID"
	wait_port "$ADMIN" 10 "$BG_PID"
}
lines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }
has_lines() { (($(lines "$1") >= $2)); }
metric() { hcurl "http://127.0.0.1:$ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
pool_count_is() { [[ $(metric "weir_requests_total{pool=\"$1\"}") == "$2" ]]; }
# field N of the last line of FILE matching ERE
field_of() { grep -E -- "$2" "$1" | tail -n 1 | awk -v n="$3" '{ print $n }'; }

write_conf "$T/weir.conf" "$LOG"
t_start=$(date -u +%s)
start_weir "$T/weir.conf"

# ---- single requests, every field ---------------------------------------------------

out=$(hcurl -H 'X-Weir-Pool: canary' -o /dev/null -w '%{http_code} %{size_header} %{size_download}' \
	"http://127.0.0.1:$PROXY/bytes/1000?chunked=0")
read -r code hsize bsize <<<"$out"
assert_eq "canary request answered" 200 "$code"
out=$(hcurl -I -H 'X-Weir-Pool: baseline' -o /dev/null -w '%{http_code} %{size_header}' \
	"http://127.0.0.1:$PROXY/head-me")
read -r hcode hhead <<<"$out"
assert_eq "HEAD answered" 200 "$hcode"
# A request weir refuses itself (two Host fields): never routed.
printf 'GET /dup HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' >"$T/dup.req"
$CLIENT raw "$PROXY" "$T/dup.req" >"$T/dup.out"
assert_contains "duplicate Host is refused" "400 Bad Request" "$(cat "$T/dup.out")"
refused_bytes=$(wc -c <"$T/dup.out")
wait_for "three lines in the access log" 10 has_lines "$LOG" 3

line=$(grep -F ' /bytes/1000?chunked=0 ' "$LOG")
note "$line"
read -r f_time f_client f_method f_target f_status f_pool f_server f_bytes f_lat f_extra <<<"$line"
assert_eq "nine fields" "" "${f_extra:-}"
[[ $f_time =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]] &&
	ok "time is ISO 8601 UTC with milliseconds" || fail "time field: $f_time"
t_line=$(date -u -d "${f_time%.*}" +%s)
assert_num "time is not before the test began" "$t_line" ">=" "$t_start"
assert_num "time is not in the future" "$t_line" "<=" "$(date -u +%s)"
assert_eq "client" "127.0.0.1" "$f_client"
assert_eq "method" "GET" "$f_method"
assert_eq "status" 200 "$f_status"
assert_eq "pool" canary "$f_pool"
assert_eq "server" "127.0.0.1:$C" "$f_server"
assert_eq "bytes are what curl received (head + body)" "$((hsize + bsize))" "$f_bytes"
assert_num "latency is microseconds" "$f_lat" ">" 0

line=$(grep -F ' /head-me ' "$LOG")
note "$line"
assert_eq "HEAD: method" HEAD "$(awk '{ print $3 }' <<<"$line")"
assert_eq "HEAD: pool and server" "baseline 127.0.0.1:$B" "$(awk '{ print $6, $7 }' <<<"$line")"
assert_eq "HEAD: bytes are the head alone" "$hhead" "$(awk '{ print $8 }' <<<"$line")"

line=$(grep -E ' 400 ' "$LOG" | tail -n 1)
note "$line"
assert_eq "refused: no method, target, pool, server or latency" "127.0.0.1 - - 400 - - $refused_bytes -" \
	"$(cut -d' ' -f2- <<<"$line")"

# ---- weir's own answers for a failing backend ---------------------------------------

backend_set "$C" "latency_ms=3000"
code=$(http_status "http://127.0.0.1:$PROXY/slow" -H 'X-Weir-Pool: canary')
assert_eq "a backend slower than timeouts.backend gets 504" 504 "$code"
backend_set "$C" "latency_ms=0"
wait_for "the 504 line" 10 grep -q ' /slow 504 ' "$LOG"
assert_eq "504: pool and server" "canary 127.0.0.1:$C" "$(field_of "$LOG" ' /slow ' 6) $(field_of "$LOG" ' /slow ' 7)"
# Measured up to the timeout, not an immediate error (timeouts.backend is 1s).
assert_num "504: latency covers the wait" "$(field_of "$LOG" ' /slow ' 9)" ">" 500000

# ---- under load: one line per request, as many as /metrics counts --------------------

run $CLIENT count "$PROXY" 400
assert_contains "400 requests answered" "other=0" "$RUN_OUT"
run $CLIENT count "$PROXY" 100 "X-Weir-Pool:canary"
# Routed so far: /bytes, HEAD, /slow and the 500 /count requests; the refused
# one has a line but no pool counts it. Those routed by the override header
# (/bytes, HEAD, /slow, 100 /count) are counted apart, as overridden.
routed() { echo $(($(metric "weir_requests_total{pool=\"$1\"}") + $(metric "weir_overridden_total{pool=\"$1\"}"))); }
counted_total() { (($(routed baseline) + $(routed canary) == $1)); }
wait_for "/metrics to count 503 requests" 10 counted_total 503
assert_eq "103 of them overridden" 103 \
	$(($(metric 'weir_overridden_total{pool="baseline"}') + $(metric 'weir_overridden_total{pool="canary"}')))
expected=504
wait_for "$expected lines" 10 has_lines "$LOG" "$expected"
assert_eq "one line per request" "$expected" "$(lines "$LOG")"
for pool in baseline canary; do
	assert_eq "$pool lines = weir_requests_total + weir_overridden_total{pool=\"$pool\"}" \
		"$(routed "$pool")" "$(awk -v p="$pool" '$6 == p' "$LOG" | wc -l)"
done
bad=$(grep -c -v -E '^[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z 127\.0\.0\.1 [A-Z-]+ [^ ]+ [0-9]{3} (baseline|canary|-) [^ ]+ [0-9]+ ([0-9]+|-)$' "$LOG" || true)
assert_eq "every line is whole and well-formed" 0 "$bad"
assert_eq "the /count targets all arrived" 500 "$(grep -c -E ' GET /count/[0-9]+ 200 ' "$LOG")"

# ---- SIGUSR1 after a rename by hand -------------------------------------------------

before=$(lines "$LOG")
mv "$LOG" "$LOG.1"
kill_bg weir USR1
wait_for "weir reports the reopen" 10 grep -q 'SIGUSR1: access log reopened' "$(bg_log weir)"
run $CLIENT count "$PROXY" 20
wait_for "20 lines in the new file" 10 has_lines "$LOG" 20
assert_eq "the new file has only the new requests" 20 "$(lines "$LOG")"
assert_eq "the renamed file kept the old ones, and no more" "$before" "$(lines "$LOG.1")"
assert_eq "the new file is created 0640" 640 "$(stat -c %a "$LOG")"
bg_alive weir && ok "weir runs on after SIGUSR1" || fail "weir died on SIGUSR1"

# ---- a reopen that fails keeps the old file -------------------------------------------

mv "$T/logs" "$T/logs.away"
kill_bg weir USR1
wait_for "weir reports the failed reopen" 10 grep -q 'SIGUSR1: cannot reopen access log' "$(bg_log weir)"
assert_contains "the error says what to do" "create the directory" "$(cat "$(bg_log weir)")"
run $CLIENT count "$PROXY" 10
wait_for "lines still written to the open file" 10 has_lines "$T/logs.away/access.log" 30
mv "$T/logs.away" "$T/logs"

# ---- logrotate with contrib/weir.logrotate --------------------------------------------

if command -v logrotate >/dev/null 2>&1; then
	rm -f "$LOG.1"
	pid=$(bg_pid weir)
	# The shipped file, with this test's path and a postrotate that signals
	# only this weir (the shipped one signals every weir on the machine).
	"$WEIR_PYTHON" -S - "$top_srcdir/contrib/weir.logrotate" "$T/logrotate.conf" "$LOG" "$pid" <<'PY'
import re, sys
src, dst, log, pid = sys.argv[1:5]
text = open(src).read().replace("/var/log/weir/access.log", log)
text, n = re.subn(r"postrotate\n.*?endscript", "postrotate\n\t\tkill -USR1 %s\n\tendscript" % pid, text, flags=re.S)
assert n == 1, "no postrotate block"
open(dst, "w").write(text)
PY
	before=$(lines "$LOG")
	run logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf"
	assert_eq "logrotate -f rotates" "0:" "$RUN_RC:$RUN_ERR"
	assert_eq "logrotate: the rotated file keeps the lines" "$before" "$(lines "$LOG.1")"
	run $CLIENT count "$PROXY" 7
	wait_for "7 lines in the file weir reopened" 10 has_lines "$LOG" 7
	assert_eq "logrotate: the new file has only the new requests" 7 "$(lines "$LOG")"
else
	note "logrotate not installed: contrib/weir.logrotate not exercised (apt-get install logrotate)"
fi

# ---- nothing lost at exit ---------------------------------------------------------------

before=$(lines "$LOG")
run $CLIENT count "$PROXY" 50
stop_bg weir	# at once: the lines are still in the worker's buffer
assert_eq "lines handed over at exit are written" "$((before + 50))" "$(lines "$LOG")"

# ---- SIGUSR1 without an access log ---------------------------------------------------------

write_conf "$T/plain.conf" ""
start_weir "$T/plain.conf"
kill_bg weir USR1
wait_for "weir notes the signal" 10 grep -q 'SIGUSR1: no access log' "$(bg_log weir)"
assert_eq "weir without an access log still answers after SIGUSR1" 200 \
	"$(http_status "http://127.0.0.1:$PROXY/")"
stop_bg weir

done_testing
