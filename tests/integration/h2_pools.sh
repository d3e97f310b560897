#!/bin/bash
# "h2" pools end to end, both kinds: the baseline speaks h2c to a Python
# HTTP/2 server (h2_server.py), the canary h2 over TLS (ALPN, verified) to a
# second weir whose TLS listener offers h2, in front of a demo backend.
# HTTP/1.1 and HTTP/2 clients get the same answers; 10 MB bodies go both
# ways intact through both pools; the server's trailers reach HTTP/2
# clients; the request reaches the server as HTTP/2 with te: trailers and
# the client's authority; weir's pool counts equal what the servers saw;
# a server that is gone is the pool's 502; a stream the server refused
# (RST_STREAM REFUSED_STREAM, GOAWAY) is sent once more when it has no body;
# a new TLS connection to an h2 server resumes the session its server issued.
# Health checks on h2 pools speak HTTP/2: h2c to a Python server (up on
# 200, on one connection; down after `fall` on 503; RST_STREAM and GOAWAY
# named in the reason; up again), h2 over TLS with ALPN to the second weir
# (up); an HTTP/1.1-only server behind the h2c pool and a TLS server that
# chooses no ALPN protocol are down with their reasons; a gRPC server
# (when python3-grpcio is there) is up: it answers a GET with HTTP 200
# (grpc-status UNKNOWN); a server that never answers is down by the
# timeout, one that sends frames without end after 256 KiB of them; the
# canary pool with no server up is rolled back.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c 'import h2.connection' 2>/dev/null || skip "python3-h2 is not installed"
command -v nghttp >/dev/null || skip "nghttp (nghttp2-client) is not installed"

B1=$(free_port); BACK=$(free_port); BACK_ADMIN=$(free_port); DEMO=$(free_port)
PROXY=$(free_port); ADMIN=$(free_port); DEAD=$(free_port)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=backend.test" \
	-addext "subjectAltName=DNS:backend.test" -days 2 \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null

start_bg h2srv "$PY" "$top_srcdir/tests/integration/h2_server.py" "$B1" h2base
wait_port "$B1" 20 "$BG_PID"
start_backend demo "$DEMO"

# The canary's server: a weir terminating TLS with ALPN h2.
cat >"$T/back.conf" <<CONF
listen = ( { address = "127.0.0.1:$BACK";
             tls = { certificate = "$T/cert.pem"; key = "$T/key.pem"; }; } );
admin = { http = "127.0.0.1:$BACK_ADMIN"; socket = ""; };
pools = { baseline = { servers = ( "127.0.0.1:$DEMO" ); };
          canary   = { servers = ( "127.0.0.1:$DEMO" ); }; };
split = { canary_weight = 0; };
state_file = ""; event_log = "";
CONF
start_bg back "$WEIR" -c "$T/back.conf"
wait_port "$BACK" 10 "$BG_PID"

front_conf() {	# CANARY_WEIGHT CANARY_SERVER [BASELINE_SERVERS]
	cat >"$T/weir.conf" <<CONF
listen = ( { address = "127.0.0.1:$PROXY"; protocols = ( "h2c", "http/1.1" ); } );
admin = { http = "127.0.0.1:$ADMIN"; socket = ""; };
pools = {
  baseline = { servers = ( ${3:-"\"127.0.0.1:$B1\""} ); protocol = "h2"; };
  canary   = { servers = ( "$2" ); protocol = "h2";
               tls = { ca = "$T/cert.pem"; server_name = "backend.test"; }; };
};
split = { canary_weight = $1; override_header = "X-Weir-Pool"; };
timeouts = { backend = "10s"; };
state_file = ""; event_log = "";
CONF
}
front_conf 50 "127.0.0.1:$BACK"
run "$WEIR" -t -c "$T/weir.conf"
assert_eq "h2 pools, one with tls, are a valid configuration" "0:" "$RUN_RC:$RUN_ERR"
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
wait_port "$ADMIN" 10 "$BG_PID"

stats() { hcurl "http://127.0.0.1:$ADMIN/stats.json"; }
pool_stat() { json_get "$(stats)" ".pools.$1.total.$2"; }
total_is() {
	local s
	s=$(stats)
	[ $(( $(json_get "$s" .pools.baseline.total.requests) + $(json_get "$s" .pools.baseline.total.overridden) +
	      $(json_get "$s" .pools.canary.total.requests) + $(json_get "$s" .pools.canary.total.overridden) )) = "$1" ]
}
pattern_sha() {	# N: sha256 of h2_server.py's /bytes/N body
	$PY -c "import hashlib,sys; n=int(sys.argv[1]); b=bytes(i % 251 for i in range(251*64)); d=(b*(n//len(b)+1))[:n]; print(hashlib.sha256(d).hexdigest())" "$1"
}

# ---- the h2c pool -------------------------------------------------------------------
head -c 10485760 /dev/urandom >"$T/big"
big_sha=$(sha256sum "$T/big" | cut -d' ' -f1)
for proto in --http1.1 --http2-prior-knowledge; do
	body=$(hcurl $proto -H 'X-Weir-Pool: baseline' -H 'Host: app.test' --data-binary @"$T/big" \
		"http://127.0.0.1:$PROXY/upload?x=1")
	assert_eq "$proto: 10 MB up through the h2c pool, intact" "h2base 10485760 $big_sha" \
		"$(json_get "$body" .name) $(json_get "$body" .body_length) $(json_get "$body" .body_sha256)"
	assert_eq "$proto: the server saw HTTP/2 with te: trailers" "POST /upload?x=1 trailers http" \
		"$(json_get "$body" '.headers[":method"]') $(json_get "$body" '.headers[":path"]') $(json_get "$body" .headers.te) $(json_get "$body" '.headers[":scheme"]')"
	assert_eq "$proto: the client's authority" app.test "$(json_get "$body" '.headers[":authority"]')"
	assert_eq "$proto: X-Forwarded-For" 127.0.0.1 "$(json_get "$body" '.headers["x-forwarded-for"]')"
	got=$(hcurl $proto -H 'X-Weir-Pool: baseline' "http://127.0.0.1:$PROXY/bytes/10485760" | sha256sum | cut -d' ' -f1)
	assert_eq "$proto: 10 MB down through the h2c pool, intact" "$(pattern_sha 10485760)" "$got"
done
out=$(nghttp -v -H 'X-Weir-Pool: baseline' "http://127.0.0.1:$PROXY/t" 2>&1 || true)
assert_contains "the server's trailer reaches an HTTP/2 client" "x-body-length: 0" "$out"
out=$(curl -sS --http1.1 -H 'X-Weir-Pool: baseline' -D - -o /dev/null "http://127.0.0.1:$PROXY/t")
assert_contains "an HTTP/1.1 client gets a chunked body" "Transfer-Encoding: chunked" "$out"

# ---- the TLS h2 pool ----------------------------------------------------------------------
bytes_expected 10485760 "$T/demo.bin"
demo_sha=$(sha256sum "$T/demo.bin" | cut -d' ' -f1)
for proto in --http1.1 --http2-prior-knowledge; do
	body=$(hcurl $proto -H 'X-Weir-Pool: canary' --data-binary @"$T/big" "http://127.0.0.1:$PROXY/up")
	assert_eq "$proto: 10 MB up through the TLS h2 pool, intact" "10485760 $big_sha" \
		"$(json_get "$body" .body_length) $(json_get "$body" .body_sha256)"
	assert_eq "$proto: the TLS server saw https" https "$(json_get "$body" '.headers["X-Forwarded-Proto"]')"
	got=$(hcurl $proto -H 'X-Weir-Pool: canary' "http://127.0.0.1:$PROXY/bytes/10485760" | sha256sum | cut -d' ' -f1)
	assert_eq "$proto: 10 MB down through the TLS h2 pool, intact" \
		"$demo_sha" "$got"
done
metrics=$(hcurl "http://127.0.0.1:$BACK_ADMIN/metrics")
assert_contains "the canary's server was spoken to in h2" 'weir_downstream_requests_total{protocol="h2"} 4' "$metrics"

# ---- split and counts ---------------------------------------------------------------------
wait_for "the 10 overridden requests counted" 10 total_is 10
h2load -n 2000 -c 4 -m 10 "http://127.0.0.1:$PROXY/s" >"$T/h2load.out" 2>&1 || true
assert_contains "2000 streams through both h2 pools succeed" "2000 succeeded, 0 failed" "$(cat "$T/h2load.out")"
wait_for "the 2000 streams counted" 10 total_is 2010
# The canary's server is a weir too: it folds its counts on its own 200 ms
# tick, so wait for it to reach the front's count (bounded), then compare.
canary_n=$(( $(pool_stat canary requests) + $(pool_stat canary overridden) ))
back_total() { json_get "$(hcurl "http://127.0.0.1:$BACK_ADMIN/stats.json")" .pools.baseline.total.requests; }
back_total_is() { [ "$(back_total)" = "$1" ]; }
wait_for "the canary's server to count what it answered" 10 back_total_is "$canary_n"
assert_eq "the canary's count is what its server answered" "$canary_n" "$(back_total)"
assert_num "the canary took about half: >= 900" "$(pool_stat canary requests)" ">=" 900
assert_num "the canary took about half: <= 1100" "$(pool_stat canary requests)" "<=" 1100

# ---- refused streams are sent again --------------------------------------------------------
# A stream the server refused (RST_STREAM REFUSED_STREAM, or above a GOAWAY's
# last stream: a graceful restart) was not processed (RFC 9113 8.7): a
# bodiless request, whatever its method, is sent once more, on a new
# connection after a GOAWAY. One with a body is not kept for that: 502.
via_base() { curl -s --max-time 10 -H 'X-Weir-Pool: baseline' "$@"; }
for proto in --http1.1 --http2-prior-knowledge; do
	p=${proto#--}
	body=$(via_base $proto "http://127.0.0.1:$PROXY/refuse/get-$p")
	assert_eq "$proto: a refused GET is answered on its second try" "h2base GET /refuse/get-$p" \
		"$(json_get "$body" .name) $(json_get "$body" .method) $(json_get "$body" .path)"
	body=$(via_base $proto -X DELETE "http://127.0.0.1:$PROXY/refuse/delete-$p")
	assert_eq "$proto: a refused bodiless DELETE too (nothing was processed)" "DELETE /refuse/delete-$p" \
		"$(json_get "$body" .method) $(json_get "$body" .path)"
	body=$(via_base $proto "http://127.0.0.1:$PROXY/goaway/get-$p")
	assert_eq "$proto: a GET refused by a GOAWAY is answered on a new connection" "GET /goaway/get-$p" \
		"$(json_get "$body" .method) $(json_get "$body" .path)"
	code=$(via_base $proto -o /dev/null -w '%{http_code}' --data-binary 'x=1' "http://127.0.0.1:$PROXY/refuse/post-$p")
	assert_eq "$proto: a refused request with a body is the pool's 502 (its body is not kept)" 502 "$code"
done
log=$(bg_log h2srv)
for path in get-http1.1 delete-http1.1 get-http2-prior-knowledge delete-http2-prior-knowledge post-http1.1; do
	assert_contains "the server refused /refuse/$path once" "refused conn=" "$(grep " /refuse/$path\$" "$log")"
done
assert_eq "each GOAWAY came on its own connection" 2 "$(grep -c '^goaway conn=' "$log")"
wait_for "the 8 requests counted once each, retried or not" 10 total_is 2018

# ---- TLS sessions are resumed on h2 pools ----------------------------------------------------
# The canary behind a Python h2-over-TLS server that says whether each
# handshake resumed a session. Its first connection is a full handshake; a
# GOAWAY ends it, and the next connection offers the session its server
# issued: resumed.
TLSH2=$(free_port)
start_bg h2tls "$PY" "$top_srcdir/tests/integration/h2_server.py" "$TLSH2" h2tls --tls "$T/cert.pem" "$T/key.pem"
wait_port "$TLSH2" 20 "$BG_PID"
stop_bg weir
front_conf 50 "127.0.0.1:$TLSH2"
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
wait_port "$ADMIN" 10 "$BG_PID"
via_canary() { curl -s --max-time 10 -H 'X-Weir-Pool: canary' "$@"; }
assert_eq "the h2 TLS server answers through the canary pool" h2tls \
	"$(json_get "$(via_canary "http://127.0.0.1:$PROXY/first")" .name)"
body=$(via_canary "http://127.0.0.1:$PROXY/goaway/resume")
assert_eq "a GOAWAY on its connection: answered on a new one" "GET /goaway/resume" \
	"$(json_get "$body" .method) $(json_get "$body" .path)"
tlslog=$(bg_log h2tls)
assert_contains "the first connection was a full handshake" "tls conn=1 reused=False" "$(cat "$tlslog")"
assert_contains "the next connection resumed the server's session" "tls conn=2 reused=True" "$(cat "$tlslog")"
stop_bg h2tls || true # a Python server ends by its SIGTERM

# ---- a failed connect: the request goes to the pool's next server ----------------------------
# The h2 stream of the first attempt took the request from weir's side
# already: a bodiless request goes again from the kept copy; one with a
# body cannot, and is the pool's 502 at once (not an empty request left
# waiting for timeouts.backend, 10 s here). A fresh weir's first request
# goes to the first server listed, the dead one (the POST's 502 shows it).
for first in GET POST; do
	stop_bg weir
	front_conf 0 "127.0.0.1:$BACK" "\"127.0.0.1:$DEAD\", \"127.0.0.1:$B1\""
	start_bg weir "$WEIR" -c "$T/weir.conf"
	wait_port "$PROXY" 10 "$BG_PID"
	if [[ $first == GET ]]; then
		body=$(curl -s --max-time 5 --http2-prior-knowledge "http://127.0.0.1:$PROXY/after-dead")
		assert_eq "a GET whose first server is dead: answered by the next" "h2base GET /after-dead" \
			"$(json_get "$body" .name) $(json_get "$body" .method) $(json_get "$body" .path)"
	else
		out=$(curl -s --max-time 5 --http2-prior-knowledge -o /dev/null -w '%{http_code} %{time_total}' \
			--data-binary 'x=1' "http://127.0.0.1:$PROXY/after-dead")
		note "a POST with a body whose first server is dead: $out"
		assert_eq "... a POST with a body: the pool's 502 at once, not a hang" 502 "${out%% *}"
	fi
done

# ---- a server that is gone ------------------------------------------------------------------
stop_bg weir
front_conf 100 "127.0.0.1:$DEAD"
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
wait_port "$ADMIN" 10 "$BG_PID"
assert_eq "a dead h2 server: 502 to HTTP/2" 502 "$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge "http://127.0.0.1:$PROXY/")"
assert_eq "a dead h2 server: 502 to HTTP/1.1" 502 "$(curl -s -o /dev/null -w '%{http_code}' --http1.1 "http://127.0.0.1:$PROXY/")"
wait_for "both counted" 10 total_is 2
assert_eq "... as the canary's errors" 2 "$(pool_stat canary errors)"
stop_bg weir

# ---- health checks on h2 pools ---------------------------------------------------------------
H2CK=$(free_port); NOALPN=$(free_port); GRPC=$(free_port); CPROXY=$(free_port); CADMIN=$(free_port)
start_bg h2ck "$PY" "$top_srcdir/tests/integration/h2_server.py" "$H2CK" h2ck "$T/h2ck.health"
wait_port "$H2CK" 20 "$BG_PID"
# TLS with the canary's certificate, but no ALPN answer
start_bg noalpn openssl s_server -quiet -www -accept "127.0.0.1:$NOALPN" -cert "$T/cert.pem" -key "$T/key.pem"
wait_port "$NOALPN" 10 "$BG_PID"
# one that accepts and never answers; one that sends SETTINGS, then frames without end (of a
# type nghttp2 ignores, so that only weir's own bound can end them)
HANG=$(free_port); FLOOD=$(free_port)
start_bg hang "$PY" -c "import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $HANG)); s.listen(64); time.sleep(300)"
wait_port "$HANG" 10 "$BG_PID"
start_bg flood "$PY" -c "import socket, threading
def serve(c):
    try:
        c.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        frames = bytes([0, 0, 8, 0x20, 0, 0, 0, 0, 0] + [0] * 8) * 256  # of an unknown type
        while True:
            c.sendall(frames)
    except OSError:
        c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $FLOOD)); s.listen(64)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()"
wait_port "$FLOOD" 10 "$BG_PID"
grpc_server=""
if $PY -c 'import grpc' 2>/dev/null; then
	start_bg grpc "$PY" "$top_srcdir/tests/integration/grpc_peer.py" serve "$GRPC" gck
	wait_port "$GRPC" 20 "$BG_PID"
	grpc_server=", \"127.0.0.1:$GRPC\""
fi
CHECK='check = { path = "/healthz"; interval = 500; timeout = 500; rise = 2; fall = 2; };'
cat >"$T/check.conf" <<CONF
listen = ( { address = "127.0.0.1:$CPROXY"; protocols = ( "h2c", "http/1.1" ); } );
admin = { http = "127.0.0.1:$CADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$H2CK", "127.0.0.1:$DEMO", "127.0.0.1:$HANG", "127.0.0.1:$FLOOD"$grpc_server );
               protocol = "h2";
               $CHECK };
  canary   = { servers = ( "127.0.0.1:$BACK", "127.0.0.1:$NOALPN" ); protocol = "h2";
               tls = { ca = "$T/cert.pem"; server_name = "backend.test"; };
               $CHECK };
};
split = { canary_weight = 10; };
state_file = ""; event_log = "";
CONF
run "$WEIR" -t -c "$T/check.conf"
assert_eq "h2 pools with checks are a valid configuration" "0:" "$RUN_RC:$RUN_ERR"
start_bg cweir "$WEIR" -c "$T/check.conf"
wait_port "$CADMIN" 10 "$BG_PID"

server_line() { "$WEIRCTL" -s "$T/weir.sock" show servers | awk -v a="127.0.0.1:$1" '$2 == a'; }
state_is() { [ "$(server_line "$1" | awk '{ print $3 }')" = "$2" ]; }
reason_of() { server_line "$1" | cut -d' ' -f8-; }
reason_starts() { [[ "$(reason_of "$1")" == "$2"* ]]; }
checks_seen() { (($(grep -c '^healthz ' "$(bg_log h2ck)") >= $1)); }
h2_downstream() {	# the back weir's HTTP/2 requests so far
	hcurl "http://127.0.0.1:$BACK_ADMIN/metrics" | awk '$1 == "weir_downstream_requests_total{protocol=\"h2\"}" { print $2 }'
}
back_h2_before=$(h2_downstream)

wait_for "the h2c server checked up" 20 state_is "$H2CK" up
assert_eq "its check's status" 200 "$(server_line "$H2CK" | awk '{ print $5 }')"
wait_for "five checks of the h2c server" 20 checks_seen 5
assert_eq "the check is GET /healthz over h2c, the address as :authority, user-agent weir-check" \
	"GET http 127.0.0.1:$H2CK weir-check" "$(grep -m 1 '^healthz ' "$(bg_log h2ck)" | cut -d' ' -f3-)"
assert_eq "the checks share one HTTP/2 connection" 1 "$(grep '^healthz ' "$(bg_log h2ck)" | cut -d' ' -f2 | sort -u | wc -l)"
wait_for "the TLS h2 server checked up" 20 state_is "$BACK" up
assert_num "the TLS server saw the checks as HTTP/2 requests" "$(h2_downstream)" ">" "$back_h2_before"
wait_for "the HTTP/1.1-only server checked down" 20 state_is "$DEMO" down
assert_eq "... with the reason" "the server answered in HTTP/1.x, not HTTP/2" "$(reason_of "$DEMO")"
assert_contains "... in the log" \
	"pool baseline, server 127.0.0.1:$DEMO: check down after 2 failure(s) in a row (the server answered in HTTP/1.x, not HTTP/2)" \
	"$(cat "$(bg_log cweir)")"
wait_for "the TLS server without ALPN checked down" 20 state_is "$NOALPN" down
assert_eq "... with the reason" "TLS: the server did not choose h2 by ALPN" "$(reason_of "$NOALPN")"
wait_for "the server that never answers checked down" 20 state_is "$HANG" down
assert_eq "... by the timeout" "timeout after 500 ms" "$(reason_of "$HANG")"
wait_for "the server that floods checked down" 20 state_is "$FLOOD" down
assert_eq "... after 256 KiB of frames" "more than 262144 bytes from the server without an answer" "$(reason_of "$FLOOD")"
metrics=$(hcurl "http://127.0.0.1:$CADMIN/metrics")
assert_contains "weir_server_up 1 for the h2c server" "weir_server_up{pool=\"baseline\",server=\"127.0.0.1:$H2CK\"} 1" "$metrics"
assert_contains "weir_server_up 0 for the HTTP/1.1-only one" "weir_server_up{pool=\"baseline\",server=\"127.0.0.1:$DEMO\"} 0" "$metrics"
if [ -n "$grpc_server" ]; then
	# A gRPC server answers any GET "200, grpc-status 2 (UNKNOWN)": up and
	# speaking HTTP/2, which is what this check can tell of it.
	wait_for "the gRPC server checked up" 20 state_is "$GRPC" up
	assert_eq "... on HTTP status 200" "status 200" "$(reason_of "$GRPC")"
else
	note "python3-grpcio is not installed: no gRPC server checked"
fi

echo 503 >"$T/h2ck.health"
wait_for "503 makes the h2c server down" 20 state_is "$H2CK" down
assert_eq "... with the reason" "status 503 (expect 2xx)" "$(reason_of "$H2CK")"
assert_contains "... after fall failures, in the log" \
	"pool baseline, server 127.0.0.1:$H2CK: check down after 2 failure(s) in a row (status 503 (expect 2xx))" \
	"$(cat "$(bg_log cweir)")"
echo reset >"$T/h2ck.health"
wait_for "RST_STREAM in the reason" 20 reason_starts "$H2CK" "reset by the server (RST_STREAM REFUSED_STREAM)"
ok "a reset stream fails the check, named"
echo goaway >"$T/h2ck.health"
wait_for "GOAWAY in the reason" 20 reason_starts "$H2CK" "GOAWAY PROTOCOL_ERROR from the server, then "
ok "a GOAWAY fails the check, named: $(reason_of "$H2CK")"
rm -f "$T/h2ck.health"
wait_for "the h2c server up again" 20 state_is "$H2CK" up
assert_eq "status 200 again" "status 200" "$(reason_of "$H2CK")"

# The canary pool with no server up: rolled back at once.
cstats() { hcurl "http://127.0.0.1:$CADMIN/stats.json"; }
assert_eq "the canary serves 10 %" 10.0 "$(json_get "$(cstats)" .weights.canary)"
stop_bg back
wait_for "the TLS h2 server checked down" 20 state_is "$BACK" down
wait_for "the canary rolled back" 10 eval '[ "$(json_get "$(cstats)" .guard.state)" = rolled_back ]'
assert_contains "the reason names the pool" "pool canary has no server up: 127.0.0.1:$BACK" \
	"$(json_get "$(cstats)" .guard.reason)"
stop_bg cweir
# the servers end by the signal (status 143)
[ -z "$grpc_server" ] || stop_bg grpc || true
stop_bg noalpn || true
stop_bg flood || true
stop_bg hang || true
stop_bg h2ck || true
done_testing
