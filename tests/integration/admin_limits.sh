#!/bin/bash
# The admin listener is bounded (README, "Admin listener"): GET and HEAD only,
# other methods 405 before any body is read, no request bodies at all, a
# limit on the head, a deadline for slow or idle clients, and at most 64
# connections, so that neither a huge POST nor a crowd of idle clients can
# take memory or the proxy's descriptors. weir runs with `ulimit -n 256`.
. "$(dirname "$0")/lib.sh"
CLIENT=("$WEIR_PYTHON" -S "$top_srcdir/tests/integration/admin_client.py")

B1=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_backend base1 "$B1"
cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); };
  canary   = { servers = ( "127.0.0.1:$B1" ); };
};
split = { canary_weight = 0; };
limits = { max_connections = 100; };
state_file = ""; event_log = "";
CONF
# shellcheck disable=SC2016
start_bg weir bash -c 'ulimit -n 256 && exec "$0" -c "$1"' "$WEIR" "$T/weir.conf"
WEIR_PID=$BG_PID
wait_port "$ADMIN" 10 "$WEIR_PID"
wait_port "$PROXY" 10 "$WEIR_PID"
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$WEIR_PID/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$WEIR_PID/status"; }	# peak RSS
nfds() { find "/proc/$WEIR_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
URL=http://127.0.0.1:$ADMIN

# ---- methods, bodies, heads -----------------------------------------------------------
assert_eq "GET /healthz" 200 "$(http_status "$URL/healthz")"
assert_eq "GET /healthz?probe=1 (query ignored)" 200 "$(http_status "$URL/healthz?probe=1")"
run hcurl -sI "$URL/healthz"
assert_contains "HEAD /healthz: 200" "200 OK" "$RUN_OUT"
assert_contains "HEAD /healthz: the length GET would have" "Content-Length: 3" "$RUN_OUT"
assert_eq "GET /nope is 404" 404 "$(http_status "$URL/nope")"
for m in POST PUT DELETE OPTIONS PATCH; do
	assert_eq "$m /stats.json is 405" 405 "$(http_status "$URL/stats.json" -X "$m")"
done
run hcurl -si -X POST "$URL/healthz"
assert_contains "405 names the allowed methods" "Allow: GET, HEAD" "$RUN_OUT"
run "${CLIENT[@]}" raw "$ADMIN" 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
assert_eq "chunked POST: 405 on the head alone" 405 "$RUN_OUT"
run "${CLIENT[@]}" raw "$ADMIN" 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n'
assert_eq "GET with a body: 413 without reading it" 413 "$RUN_OUT"
run "${CLIENT[@]}" raw "$ADMIN" "GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nX-Big: $(head -c 9000 /dev/zero | tr '\0' a)\\r\\n\\r\\n"
assert_eq "a 9 KB head is 431" 431 "$RUN_OUT"
run "${CLIENT[@]}" raw "$ADMIN" "GET /$(head -c 3000 /dev/zero | tr '\0' a) HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
assert_eq "a 3 KB request line is 414" 414 "$RUN_OUT"
run "${CLIENT[@]}" raw "$ADMIN" 'GET /healthz HTTP/1.0\r\n\r\n'
assert_eq "HTTP/1.0 GET" 200 "$RUN_OUT"
run hcurl -s -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' "$URL/healthz" "$URL/stats.json"
assert_eq "keep-alive: the second request reuses the connection" $'200 1\n200 0' "$RUN_OUT"
assert_eq "/stats.json still valid JSON" ok \
	"$(hcurl "$URL/stats.json" | python3 -m json.tool >/dev/null && echo ok)"

# ---- a 300 MiB POST takes no memory -------------------------------------------------------
before=$(rss_kb)
run "${CLIENT[@]}" bigpost "$ADMIN" /healthz 300
note "300 MiB POST: answer and MiB sent: $RUN_OUT"
assert_eq "300 MiB POST /healthz is answered 405" 405 "${RUN_OUT%% *}"
after=$(hwm_kb)	# the peak: memory taken and given back in between counts too
note "RSS before ${before} kB, peak after ${after} kB"
assert_num "RSS peaked less than 30 MB above its start during a 300 MiB POST" "$((after - before))" "<" 30000
assert_eq "GET /healthz after the POST" 200 "$(http_status "$URL/healthz")"

# ---- slow heads are cut by the deadline, however steadily they dribble ----------------------
run "${CLIENT[@]}" dribble "$ADMIN" 40
assert_ne "a head dribbled byte by byte is cut" open "$RUN_OUT"
assert_num "within 25 s (the deadline is 10 s)" "${RUN_OUT:-99}" "<" 25

# ---- many idle connections: 64 held, the rest refused, the proxy unharmed ----------------
fds_before=$(nfds)
start_bg hold "${CLIENT[@]}" hold "$ADMIN" 300 60
wait_for "the holder to report" 30 test -s "$(bg_log hold)"
assert_eq "64 idle admin connections held, the other 236 refused" 64 "$(head -n 1 "$(bg_log hold)")"
assert_num "weir's descriptors grew by at most 64 (+2)" "$(($(nfds) - fds_before))" "<=" 66
assert_eq "the proxy still serves" 200 "$(http_status "http://127.0.0.1:$PROXY/")"
run "${CLIENT[@]}" raw "$ADMIN" 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
assert_eq "a 65th admin client is told 503" 503 "$RUN_OUT"
stop_bg hold || true   # killed: status 143
admin_serves() { [ "$(http_status "$URL/healthz")" = 200 ]; }
wait_for "the admin listener to serve again once they left" 15 admin_serves

# ---- busy keep-alive clients cannot keep every slot ----------------------------------------
# 64 connections each send a tiny request every 2 s (well within the 10 s
# deadline): a new client takes the slot of the one idle longest.
start_bg busy "${CLIENT[@]}" busy "$ADMIN" 64 60 2
wait_for "the busy clients to report" 30 test -s "$(bg_log busy)"
assert_eq "64 busy keep-alive admin connections answered" 64 "$(head -n 1 "$(bg_log busy)")"
for i in 1 2 3; do
	run "${CLIENT[@]}" raw "$ADMIN" 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	assert_eq "new client $i beside 64 busy keep-alive ones gets /healthz 200" 200 "$RUN_OUT"
done
stop_bg busy || true   # killed: status 143

# ---- an answer must be read within the deadline ---------------------------------------------
# A client with a tiny receive buffer reading 500 bytes every 2 s would take
# minutes over the ~33 KB status page; it is cut at the 10 s deadline.
# On a keep-alive connection the answer has 10 s to be written, then the
# client 10 s to read what the kernel still holds of it and send a next head.
run "${CLIENT[@]}" slowread "$ADMIN" / 0 50
assert_ne "slow reader of the status page (Connection: close) is cut" open "$RUN_OUT"
assert_num "slow reader (Connection: close) cut within 25 s (the deadline is 10 s)" "${RUN_OUT:-99}" "<" 25
run "${CLIENT[@]}" slowread "$ADMIN" / 1 50
assert_ne "slow reader of the status page (keep-alive) is cut" open "$RUN_OUT"
assert_num "slow reader (keep-alive) cut within 40 s (2 x the 10 s deadline)" "${RUN_OUT:-99}" "<" 40
assert_eq "GET /healthz after the slow readers" 200 "$(http_status "$URL/healthz")"

rc=0; stop_bg weir || rc=$?
assert_eq "SIGTERM: clean exit 0" 0 "$rc"
done_testing
