#!/bin/bash
# "h2" pools end to end, both kinds: the baseline speaks h2c to a Python
# HTTP/2 server (h2_server.py), the canary h2 over TLS (ALPN, verified) to a
# second weir whose TLS listener offers h2, in front of a demo backend.
# HTTP/1.1 and HTTP/2 clients get the same answers; 10 MB bodies go both
# ways intact through both pools; the server's trailers reach HTTP/2
# clients; the request reaches the server as HTTP/2 with te: trailers and
# the client's authority; weir's pool counts equal what the servers saw;
# a server that is gone is the pool's 502.
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

front_conf() {	# CANARY_WEIGHT CANARY_SERVER
	cat >"$T/weir.conf" <<CONF
listen = ( { address = "127.0.0.1:$PROXY"; protocols = ( "h2c", "http/1.1" ); } );
admin = { http = "127.0.0.1:$ADMIN"; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); protocol = "h2"; };
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
back_n=$(json_get "$(hcurl "http://127.0.0.1:$BACK_ADMIN/stats.json")" .pools.baseline.total.requests)
assert_eq "the canary's count is what its server answered" "$back_n" \
	$(( $(pool_stat canary requests) + $(pool_stat canary overridden) ))
assert_num "the canary took about half: >= 900" "$(pool_stat canary requests)" ">=" 900
assert_num "the canary took about half: <= 1100" "$(pool_stat canary requests)" "<=" 1100

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
stop_bg back
done_testing
