#!/bin/bash
# Resource exhaustion: clients that dribble heads or bodies are cut by the
# timeouts (and their slowness is not blamed on a backend); a flood beyond
# limits.max_connections is refused without harm; a client that never reads
# a large response does not make weir buffer it; running out of file
# descriptors is survived. After each, weir serves again.
. "$(dirname "$0")/lib.sh"
EVIL=("$WEIR_PYTHON" -S "$top_srcdir/tests/integration/evil_backend.py")

B1=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_backend base1 "$B1"

# write_conf FILE PROXY_PORT ADMIN_PORT MAX_CONNECTIONS
write_conf() {
	cat >"$1" <<CONF
listen = ( "127.0.0.1:$2" );
admin = { http = "127.0.0.1:$3"; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); };
  canary   = { servers = ( "127.0.0.1:$B1" ); };
};
split = { canary_weight = 0; };
timeouts = { request_header = "1s"; backend = "2s"; connect = "1s"; idle = "4s"; };
limits = { max_connections = $4; };
state_file = ""; event_log = "";
CONF
}
write_conf "$T/weir.conf" "$PROXY" "$ADMIN" 50
start_bg weir "$WEIR" -c "$T/weir.conf"
WEIR_PID=$BG_PID
wait_port "$PROXY" 10 "$WEIR_PID"
wait_port "$ADMIN" 10 "$WEIR_PID"

stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }
fields() {	# JSON KEY...: the values at the top-level KEYs, one line
	"$WEIR_PYTHON" -S -c 'import json, sys
d = json.loads(sys.argv[1])
print(" ".join(str(d.get(k, "-")) or "-" for k in sys.argv[2:]))' "$@"
}
serves() {	# PORT: a request through weir gets its answer
	[[ $(http_status "http://127.0.0.1:$1/serves" --max-time 3) == 200 ]]
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# ---- slowloris: a head dribbled byte by byte ------------------------------------------
printf 'GET /slow HTTP/1.1\r\nHost: a\r\nUser-Agent: %s\r\n\r\n' "$(head -c 200 /dev/zero | tr '\0' s)" >"$T/head.req"
read -r status end sent < <(EVIL_FIELDS="status end sent" "${EVIL[@]}" dribble "$PROXY" "$T/head.req" 200)
assert_eq "slowloris head: 408" 408 "$status"
assert_eq "slowloris head: connection closed" closed "$end"
assert_num "slowloris head: cut before the head was complete ($sent bytes sent)" "$sent" "<" 240

# ---- an idle connection that never sends a byte is closed after timeouts.idle -----------
: >"$T/empty.req"
read -r status end < <(EVIL_FIELDS="status end" "${EVIL[@]}" probe "$PROXY" "$T/empty.req" 20)
assert_eq "silent connection: closed without an answer" "0 closed" "$status $end"

# ---- a request body that stops half way: cut, 408, not the backend's error ------------
# The backend cannot answer before the body is complete; if weir blamed the
# pool, any client could push a canary's error rate up and trigger a rollback.
read -r e0 r0 < <(fields "$(json_get "$(stats)" .pools.baseline.total)" errors requests)
printf 'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 200\r\n\r\n%s' "$(head -c 100 /dev/zero | tr '\0' b)" >"$T/body.req"
read -r status end < <(EVIL_FIELDS="status end" "${EVIL[@]}" probe "$PROXY" "$T/body.req" 20)
assert_eq "stalled body: cut by a timeout and answered 408" "408 closed" "$status $end"
assert_eq "weir serves after the slow clients" 200 "$(http_status "http://127.0.0.1:$PROXY/after-slow")"
# Once that later request is counted, so is anything recorded before it.
counted() { (($(json_get "$(stats)" .pools.baseline.total.requests) >= $1)); }
wait_for "the request after the stalled body to be counted" 5 counted $((r0 + 1))
assert_eq "stalled body: not counted as the pool's error" "$e0" "$(json_get "$(stats)" .pools.baseline.total.errors)"

# ---- a flood beyond max_connections (50) ------------------------------------------------
for round in 1 2; do
	read -r opened early < <(EVIL_FIELDS="opened closed_early" "${EVIL[@]}" flood "$PROXY" 200 2)
	assert_eq "flood $round: the kernel took all 200 connections" 200 "$opened"
	# Exactly 50 held means every slot was given back after the last round.
	assert_eq "flood $round: weir refused all but max_connections" 150 "$early"
	wait_for "flood $round: weir to serve again" 10 serves "$PROXY"
	ok "flood $round: weir serves once the flood is gone"
done

# ---- a client that never reads a 200 MB response ------------------------------------------
base=$(rss_kb "$WEIR_PID")
hits_is() { [[ $(json_get "$(backend_stats "$B1")" .hits) == "$1" ]]; }
# Counted before the client starts: its request may reach the backend at once.
before=$(json_get "$(backend_stats "$B1")" .hits)
start_bg stall "${EVIL[@]}" stall "$PROXY" /bytes/200000000
wait_for "the stalled request to reach the backend" 5 hits_is $((before + 1))
peak=$base
for _ in $(seq 12); do	# 3 s of a stalled response
	sleep 0.25
	r=$(rss_kb "$WEIR_PID")
	((r > peak)) && peak=$r
done
note "weir VmRSS: $base kB before, peak $peak kB while the client stalls"
assert_num "stalled reader: weir's RSS grew by less than 64 MB" $((peak - base)) "<" 65536
stop_bg stall || true	# it dies of the SIGTERM: 143
wait_for "weir to serve after the stalled reader" 10 serves "$PROXY"
ok "weir serves after the stalled reader"

# ---- file-descriptor exhaustion: ulimit -n 64, 150 connections --------------------------
P2=$(free_port); A2=$(free_port)
write_conf "$T/weir-fd.conf" "$P2" "$A2" 10000
# shellcheck disable=SC2016	# expanded by the inner shell
start_bg weirfd bash -c 'ulimit -n 64 && exec "$0" -c "$1"' "$WEIR" "$T/weir-fd.conf"
wait_port "$P2" 10 "$BG_PID"
assert_eq "ulimit -n 64 is in force" 64 "$(awk '/^Max open files/ { print $4 }' "/proc/$(bg_pid weirfd)/limits")"
fd_errors() { json_get "$(hcurl "http://127.0.0.1:$A2/stats.json")" .pools.baseline.total.errors; }
e0=$(fd_errors)
# Every connection sends a request: weir has no descriptor left for the
# backend connections these need.
start_bg flood "${EVIL[@]}" flood "$P2" 150 3 /fd-flood
sleep 1.5
assert_eq "fd exhaustion: weir is running" yes "$(bg_alive weirfd && echo yes || echo no)"
wait_bg flood 20
wait_for "weir to serve once descriptors are free again" 15 serves "$P2"
ok "fd exhaustion: weir serves again afterwards"
body=$(hcurl "http://127.0.0.1:$P2/fd-after")
assert_eq "fd exhaustion: and the answer is right" /fd-after "$(json_get "$body" .path)"
# Running out of descriptors is weir's trouble, not the backend's: counting
# it would let an overloaded proxy roll a healthy canary back.
note "fd exhaustion: baseline totals $(json_get "$(hcurl "http://127.0.0.1:$A2/stats.json")" .pools.baseline.total)"
assert_eq "fd exhaustion: no error counted against the pool" "$e0" "$(fd_errors)"
assert_eq "fd exhaustion: the server was not marked down" up \
	"$(json_get "$(hcurl "http://127.0.0.1:$A2/stats.json")" '.pools.baseline.servers[0].state')"
# accept(2) failing with EMFILE must not turn into a busy loop that logs
# every failed call (that is a full disk and a spinning core).
lines=$(wc -l <"$(bg_log weirfd)")
assert_num "fd exhaustion: the log stays short ($lines lines)" "$lines" "<" 100
rc=0; stop_bg weirfd || rc=$?
assert_eq "fd exhaustion: clean exit 0" 0 "$rc"

rc=0; stop_bg weir || rc=$?
assert_eq "SIGTERM: clean exit 0" 0 "$rc"
done_testing
