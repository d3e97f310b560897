#!/bin/bash
# The data path end to end: weir between curl / a Python client and demo
# backends on loopback. Split share, stickiness, override, bodies both ways,
# pipelining, hop-by-hop removal, X-Forwarded-*, 502 and 504, counts.
. "$(dirname "$0")/lib.sh"
CLIENT="python3 $top_srcdir/tests/integration/client.py"

B1=$(free_port); C1=$(free_port); DEAD=$(free_port)
PROXY=$(free_port); ADMIN=$(free_port)
start_backend base1 "$B1"
start_backend canary1 "$C1"

# write_conf FILE CANARY_WEIGHT [CANARY_SERVER]
write_conf() {
	cat >"$1" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); };
  canary   = { servers = ( "127.0.0.1:${3:-$C1}" ); };
};
split = { canary_weight = $2; sticky_header = "X-User-Id";
          override_header = "X-Weir-Pool"; expose_pool = true; };
timeouts = { backend = "1s"; connect = "1s"; };
# The guard is off: these tests measure the split, and on a loaded machine
# the canary's p99 can breach by noise and move the share to 0 mid-count.
guard = { enabled = false; };
state_file = ""; event_log = "";
CONF
}

start_weir() {	# CANARY_WEIGHT [CANARY_SERVER]
	write_conf "$T/weir.conf" "$@"
	start_bg weir "$WEIR" -c "$T/weir.conf"
	wait_port "$PROXY" 10 "$BG_PID"
	wait_port "$ADMIN" 10 "$BG_PID"
}

stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }
pool_requests() { json_get "$(stats)" ".pools.$1.total.requests"; }
backend_hits() { json_get "$(backend_stats "$1")" .hits; }
stat_is() { [ "$(json_get "$(stats)" "$1")" = "$2" ]; }	# PATH VALUE, for wait_for
requests_total_is() { [ $(( $(pool_requests baseline) + $(pool_requests canary) )) = "$1" ]; }

# within_4sd WHAT COUNT N P: COUNT is within 4 binomial standard deviations of N*P.
within_4sd() {
	local bound
	bound=$(python3 -c "import math; n,p=$3,$4; print('%d %d' % (n*p - 4*math.sqrt(n*p*(1-p)), n*p + 4*math.sqrt(n*p*(1-p)) + 1))")
	assert_num "$1: $2 >= ${bound% *}" "$2" ">=" "${bound% *}"
	assert_num "$1: $2 <= ${bound#* }" "$2" "<=" "${bound#* }"
}

# ---- basics -----------------------------------------------------------------
start_weir 10
body=$(hcurl -H 'Host: app.example' -H 'X-Weir-Pool: baseline' "http://127.0.0.1:$PROXY/hello?x=1")
assert_eq "request reaches the baseline" base1 "$(json_get "$body" .name)"
assert_eq "path and query preserved" "/hello?x=1" "$(json_get "$body" .path)"
assert_eq "Host preserved" app.example "$(json_get "$body" .headers.Host)"
assert_eq "X-Forwarded-For set" 127.0.0.1 "$(json_get "$body" '.headers["X-Forwarded-For"]')"
assert_eq "X-Forwarded-Proto set" http "$(json_get "$body" '.headers["X-Forwarded-Proto"]')"
body=$(hcurl -H 'X-Forwarded-For: 192.0.2.7' -H 'X-Forwarded-Proto: https' -H 'X-Weir-Pool: canary' \
	"http://127.0.0.1:$PROXY/xff")
assert_eq "override header forces the canary" canary1 "$(json_get "$body" .name)"
assert_eq "X-Forwarded-For appended" "192.0.2.7, 127.0.0.1" "$(json_get "$body" '.headers["X-Forwarded-For"]')"
assert_eq "X-Forwarded-Proto replaced" http "$(json_get "$body" '.headers["X-Forwarded-Proto"]')"
hdrs=$(hcurl -D - -o /dev/null -H 'X-Weir-Pool: canary' "http://127.0.0.1:$PROXY/")
assert_contains "expose_pool adds X-Weir-Pool" "X-Weir-Pool: canary" "$hdrs"

# ---- hop-by-hop fields --------------------------------------------------------
body=$(hcurl -H 'Connection: keep-alive, X-Secret' -H 'X-Secret: 1' -H 'Keep-Alive: timeout=5' \
	-H 'Proxy-Connection: keep-alive' -H 'TE: trailers' -H 'Upgrade: websocket' -H 'X-Keep: yes' \
	-H 'X-Weir-Pool: baseline' "http://127.0.0.1:$PROXY/hop")
h=$(json_get "$body" .headers)
for name in Connection X-Secret Keep-Alive Proxy-Connection TE Upgrade; do
	assert_not_contains "hop-by-hop $name removed" "\"$name\"" "$h"
done
assert_eq "end-to-end field kept" yes "$(json_get "$body" '.headers["X-Keep"]')"

# ---- bodies, 10 MB each way, both framings -------------------------------------
head -c 10485760 /dev/urandom >"$T/up.bin"
want=$(sha256_file "$T/up.bin")
body=$(hcurl -H 'X-Weir-Pool: baseline' --data-binary @"$T/up.bin" "http://127.0.0.1:$PROXY/upload")
assert_eq "10 MB Content-Length upload intact" "$want" "$(json_get "$body" .body_sha256)"
assert_eq "10 MB Content-Length upload length" 10485760 "$(json_get "$body" .body_length)"
body=$(hcurl -H 'X-Weir-Pool: canary' -H 'Transfer-Encoding: chunked' --data-binary @"$T/up.bin" \
	"http://127.0.0.1:$PROXY/upload")
assert_eq "10 MB chunked upload intact" "$want" "$(json_get "$body" .body_sha256)"
want=$(bytes_sha256 10485760)
hcurl -H 'X-Weir-Pool: baseline' -o "$T/down.bin" "http://127.0.0.1:$PROXY/bytes/10485760"
assert_eq "10 MB Content-Length download intact" "$want" "$(sha256_file "$T/down.bin")"
hcurl -H 'X-Weir-Pool: canary' -D "$T/down.hdr" -o "$T/down.bin" "http://127.0.0.1:$PROXY/bytes/10485760?chunked=1"
assert_eq "10 MB chunked download intact" "$want" "$(sha256_file "$T/down.bin")"
assert_contains "chunked download is chunked" "chunked" "$(tr -d '\r' <"$T/down.hdr")"
status=$(hcurl -I -o /dev/null -w '%{http_code}' -H 'X-Weir-Pool: baseline' "http://127.0.0.1:$PROXY/bytes/100")
assert_eq "HEAD answered without a body" 200 "$status"

# ---- pipelining: three requests in one write, answered in order ---------------
printf 'GET /p1 HTTP/1.1\r\nHost: a\r\nX-Weir-Pool: baseline\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\nX-Weir-Pool: canary\r\n\r\nGET /p3 HTTP/1.1\r\nHost: a\r\nX-Weir-Pool: baseline\r\nConnection: close\r\n\r\n' >"$T/pipe.req"
out=$($CLIENT raw "$PROXY" "$T/pipe.req" | tr -d '\r')
order=$(grep -o '"path": *"/p[0-9]"' <<<"$out" | grep -o '/p[0-9]' | tr '\n' ' ')
assert_eq "pipelined responses in order" "/p1 /p2 /p3 " "$order"
assert_eq "three responses" 3 "$(grep -c '^HTTP/1.1 200' <<<"$out")"
# 300 in one write (more than weir reads ahead while a response is in
# flight): each next one starts from the event loop once the previous is
# delivered, all answered, in order.
for i in $(seq 1 299); do printf 'GET /q%d HTTP/1.1\r\nHost: a\r\nX-Weir-Pool: baseline\r\n\r\n' "$i"; done >"$T/pipe300.req"
printf 'GET /q300 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' >>"$T/pipe300.req"
out=$($CLIENT raw "$PROXY" "$T/pipe300.req" | tr -d '\r')
assert_eq "300 pipelined responses" 300 "$(grep -c '^HTTP/1.1 200' <<<"$out")"
assert_eq "300 pipelined responses in order" "$(seq -f '/q%g' 1 300 | tr '\n' ' ')" \
	"$(grep -o '"path": *"/q[0-9]*"' <<<"$out" | grep -o '/q[0-9]*' | tr '\n' ' ')"

# ---- a bad request never reaches a backend --------------------------------------
hits_before=$(( $(backend_hits "$B1") + $(backend_hits "$C1") ))
printf 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n' >"$T/bad.req"
out=$($CLIENT raw "$PROXY" "$T/bad.req")
assert_contains "space before colon refused with 400" "HTTP/1.1 400" "$out"
printf 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' >"$T/bad.req"
out=$($CLIENT raw "$PROXY" "$T/bad.req")
assert_contains "CL + TE refused with 400" "HTTP/1.1 400" "$out"
hits_after=$(( $(backend_hits "$B1") + $(backend_hits "$C1") ))
assert_eq "refused requests reached no backend" "$hits_before" "$hits_after"
stop_bg weir

# ---- split share within 4 binomial standard deviations --------------------------
for w in 1 10 50; do
	start_weir "$w"
	res=$($CLIENT count "$PROXY" 5000)
	canary=$(sed 's/.*canary=\([0-9]*\).*/\1/' <<<"$res")
	other=$(sed 's/.*other=\([0-9]*\).*/\1/' <<<"$res")
	assert_eq "weight $w: every request answered by a pool" 0 "$other"
	within_4sd "weight $w share" "$canary" 5000 "$w/100"
	stop_bg weir
done

# ---- stickiness and monotonicity ---------------------------------------------------
start_weir 10
$CLIENT sticky "$PROXY" 300 >"$T/s10a"
$CLIENT sticky "$PROXY" 300 >"$T/s10b"
assert_eq "same key, same pool" "$(cat "$T/s10a")" "$(cat "$T/s10b")"
n10=$(grep -c ' canary$' "$T/s10a" || true)
stop_bg weir
start_weir 50
$CLIENT sticky "$PROXY" 300 >"$T/s50"
n50=$(grep -c ' canary$' "$T/s50" || true)
moved_back=$(join <(sort "$T/s10a") <(sort "$T/s50") | awk '$2 == "canary" && $3 != "canary"' | wc -l)
assert_eq "raising the weight moves no key back to baseline" 0 "$moved_back"
assert_num "raising the weight moves keys to the canary" "$n50" ">" "$n10"
stop_bg weir

# ---- counts: what /stats.json says equals what the backends saw ------------------
b0=$(backend_hits "$B1"); c0=$(backend_hits "$C1")
start_weir 30
$CLIENT count "$PROXY" 2000 >/dev/null
b=$(( $(backend_hits "$B1") - b0 )); c=$(( $(backend_hits "$C1") - c0 ))
assert_eq "backends saw every request" 2000 $((b + c))
wait_for "stats to include every request" 5 requests_total_is 2000
assert_eq "baseline requests counted exactly" "$b" "$(pool_requests baseline)"
assert_eq "canary requests counted exactly" "$c" "$(pool_requests canary)"
stop_bg weir

# ---- a dead canary: 502, counted as the canary's error, never moved ---------------
start_weir 50 "$DEAD"
status=$(http_status "http://127.0.0.1:$PROXY/" -H 'X-Weir-Pool: canary')
assert_eq "dead pool answered 502" 502 "$status"
b0=$(backend_hits "$B1")
res=$($CLIENT count "$PROXY" 200 "X-Weir-Pool:canary")
assert_eq "no canary request moved to the baseline" "$b0" "$(backend_hits "$B1")"
# Routed by the override header: counted as overridden, never judged.
wait_for "override requests counted" 5 stat_is .pools.canary.total.overridden 201
assert_eq "override requests are not judged" 0 "$(json_get "$(stats)" .pools.canary.total.requests)"
# Routed by the weight: each one the canary's error, none moved to the baseline.
$CLIENT count "$PROXY" 200 >/dev/null
dead_counted() { (($(pool_requests baseline) + $(pool_requests canary) == 200)); }
wait_for "weighted requests counted" 5 dead_counted
s=$(stats)
assert_num "weighted requests reached the dead canary" "$(json_get "$s" .pools.canary.total.requests)" ">" 0
assert_eq "every dead-pool request is an error" "$(json_get "$s" .pools.canary.total.requests)" \
	"$(json_get "$s" .pools.canary.total.errors)"
assert_eq "no canary request moved to the baseline (weighted)" "$(json_get "$s" .pools.baseline.total.requests)" \
	"$(( $(backend_hits "$B1") - b0 ))"
assert_eq "server shown down" down "$(json_get "$(stats)" '.pools.canary.servers[0].state')"
stop_bg weir

# ---- a slow backend: 504, counted --------------------------------------------------
start_weir 0
backend_set "$B1" "latency_ms=3000"
status=$(http_status "http://127.0.0.1:$PROXY/slow")
assert_eq "slow backend answered 504" 504 "$status"
wait_for "504 counted" 5 stat_is .pools.baseline.total.errors 1
backend_set "$B1" "latency_ms=0"
assert_eq "weir still serves after a timeout" 200 "$(http_status "http://127.0.0.1:$PROXY/")"
rc=0; stop_bg weir || rc=$?
assert_eq "SIGTERM: clean exit 0" 0 "$rc"

# ---- drain: SIGTERM stops accepting and lets the request in flight finish ----------
start_weir 0
backend_set "$B1" "latency_ms=700"
h0=$(backend_hits "$B1")
hcurl -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PROXY/draining" >"$T/drain.code" &
curl_pid=$!
hits_above() { [ "$(backend_hits "$B1")" -gt "$1" ]; }
wait_for "the request to reach the backend" 5 hits_above "$h0"
kill_bg weir TERM
wait_port_closed "$PROXY" 5
ok "draining weir stops accepting at once"
wait "$curl_pid" || true
assert_eq "the request in flight completed during the drain" 200 "$(cat "$T/drain.code")"
rc=0; wait_bg weir 10 || rc=$?
assert_eq "drained weir exits 0" 0 "$rc"
backend_set "$B1" "latency_ms=0"

done_testing
