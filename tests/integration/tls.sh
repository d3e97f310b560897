#!/bin/bash
# TLS end to end, with certificates made here by the openssl command:
#   - "edge": a weir terminating TLS in front of the demo backend. curl checks
#     the chain (root -> intermediate -> leaf, the file holding leaf and
#     intermediate) with the root alone; TLS 1.1 is refused by weir itself,
#     1.2 and 1.3 work, min_version "1.3" refuses 1.2; ALPN, resumption by
#     ticket, bodies, X-Forwarded-Proto; failed handshakes are counted.
#     These requests are HTTP/1.1 (curl --http1.1): HTTP/2 has its own tests.
#   - "alpn": listeners with other protocols lists answer ALPN in their
#     order; a reload that changes them is logged as needing a restart, and
#     ALPN stays as it was.
#   - "front": a plain weir whose pools speak TLS to the edge: verified
#     against the root with server_name; an untrusted certificate or a wrong
#     name is that pool's 502, counted and logged once per back-off, not per
#     request; verify = false accepts; sessions are resumed across connections
#     (an "openssl s_server -www" backend says whether a session was reused).
#   - SIGHUP on the edge swaps its certificate for new clients while a
#     connection made before goes on with the old one; a bad new certificate
#     is refused with file:line and the current one stays.
#   - weir -t: missing certificate, key mismatch, min_version "1.1", "h2c" on a
#     TLS listener, with file:line.
. "$(dirname "$0")/lib.sh"
require_cmd openssl

# ---- certificates -------------------------------------------------------------
# ca NAME SUBJECT [ISSUER]: a CA certificate NAME.pem / NAME.key, self-signed
# or signed by ISSUER.
ca() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$T/$1.ext"
	if [[ -n ${3:-} ]]; then
		openssl x509 -req -in "$T/$1.csr" -CA "$T/$3.pem" -CAkey "$T/$3.key" -set_serial 0x77 \
			-days 2 -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
	else
		openssl x509 -req -in "$T/$1.csr" -signkey "$T/$1.key" -days 2 \
			-extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
	fi
}
# leaf NAME CN SERIAL: a server certificate for localhost, backend.test and
# 127.0.0.1 signed by the intermediate; NAME.chain holds leaf + intermediate.
leaf() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null
	printf '%s\n' 'subjectAltName=DNS:localhost,DNS:backend.test,IP:127.0.0.1' \
		'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature' \
		'extendedKeyUsage=serverAuth' >"$T/$1.ext"
	openssl x509 -req -in "$T/$1.csr" -CA "$T/inter.pem" -CAkey "$T/inter.key" -set_serial "$3" \
		-days 2 -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
	cat "$T/$1.pem" "$T/inter.pem" >"$T/$1.chain"
}
ca root "weir test root"
ca inter "weir test intermediate" root
ca rogue "weir rogue root"
leaf one "weir-test-one" 0x1001
leaf two "weir-test-two" 0x1002
# The files the edge serves; replaced on disk for the reload test.
cp "$T/one.chain" "$T/edge-cert.pem"
cp "$T/one.key" "$T/edge-key.pem"

# ---- weir -t ------------------------------------------------------------------------
# check_conf NAME LISTEN_TLS_LINES...: a configuration whose listener has the
# given tls group lines (the group starts on line 2).
check_conf() {
	local f="$T/$1.conf"
	shift
	{
		printf 'listen = ( { address = "127.0.0.1:1";\n'
		printf '%s\n' "$@"
		printf '} );\npools = { baseline = { servers = ( "127.0.0.1:2" ); };\n'
		printf '          canary = { servers = ( "127.0.0.1:3" ); }; };\n'
	} >"$f"
	run "$WEIR" -t -c "$f"
}
check_conf nocert "tls = { certificate = \"$T/missing.pem\";" "key = \"$T/one.key\"; };"
assert_eq "weir -t: missing certificate fails" 1 "$RUN_RC"
assert_contains "weir -t: missing certificate at file:line" \
	"$T/nocert.conf:2: listen[0].tls.certificate: cannot read certificate $T/missing.pem" "$RUN_ERR"
check_conf mismatch "tls = { certificate = \"$T/one.chain\";" "key = \"$T/two.key\"; };"
assert_eq "weir -t: key mismatch fails" 1 "$RUN_RC"
assert_contains "weir -t: key mismatch at the key's line" \
	"$T/mismatch.conf:3: listen[0].tls.key: private key $T/two.key does not match certificate" "$RUN_ERR"
check_conf v11 "tls = { certificate = \"$T/one.chain\"; key = \"$T/one.key\";" \
	'min_version = "1.1"; };'
assert_eq "weir -t: min_version 1.1 fails" 1 "$RUN_RC"
assert_contains "weir -t: min_version 1.1 at file:line" \
	"$T/v11.conf:3: listen[0].tls.min_version must be \"1.2\" or \"1.3\" (got string \"1.1\")" "$RUN_ERR"
check_conf good "tls = { certificate = \"$T/one.chain\"; key = \"$T/one.key\"; };"
assert_eq "weir -t: a matching chain and key are fine" "0 configuration ok" "$RUN_RC $RUN_OUT"
check_conf h2c "tls = { certificate = \"$T/one.chain\"; key = \"$T/one.key\"; };" \
	'protocols = ( "h2", "h2c" );'
assert_eq "weir -t: h2c on a TLS listener fails" 1 "$RUN_RC"
assert_contains "weir -t: h2c on a TLS listener at file:line" \
	"$T/h2c.conf:3: listen[0].protocols[1]: \"h2c\" is HTTP/2 in cleartext and this listener has tls; use \"h2\"" \
	"$RUN_ERR"

# ---- the edge: TLS termination ----------------------------------------------------------
BE=$(free_port); EDGE=$(free_port); EDGE13=$(free_port); EDGE_ADMIN=$(free_port)
start_backend be "$BE"
cat >"$T/edge.conf" <<CONF
listen = ( { address = "127.0.0.1:$EDGE";
             tls = { certificate = "$T/edge-cert.pem"; key = "$T/edge-key.pem"; }; },
           { address = "127.0.0.1:$EDGE13";
             tls = { certificate = "$T/edge-cert.pem"; key = "$T/edge-key.pem";
                     min_version = "1.3"; }; } );
admin = { http = "127.0.0.1:$EDGE_ADMIN"; socket = ""; };
pools = { baseline = { servers = ( "127.0.0.1:$BE" ); };
          canary   = { servers = ( "127.0.0.1:$BE" ); }; };
state_file = ""; event_log = "";
CONF
start_bg edge "$WEIR" -c "$T/edge.conf"
wait_port "$EDGE" 10 "$BG_PID"
wait_port "$EDGE_ADMIN" 10 "$BG_PID"

https() { hcurl --http1.1 --cacert "$T/root.pem" --resolve "localhost:$EDGE:127.0.0.1" "$@"; }
body=$(https "https://localhost:$EDGE/hello?x=1")
assert_eq "HTTPS request reaches the backend (chain verified from the root)" be "$(json_get "$body" .name)"
assert_eq "path and query preserved over TLS" "/hello?x=1" "$(json_get "$body" .path)"
assert_eq "X-Forwarded-Proto is https" https "$(json_get "$body" '.headers["X-Forwarded-Proto"]')"
printf 'x%.0s' {1..100000} >"$T/upload"
body=$(https --data-binary @"$T/upload" "https://localhost:$EDGE/post")
assert_eq "request body over TLS" "$(sha256_file "$T/upload")" "$(json_get "$body" .body_sha256)"
https -o "$T/big" "https://localhost:$EDGE/bytes/3000000"
assert_eq "3 MB response body over TLS" "$(bytes_sha256 3000000)" "$(sha256_file "$T/big")"
# A slow reader that asks to close: weir closes once the last records are on
# the wire, not when it has encrypted them (they may still wait under the
# TLS layer for the socket).
https --limit-rate 300k -H 'Connection: close' -o "$T/slow" "https://localhost:$EDGE/bytes/1000000"
assert_eq "1 MB to a slow reader over TLS, Connection: close: whole" "$(bytes_sha256 1000000)" \
	"$(sha256_file "$T/slow")"
run curl -sS --noproxy '*' --max-time 10 -v --http1.1 --cacert "$T/root.pem" --resolve "localhost:$EDGE:127.0.0.1" \
	"https://localhost:$EDGE/a" "https://localhost:$EDGE/b"
assert_contains "keep-alive over TLS" "Re-using existing connection" "$RUN_ERR"

# s_client VERSION_FLAG PORT [ARGS...]: a handshake, then EOF (stdin is empty).
s_client() {
	local v=$1 port=$2
	shift 2
	run openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$T/root.pem" \
		-verify_return_error "$v" "$@"
}
s_client -tls1_2 "$EDGE"
assert_contains "TLS 1.2 accepted" "New, TLSv1.2" "$RUN_OUT"
s_client -tls1_3 "$EDGE"
assert_contains "TLS 1.3 accepted" "New, TLSv1.3" "$RUN_OUT"
# Security level 0 lets the client offer TLS 1.1 at all, so that the refusal
# is weir's (it is also counted below as weir's handshake failure).
s_client -tls1_1 "$EDGE" -cipher 'DEFAULT@SECLEVEL=0'
assert_ne "TLS 1.1 refused" 0 "$RUN_RC"
assert_contains "TLS 1.1: weir answers with a protocol_version alert" "alert protocol version" "$RUN_ERR"
s_client -tls1_2 "$EDGE13"
assert_ne "min_version 1.3 refuses TLS 1.2" 0 "$RUN_RC"
s_client -tls1_3 "$EDGE13"
assert_contains "min_version 1.3 accepts TLS 1.3" "New, TLSv1.3" "$RUN_OUT"
run hcurl "http://127.0.0.1:$EDGE/"
assert_ne "plain HTTP on a TLS listener gets no answer" 0 "$RUN_RC"
assert_eq "HTTPS still served after failed handshakes" 200 \
	"$(http_status "https://localhost:$EDGE/" --http1.1 --cacert "$T/root.pem" --resolve "localhost:$EDGE:127.0.0.1")"
# ALPN on a listener with the default protocols ( "h2", "http/1.1" ).
s_client -tls1_3 "$EDGE" -alpn h2,http/1.1
assert_contains "default TLS listener: ALPN selects h2" "ALPN protocol: h2" "$RUN_OUT"
s_client -tls1_3 "$EDGE" -alpn http/1.1,h2
assert_contains "default TLS listener: the server's order wins (h2)" "ALPN protocol: h2" "$RUN_OUT"
s_client -tls1_2 "$EDGE" -alpn h2
assert_contains "default TLS listener: ALPN h2 over TLS 1.2" "ALPN protocol: h2" "$RUN_OUT"
s_client -tls1_3 "$EDGE" -alpn http/1.1
assert_contains "default TLS listener: a client offering http/1.1 alone gets it" \
	"ALPN protocol: http/1.1" "$RUN_OUT"
s_client -tls1_3 "$EDGE" -alpn spdy/3.1,h3
assert_eq "a client offering neither h2 nor http/1.1 is still served, without ALPN" \
	"0 yes" "$RUN_RC $(grep -q "No ALPN negotiated" <<<"$RUN_OUT" && echo yes)"
handshake_failures() {
	hcurl "http://127.0.0.1:$EDGE_ADMIN/metrics" | sed -n 's/^weir_tls_handshake_failures_total //p'
}
assert_eq "failed handshakes counted (TLS 1.1, 1.2 on 1.3-only, plain HTTP)" 3 "$(handshake_failures)"

# Resumption by ticket; the ticket arrives after the handshake, so the first
# client sends a request and reads the answer before it saves the session.
printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' >"$T/get"
for v in tls1_2 tls1_3; do
	timeout 30 openssl s_client -connect "127.0.0.1:$EDGE" -servername localhost -CAfile "$T/root.pem" \
		"-$v" -ign_eof -sess_out "$T/sess-$v" <"$T/get" >"$T/first-$v" 2>&1 || true
	assert_contains "$v: first connection answered" "HTTP/1.1 200" "$(cat "$T/first-$v")"
	run openssl s_client -connect "127.0.0.1:$EDGE" -servername localhost -CAfile "$T/root.pem" \
		"-$v" -sess_in "$T/sess-$v"
	assert_contains "$v: session resumed" "Reused, TLSv1.${v#tls1_}" "$RUN_OUT"
done

# ---- the front: TLS to the pools ------------------------------------------------------------
FRONT=$(free_port); FRONT_ADMIN=$(free_port)
# front_conf CANARY_TLS [BASELINE_SERVER BASELINE_TLS]
front_conf() {
	local verified="ca = \"$T/root.pem\"; server_name = \"backend.test\";"
	cat >"$T/front.conf.new" <<CONF
listen = ( "127.0.0.1:$FRONT" );
admin = { http = "127.0.0.1:$FRONT_ADMIN"; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:${2:-$EDGE}" ); tls = { ${3:-$verified} }; };
  canary   = { servers = ( "127.0.0.1:$EDGE" );
               tls = { $1 }; };
};
split = { override_header = "X-Weir-Pool"; };
state_file = ""; event_log = "";
CONF
	mv "$T/front.conf.new" "$T/front.conf"
}
front_conf "ca = \"$T/rogue.pem\"; server_name = \"backend.test\";"
start_bg front "$WEIR" -c "$T/front.conf"
wait_port "$FRONT" 10 "$BG_PID"
wait_port "$FRONT_ADMIN" 10 "$BG_PID"
via() { hcurl -H "X-Weir-Pool: $1" "http://127.0.0.1:$FRONT${2:-/}"; }
status_via() { http_status "http://127.0.0.1:$FRONT/" -H "X-Weir-Pool: $1"; }
stats() { hcurl "http://127.0.0.1:$FRONT_ADMIN/stats.json"; }
canary_overridden_is() { [ "$(json_get "$(stats)" .pools.canary.total.overridden)" = "$1" ]; }
logged() { grep -c -- "$2" "$(bg_log "$1")" || true; }

body=$(via baseline /pooled)
assert_eq "verified TLS pool reaches the backend through the edge" be "$(json_get "$body" .name)"
assert_eq "the edge saw a TLS client" https "$(json_get "$body" '.headers["X-Forwarded-Proto"]')"
for i in 1 2 3 4 5 6 7 8 9 10; do
	assert_eq "untrusted backend certificate: 502 ($i)" 502 "$(status_via canary)"
done
# Routed by the override header: counted as overridden, not judged as errors.
wait_for "10 overridden canary requests in /stats.json" 10 canary_overridden_is 10
assert_eq "untrusted backend: override requests are no judged errors" 0 \
	"$(json_get "$(stats)" .pools.canary.total.errors)"
assert_eq "TLS upstream failures in /metrics" 10 \
	"$(hcurl "http://127.0.0.1:$FRONT_ADMIN/metrics" | sed -n 's/^weir_tls_upstream_failures_total //p')"
n=$(logged front "TLS certificate verification failed")
assert_num "verification failure logged" "$n" ">=" 1
assert_num "logged per back-off period, not per request ($n lines for 10 requests)" "$n" "<" 10
assert_contains "the log names the pool, the server and the reason" \
	"pool canary, server 127.0.0.1:$EDGE: TLS certificate verification failed" "$(cat "$(bg_log front)")"
assert_eq "the verified pool is undisturbed" 200 "$(status_via baseline)"

# reload_front: SIGHUP the front and wait until it says the file was applied.
# The worker takes the new file a moment after that line, so what follows a
# reload is polled for (bounded) rather than asked once.
applied() { [ "$(logged "$1" "reload: $T/$1.conf applied")" = "$2" ]; }
front_reloads=0
reload_front() {
	front_reloads=$((front_reloads + 1))
	kill_bg front HUP
	wait_for "front reload $front_reloads" 10 applied front "$front_reloads"
}
front_conf "ca = \"$T/root.pem\"; server_name = \"wrong.test\";"
reload_front
mismatch_502() {
	[ "$(status_via canary)" = 502 ] &&
		grep -q "TLS certificate verification failed: hostname mismatch" "$(bg_log front)"
}
wait_for "a wrong server_name answered 502 and logged as a host name mismatch" 10 mismatch_502
ok "wrong server_name: 502, logged as a host name mismatch"

SSRV=$(free_port)
start_bg s_server openssl s_server -www -accept "$SSRV" -cert "$T/one.pem" -cert_chain "$T/inter.pem" \
	-key "$T/one.key"
wait_port "$SSRV" 10 "$BG_PID"
front_conf "ca = \"$T/rogue.pem\"; verify = false;" "$SSRV"
reload_front
noverify_200() { [ "$(json_get "$(via canary /noverify)" .name)" = be ]; }
wait_for "verify = false to accept an untrusted certificate" 10 noverify_200
ok "verify = false accepts an untrusted certificate"
# s_server -www answers each request on a new connection with a page that
# says whether the session was new or resumed.
from_s_server() { via baseline >"$T/first-page" && grep -q "Cipher is" "$T/first-page"; }
wait_for "the baseline pool to be the s_server" 10 from_s_server
assert_contains "first connection to a server: new session" "New, TLSv1.3" "$(cat "$T/first-page")"
assert_contains "next connection resumes the session" "Reused, TLSv1.3" "$(via baseline)"
assert_contains "and the next" "Reused, TLSv1.3" "$(via baseline)"
stop_bg s_server || true

# ---- reload of the edge's certificate ---------------------------------------------------------
cat >"$T/ka.py" <<'PY'
# A keep-alive HTTPS client: one request, then (once GO exists) a second one on
# the same connection; prints status, certificate CN and serial each time.
import os, socket, ssl, sys, time
port, ca, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                    server_hostname="localhost")
f = s.makefile("rb")
def request(path):
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status = f.readline().split()[1].decode()
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
    f.read(length)
    cert = s.getpeercert()
    cn = dict(x[0] for x in cert["subject"])["commonName"]
    return "%s %s %s" % (status, cn, cert["serialNumber"])
print("first", request("/one"), flush=True)
if go != "-":
    deadline = time.monotonic() + 30
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit("no go")
        time.sleep(0.05)
    print("second", request("/two"), flush=True)
PY
new_client() { "$WEIR_PYTHON" "$T/ka.py" "$EDGE" "$T/root.pem" -; }
assert_eq "before the reload: the first certificate" "first 200 weir-test-one 1001" "$(new_client)"
start_bg ka "$WEIR_PYTHON" "$T/ka.py" "$EDGE" "$T/root.pem" "$T/go"
wait_for "the old connection's first answer" 10 grep -q first "$(bg_log ka)"
cp "$T/two.chain" "$T/edge-cert.new" && mv "$T/edge-cert.new" "$T/edge-cert.pem"
cp "$T/two.key" "$T/edge-key.new" && mv "$T/edge-key.new" "$T/edge-key.pem"
kill_bg edge HUP
wait_for "edge reload" 10 applied edge 1
new_cert_served() { [ "$(new_client)" = "first 200 weir-test-two 1002" ]; }
wait_for "a new client to get the new certificate" 10 new_cert_served
ok "after the reload: a new client gets the new certificate"
touch "$T/go"
wait_bg ka 20
assert_eq "a connection made before the reload still works, on its old certificate" \
	"first 200 weir-test-one 1001
second 200 weir-test-one 1001" "$(cat "$(bg_log ka)")"

echo "not a certificate" >"$T/edge-cert.pem"
kill_bg edge HUP
refused() { grep -q "reload refused" "$(bg_log edge)"; }
wait_for "the bad certificate refused" 10 refused
assert_contains "bad certificate: refusal names file:line and the reason" \
	"$T/edge.conf:2: listen[0].tls.certificate: cannot load a PEM certificate chain from $T/edge-cert.pem" \
	"$(cat "$(bg_log edge)")"
assert_eq "the current certificate stays" "first 200 weir-test-two 1002" "$(new_client)"
assert_eq "the edge is still one reload in" 1 "$(logged edge "reload: $T/edge.conf applied")"

# ---- ALPN per listener ------------------------------------------------------------------------
A11=$(free_port); A11H2=$(free_port); AH2=$(free_port); ALPN_ADMIN=$(free_port)
# alpn_conf PROTOCOLS: the first listener's protocols; the others are fixed.
alpn_conf() {
	local tls="tls = { certificate = \"$T/one.chain\"; key = \"$T/one.key\"; };"
	cat >"$T/alpn.conf.new" <<CONF
listen = ( { address = "127.0.0.1:$A11"; $tls protocols = $1; },
           { address = "127.0.0.1:$A11H2"; $tls protocols = ( "http/1.1", "h2" ); },
           { address = "127.0.0.1:$AH2"; $tls protocols = ( "h2" ); } );
admin = { http = "127.0.0.1:$ALPN_ADMIN"; socket = ""; };
pools = { baseline = { servers = ( "127.0.0.1:$BE" ); };
          canary   = { servers = ( "127.0.0.1:$BE" ); }; };
state_file = ""; event_log = "";
CONF
	mv "$T/alpn.conf.new" "$T/alpn.conf"
}
# alpn_is WHAT PORT CLIENT_ALPN EXPECTED: the protocol selected, "none" for no ALPN.
alpn_is() {
	s_client -tls1_3 "$2" -alpn "$3"
	if [[ $4 == none ]]; then
		assert_contains "$1" "No ALPN negotiated" "$RUN_OUT"
	else
		assert_contains "$1" "ALPN protocol: $4" "$RUN_OUT"
	fi
}
alpn_conf '( "http/1.1" )'
start_bg alpn "$WEIR" -c "$T/alpn.conf"
for port in "$A11" "$A11H2" "$AH2"; do wait_port "$port" 10 "$BG_PID"; done
alpn_is '( "http/1.1" ): http/1.1 for a client offering h2,http/1.1' "$A11" h2,http/1.1 http/1.1
alpn_is '( "http/1.1" ): no ALPN for a client offering h2 alone' "$A11" h2 none
alpn_is '( "http/1.1", "h2" ): the server prefers http/1.1' "$A11H2" h2,http/1.1 http/1.1
alpn_is '( "http/1.1", "h2" ): h2 for a client offering h2 alone' "$A11H2" h2 h2
alpn_is '( "h2" ): h2 for a client offering http/1.1,h2' "$AH2" http/1.1,h2 h2
alpn_is '( "h2" ): no ALPN for a client offering http/1.1 alone' "$AH2" http/1.1 none
# A listener's protocols change at a restart, like its address: a reload
# says so and its contexts, rebuilt, keep the protocols of the start.
alpn_conf '( "h2", "http/1.1" )'
kill_bg alpn HUP
wait_for "alpn reload" 10 applied alpn 1
assert_contains "a reload that changes protocols says it needs a restart" \
	"reload: listen changed; it takes effect at the next restart" "$(cat "$(bg_log alpn)")"
sleep 1 # the workers take the new contexts just after "applied"
alpn_is "after the reload: http/1.1 still, until a restart" "$A11" h2,http/1.1 http/1.1
stop_bg alpn

stop_bg front
stop_bg edge
done_testing
