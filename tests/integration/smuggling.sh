#!/bin/bash
# Request smuggling and malformed requests (RFC 9112, and weir's strictness
# rules at the top of src/http1.c): every shape a front end and a back end
# could disagree on is refused with its status and the connection closed,
# before a single byte of it reaches a backend. A few well-formed edge cases
# must still pass, so the refusals are not an accident of a broken parser.
# Bodies whose chunked framing breaks after the head was forwarded are
# answered 400, and the upstream connection that saw the head is closed,
# never pooled.
# shellcheck disable=SC2059	# the requests are printf formats (\r\n, \000) on purpose
. "$(dirname "$0")/lib.sh"
EVIL=("$WEIR_PYTHON" -S "$top_srcdir/tests/integration/evil_backend.py")

BE=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_bg evil "${EVIL[@]}" serve "$BE"
wait_port "$BE" 10 "$BG_PID"

cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:$BE" ); };
  canary   = { servers = ( "127.0.0.1:$BE" ); };
};
split = { canary_weight = 0; };
timeouts = { backend = "5s"; connect = "1s"; request_header = "5s"; };
limits = { max_header_bytes = 16384; };
state_file = ""; event_log = "";
CONF
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"

evil_stats() { hcurl "http://127.0.0.1:$BE/__evil/stats"; }
repeat() { head -c "$2" /dev/zero | tr '\0' "$1"; }	# CHAR N

# req NAME WANT BYTES: queue BYTES (printf format: \r \n \000 ...) to be
# sent on a connection of its own. check_reqs sends them all (one Python
# process, not one per case) and asserts for each: WANT 200: it reached the
# backend (one more request head); anything else: weir answered WANT with
# "Connection: close" and closed, and the backend saw nothing at all (no
# connection that talked, no request head).
REQ_NAMES=() REQ_WANTS=() REQ_FILES=()
req() {
	local f="$T/req.${#REQ_NAMES[@]}"
	printf -- "$3" >"$f"
	REQ_NAMES+=("$1") REQ_WANTS+=("$2") REQ_FILES+=("$f")
}
check_reqs() {
	local i=0 name want status end conn before after
	EVIL_FIELDS="status end connection reached_before reached_after" \
		"${EVIL[@]}" probes "$PROXY" "$BE" 10 "${REQ_FILES[@]}" >"$T/probes.out"
	while read -r status end conn before after; do
		name=${REQ_NAMES[i]} want=${REQ_WANTS[i]}
		i=$((i + 1))
		assert_eq "$name: status" "$want" "$status"
		if [[ $want == 200 ]]; then
			assert_eq "$name: reached the backend once" "$((${before#*/} + 1))" "${after#*/}"
			continue
		fi
		assert_ne "$name: connection closed by weir" timeout "$end"
		assert_eq "$name: answered with Connection: close" close "$conn"
		assert_eq "$name: nothing reached the backend" "$before" "$after"
	done <"$T/probes.out"
	assert_eq "every queued request was sent" "${#REQ_NAMES[@]}" "$i"
	REQ_NAMES=() REQ_WANTS=() REQ_FILES=()
}

H='Host: a\r\n'
C='Connection: close\r\n'

# ---- controls: well-formed edge cases pass ------------------------------------------
req "plain GET" 200 "GET /ok HTTP/1.1\r\n$H$C\r\n"
req "4 empty lines before the request line" 200 "\r\n\r\n\r\n\r\nGET /ok HTTP/1.1\r\n$H$C\r\n"
req "absolute-form target" 200 "GET http://a/ok HTTP/1.1\r\n$H$C\r\n"
req "OPTIONS *" 200 "OPTIONS * HTTP/1.1\r\n$H$C\r\n"
req "empty Host" 200 "GET /ok HTTP/1.1\r\nHost:\r\n$C\r\n"
req "HTTP/1.0 without Host" 200 "GET /ok HTTP/1.0\r\n\r\n"
req "Content-Length with leading zeros" 200 "POST /ok HTTP/1.1\r\n${H}Content-Length: 003\r\n$C\r\nabc"
req "chunked body with an extension and a trailer" 200 \
	"POST /ok HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n$C\r\n3;ext=\"v\"\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
req "unknown method token" 200 "PURGE /ok HTTP/1.1\r\n$H$C\r\n"
req "empty coding elements are ignored (RFC 9110 5.6.1)" 200 \
	"POST /ok HTTP/1.1\r\n${H}Transfer-Encoding: gzip,, chunked,\r\n$C\r\n3\r\nabc\r\n0\r\n\r\n"
req "absolute-form with an IPv6 literal and a port" 200 "GET http://[::1]:8080/ok HTTP/1.1\r\n$H$C\r\n"

# ---- framing: Content-Length and Transfer-Encoding (smuggling) ---------------------------
req "CL and TE" 400 "POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
req "TE and CL" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"
req "two different Content-Lengths" 400 "POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
req "two equal Content-Lengths" 400 "POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
req "Content-Length list" 400 "POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello"
req "signed Content-Length" 400 "POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello"
req "hex Content-Length" 400 "POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello"
req "empty Content-Length" 400 "POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n"
req "Content-Length above INT64_MAX" 400 "POST / HTTP/1.1\r\n${H}Content-Length: 9223372036854775808\r\n\r\n"
req "final coding not chunked" 501 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"
req "only gzip" 501 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n"
req "chunked misspelt" 501 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"
req "chunked twice" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"
req "chunked on two lines" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
req "chunked with a parameter" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n"
req "only empty coding elements" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: ,\r\n\r\n0\r\n\r\n"
req "coding that is not a token" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n"
req "Transfer-Encoding in HTTP/1.0" 400 "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"

# ---- field syntax ---------------------------------------------------------------------
req "obs-fold" 400 "GET / HTTP/1.1\r\n${H}X-A: 1\r\n 2\r\n\r\n"
req "obs-fold with a tab" 400 "GET / HTTP/1.1\r\n${H}X-A: 1\r\n\t2\r\n\r\n"
req "whitespace before the first field" 400 "GET / HTTP/1.1\r\n ${H}\r\n"
req "space before the colon" 400 "GET / HTTP/1.1\r\n${H}Content-Length : 0\r\n\r\n"
req "tab before the colon" 400 "GET / HTTP/1.1\r\n${H}Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n"
req "empty field name" 400 "GET / HTTP/1.1\r\n$H: x\r\n\r\n"
req "field name with a slash" 400 "GET / HTTP/1.1\r\n${H}X/Y: 1\r\n\r\n"
req "NUL in a field value" 400 "GET / HTTP/1.1\r\n${H}X-A: a\000b\r\n\r\n"
req "NUL in the request line" 400 "GET /a\000b HTTP/1.1\r\n$H\r\n"
req "bare CR in a field value" 400 "GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n"
req "bare CR ending a line" 400 "GET / HTTP/1.1\r\n${H}X-A: a\r\r\n\r\n"
req "bare LF ending a field line" 400 "GET / HTTP/1.1\r\n${H}X-A: a\n\r\n"
req "bare LF ending the request line" 400 "GET / HTTP/1.1\n$H\r\n"
req "bare LF ending the head" 400 "GET / HTTP/1.1\r\n$H\n"
req "control character in a value" 400 "GET / HTTP/1.1\r\n${H}X-A: a\001b\r\n\r\n"
req "DEL in a value" 400 "GET / HTTP/1.1\r\n${H}X-A: a\177b\r\n\r\n"
req "five empty lines before the request" 400 "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n$H\r\n"

# ---- Host (RFC 9112 3.2) ---------------------------------------------------------------
req "HTTP/1.1 without Host" 400 "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n"
req "two Host fields" 400 "GET / HTTP/1.1\r\n${H}Host: b\r\n\r\n"
req "Host with a space" 400 "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"
req "Host with a slash" 400 "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"

# ---- request line: method, target, version ------------------------------------------------
req "method that is not a token" 400 "G(T / HTTP/1.1\r\n$H\r\n"
req "empty method" 400 " / HTTP/1.1\r\n$H\r\n"
req "two spaces after the method" 400 "GET  / HTTP/1.1\r\n$H\r\n"
req "tab as separator" 400 "GET\t/ HTTP/1.1\r\n$H\r\n"
req "trailing space after the version" 400 "GET / HTTP/1.1 \r\n$H\r\n"
req "HTTP/0.9 request line" 400 "GET /\r\n\r\n"
req "lower-case protocol name" 400 "GET / http/1.1\r\n$H\r\n"
req "version without a minor" 400 "GET / HTTP/1\r\n$H\r\n"
req "version with two-digit minor" 400 "GET / HTTP/1.10\r\n$H\r\n"
req "HTTP/1.2" 505 "GET / HTTP/1.2\r\n$H\r\n"
req "HTTP/2.0" 505 "GET / HTTP/2.0\r\n$H\r\n"
req "HTTP/2 preface" 505 "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
req "relative target" 400 "GET foo HTTP/1.1\r\n$H\r\n"
req "absolute-form with userinfo" 400 "GET http://u@a/ HTTP/1.1\r\n$H\r\n"
req "absolute-form with another scheme" 400 "GET ftp://a/ HTTP/1.1\r\n$H\r\n"
req "fragment in an origin-form target" 400 "GET /p#f HTTP/1.1\r\n$H\r\n"
req "fragment in an absolute-form authority" 400 "GET http://a#/x HTTP/1.1\r\n$H\r\n"
req "absolute-form authority with sub-delims" 400 "GET http://a,b;c=(d)/x HTTP/1.1\r\n$H\r\n"
req "absolute-form authority with two colons" 400 "GET http://a:b:c HTTP/1.1\r\n$H\r\n"
req "absolute-form with an unclosed IPv6 literal" 400 "GET http://[::1 HTTP/1.1\r\n$H\r\n"
req "absolute-form with a port above 65535" 400 "GET http://a:65536/ HTTP/1.1\r\n$H\r\n"
req "asterisk for GET" 400 "GET * HTTP/1.1\r\n$H\r\n"
req "target with a non-ASCII byte" 400 "GET /\351 HTTP/1.1\r\n$H\r\n"
req "CONNECT (no tunnels)" 501 "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"
req "CONNECT without a port" 400 "CONNECT a HTTP/1.1\r\n$H\r\n"

# ---- sizes --------------------------------------------------------------------------------
req "request line over 8 KiB" 414 "GET /$(repeat a 9000) HTTP/1.1\r\n$H\r\n"
req "request line over 8 KiB, no LF yet" 414 "GET /$(repeat a 9000)"
req "head over max_header_bytes" 431 "GET / HTTP/1.1\r\n${H}X-Big: $(repeat b 17000)\r\n\r\n"
req "head over max_header_bytes in many fields" 431 \
	"GET / HTTP/1.1\r\n$H$(for i in $(seq 100); do printf 'X-F%d: %s\\r\\n' "$i" "$(repeat c 200)"; done)\r\n"
req "129 fields" 431 "GET / HTTP/1.1\r\n$H$(for i in $(seq 128); do printf 'X%d: 1\\r\\n' "$i"; done)\r\n"
req "128 fields" 200 "GET /ok HTTP/1.1\r\n$C$(for i in $(seq 126); do printf 'X%d: 1\\r\\n' "$i"; done)$H\r\n"

# ---- a request smuggled behind a refused one never runs ------------------------------------
req "CL.TE with a request behind it" 400 \
	"POST / HTTP/1.1\r\n${H}Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n$H\r\n"
check_reqs
assert_not_contains "the smuggled request never reached the backend" "/smuggled" "$(evil_stats)"

# ---- Content-Length named in Connection ----------------------------------------------------
# RFC 9110 7.6.1 has a proxy drop the fields Connection lists; dropping this
# one while relaying the body makes the body a second request upstream.
smuggled='GET /smuggled-by-connection HTTP/1.1\r\nHost: a\r\n\r\n'
len=$(printf -- "$smuggled" | wc -c)
printf -- "POST /conn-cl HTTP/1.1\r\n${H}Content-Length: $len\r\nConnection: keep-alive, Content-Length\r\n$C\r\n$smuggled" >"$T/req"
read -r status body < <(EVIL_FIELDS="status body" "${EVIL[@]}" probe "$PROXY" "$T/req" 10)
assert_eq "Connection: Content-Length: the request is answered" 200 "$status"
assert_eq "Connection: Content-Length: the backend got the body as a body" "$len" "$(json_get "$body" .body_length)"
assert_not_contains "Connection: Content-Length: no request smuggled in the body" \
	/smuggled-by-connection "$(evil_stats)"

# ---- bodies whose chunked framing breaks after the head went out ------------------------------
upstream_closed() { ! json_get "$(evil_stats)" .open_ids | grep -qw "$1"; }

# body NAME TAG VALID_PREFIX BAD: a chunked POST whose head and VALID_PREFIX
# go first; BAD follows once the backend has the head. weir answers 400 and
# closes; the upstream connection that saw the head is closed, never pooled;
# a fresh request works and gets its own answer on another upstream
# connection. (A pooled connection is waiting each time, and LIFO reuse
# would pick the poisoned one first.)
body() {
	local name=$1 path="/body-$2" status end conn
	printf "POST $path HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n$3" >"$T/req"
	printf -- "$4" >"$T/req2"
	read -r status end < <(EVIL_FIELDS="status end" "${EVIL[@]}" probe "$PROXY" "$T/req" 10 "$BE" "$T/req2")
	assert_eq "$name: status" 400 "$status"
	assert_ne "$name: connection closed by weir" timeout "$end"
	conn=$(json_get "$(evil_stats)" .log | "$WEIR_PYTHON" -S -c '
import json, sys
print(([0] + [e[0] for e in json.load(sys.stdin) if e[2] == sys.argv[1] and not e[3]])[-1])' "$path")
	assert_ne "$name: the backend saw the head" 0 "$conn"
	wait_for "$name: the upstream connection to close" 5 upstream_closed "$conn"
	ok "$name: the upstream connection that saw the head was closed"
	printf "GET /after-$2 HTTP/1.1\r\n$H$C\r\n" >"$T/req"
	read -r status body < <(EVIL_FIELDS="status body" "${EVIL[@]}" probe "$PROXY" "$T/req" 10)
	assert_eq "$name: the next request works" 200 "$status"
	assert_eq "$name: and gets its own answer" "/after-$2" "$(json_get "$body" .path)"
	assert_ne "$name: on another upstream connection" "$conn" "$(json_get "$body" .conn)"
}
body "chunk size not hex" zz "5\r\nhello\r\n" "zz\r\n"
body "chunk size with a sign" sign "" "-5\r\nhello\r\n0\r\n\r\n"
body "chunk size 0x-prefixed" 0x "" "0x5\r\nhello\r\n0\r\n\r\n"
body "chunk size overflowing int64" big "5\r\nhello\r\n" "8000000000000000\r\nhello\r\n"
body "space after the chunk size" ws "" "5 \r\nhello\r\n0\r\n\r\n"
body "chunk extension without a name" ext "" "5;=x\r\nhello\r\n0\r\n\r\n"
body "unterminated quoted extension" qs "" "5;a=\"x\r\nhello\r\n0\r\n\r\n"
body "chunk longer than its size" long "3\r\nhel" "lo\r\n0\r\n\r\n"
body "bare LF after the chunk size" lf "" "5\nhello\r\n0\r\n\r\n"
body "bare LF after the chunk data" datalf "5\r\nhello\r\n" "5\r\nhello\n0\r\n\r\n"
body "trailer with space before colon" trailer "5\r\nhello\r\n0\r\n" "X-T : 1\r\n\r\n"
body "chunk-size line over 4 KiB" longline "5;a=$(repeat x 2000)" "$(repeat x 2200)\r\nhello\r\n0\r\n\r\n"

# All at once: weir may find the error before its upstream connection is
# even up, but whatever it sent must not stay pooled.
printf "POST /body-once HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n" >"$T/req"
read -r status < <(EVIL_FIELDS="status" "${EVIL[@]}" probe "$PROXY" "$T/req" 10)
assert_eq "bad chunk in the first packet: status" 400 "$status"
printf "GET /after-once HTTP/1.1\r\n$H$C\r\n" >"$T/req"
read -r status body < <(EVIL_FIELDS="status body" "${EVIL[@]}" probe "$PROXY" "$T/req" 10)
assert_eq "bad chunk in the first packet: the next request gets its own answer" \
	"200 /after-once" "$status $(json_get "$body" .path)"

assert_eq "weir is still running" 0 "$(bg_alive weir && echo 0 || echo 1)"
rc=0; stop_bg weir || rc=$?
assert_eq "SIGTERM: clean exit 0" 0 "$rc"
done_testing
