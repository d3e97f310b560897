#!/bin/bash
# The bytes weir writes on each side (issue 11, RFC 9112 / RFC 9110): what
# the backend receives for a request (the evil backend's /mode/echo answers
# with the request exactly as it arrived) and what a client receives for a
# response, byte for byte where it matters.
#  1. Connection may not remove Host, Content-Length, Cookie, Authorization,
#     weir's own fields or the fields routing reads; more than 32 names is
#     400 (request) or 502 (response), never a silently shortened list.
#  2. Transfer codings weir knows travel with the body ("gzip, chunked");
#     unknown ones are 501.
#  3. Chunk sizes go out as minimal hex, without extensions or trailers.
#  4. An absolute-form target goes out in origin-form with its authority as
#     the Host; an empty Host beside it is 400.
#  5. HTTP/1.0 clients get a chunked response de-chunked, delimited by the
#     close.
# shellcheck disable=SC2059	# the requests are printf formats (\r\n) on purpose
. "$(dirname "$0")/lib.sh"
EVIL=("$WEIR_PYTHON" -S "$top_srcdir/tests/integration/evil_backend.py")

BE=$(free_port); DEMO=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_bg evil "${EVIL[@]}" serve "$BE"
wait_port "$BE" 10 "$BG_PID"
start_backend demo "$DEMO"

cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:$BE" ); };
  canary   = { servers = ( "127.0.0.1:$DEMO" ); };
};
split = { canary_weight = 0; override_header = "X-Route"; sticky_header = "X-User"; };
timeouts = { backend = "5s"; connect = "1s"; request_header = "5s"; };
state_file = ""; event_log = "";
CONF
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"

CRLF=$'\r\n'
H='Host: good\r\n'
C='Connection: close\r\n'

# exchange BYTES (printf format): send them on a connection of their own and
# read until weir closes. Sets STATUS, END (closed / reset / timeout), RAW
# (everything the client received) and UP (for /mode/echo: the request as
# the backend received it).
exchange() {
	printf -- "$1" >"$T/req"
	"${EVIL[@]}" probe "$PROXY" "$T/req" 10 >"$T/out.json"
	STATUS=$(json_get "$T/out.json" .status)
	END=$(json_get "$T/out.json" .end)
	RAW=$(json_get "$T/out.json" .raw; printf x)
	RAW=${RAW%$'\n'x}
	UP=${RAW#*"$CRLF$CRLF"}
}
# up_head: the request head the backend received (through its blank line).
up_head() { printf '%s' "${UP%%"$CRLF$CRLF"*}$CRLF$CRLF"; }
count() { grep -o -- "$1" <<<"$2" | wc -l | tr -d ' '; }

# ---- 1. Connection-listed fields ------------------------------------------------------
exchange "GET /mode/echo HTTP/1.1\r\n${H}Connection: Host, X-Secret, Cookie, Authorization, X-Route, X-User\r\nX-Secret: s\r\nCookie: c=1\r\nAuthorization: Basic eA==\r\nX-Route: baseline\r\nX-User: u1\r\n$C\r\n"
assert_eq "Connection: Host ...: answered" 200 "$STATUS"
assert_contains "Connection: Host: the backend still gets Host" "${CRLF}Host: good$CRLF" "$(up_head)"
assert_not_contains "Connection: X-Secret: X-Secret removed" "X-Secret: s" "$(up_head)"
assert_contains "Connection: Cookie: Cookie kept" "${CRLF}Cookie: c=1$CRLF" "$(up_head)"
assert_contains "Connection: Authorization: Authorization kept" "${CRLF}Authorization: Basic eA==$CRLF" "$(up_head)"
assert_contains "Connection: override_header: kept" "${CRLF}X-Route: baseline$CRLF" "$(up_head)"
assert_contains "Connection: sticky_header: kept" "${CRLF}X-User: u1$CRLF" "$(up_head)"
exchange "GET /mode/echo HTTP/1.1\r\n${H}Connection: X-Forwarded-For, X-Forwarded-Proto\r\nX-Forwarded-For: 192.0.2.1\r\n$C\r\n"
assert_contains "Connection: X-Forwarded-For: the chain is kept" "${CRLF}X-Forwarded-For: 192.0.2.1, 127.0.0.1$CRLF" "$(up_head)"
assert_contains "Connection: X-Forwarded-Proto: weir's is sent" "${CRLF}X-Forwarded-Proto: http$CRLF" "$(up_head)"

names16=$(for i in $(seq 16); do printf 'X-N%d, ' "$i"; done)
exchange "GET /mode/echo HTTP/1.1\r\n${H}Connection: ${names16}X-Secret\r\nX-Secret: s\r\n$C\r\n"
assert_eq "a 17th Connection name: answered" 200 "$STATUS"
assert_not_contains "a 17th Connection name is honoured (X-Secret removed)" "X-Secret" "$(up_head)"
names32=$(for i in $(seq 31); do printf 'X-N%d, ' "$i"; done)
exchange "GET /mode/echo HTTP/1.1\r\n${H}Connection: ${names32}close\r\n\r\n"
assert_eq "32 Connection names: answered" 200 "$STATUS"
exchange "GET /mode/echo HTTP/1.1\r\n${H}Connection: ${names32}X-Secret\r\nConnection: close\r\nX-Secret: s\r\n\r\n"
assert_eq "33 Connection names (two lines): 400" 400 "$STATUS"
exchange "GET /mode/echo HTTP/1.1\r\n${H}Connection: X secret\r\n\r\n"
assert_eq "a Connection element that is not a token: 400" 400 "$STATUS"
exchange "GET /mode/conn_many HTTP/1.1\r\n$H$C\r\n"
assert_eq "a backend's 33 Connection names: 502" 502 "$STATUS"
exchange "GET /mode/conn_17 HTTP/1.1\r\n$H$C\r\n"
assert_eq "a backend's 17th Connection name: answered" 200 "$STATUS"
assert_not_contains "a backend's 17th Connection name is honoured" "X-Secret" "$RAW"

# ---- 2. transfer codings ----------------------------------------------------------------
exchange "POST /mode/echo HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n$C\r\n2\r\ngz\r\n0\r\n\r\n"
assert_eq "gzip, chunked request: answered" 200 "$STATUS"
assert_contains "gzip, chunked request: the backend gets the coding list" \
	"${CRLF}Transfer-Encoding: gzip, chunked$CRLF" "$(up_head)"
exchange "POST /mode/echo HTTP/1.1\r\n${H}Transfer-Encoding: X-GZIP\r\nTransfer-Encoding: deflate,chunked\r\n$C\r\n2\r\ngz\r\n0\r\n\r\n"
assert_contains "codings on two lines: one list, in order" \
	"${CRLF}Transfer-Encoding: x-gzip, deflate, chunked$CRLF" "$(up_head)"
assert_eq "codings on two lines: one Transfer-Encoding field" 1 "$(count Transfer-Encoding "$(up_head)")"
exchange "POST /mode/echo HTTP/1.1\r\n${H}Transfer-Encoding: cow, chunked\r\n\r\n2\r\ngz\r\n0\r\n\r\n"
assert_eq "cow, chunked: 501" 501 "$STATUS"
exchange "POST /mode/echo HTTP/1.1\r\n${H}Transfer-Encoding: cow\r\nTransfer-Encoding: chunked\r\n\r\n2\r\ngz\r\n0\r\n\r\n"
assert_eq "cow + chunked on two lines: 501" 501 "$STATUS"
exchange "GET /mode/gzip_chunked HTTP/1.1\r\n$H$C\r\n"
assert_eq "a backend's gzip, chunked: answered" 200 "$STATUS"
assert_contains "a backend's gzip, chunked reaches an HTTP/1.1 client with its codings" \
	"${CRLF}Transfer-Encoding: gzip, chunked$CRLF" "$RAW"
exchange "GET /mode/gzip_close HTTP/1.1\r\n$H$C\r\n"
assert_contains "a backend's gzip until the close: the client is told" "${CRLF}Transfer-Encoding: gzip$CRLF" "$RAW"
assert_eq "a backend's gzip until the close: body" "gz" "${RAW#*"$CRLF$CRLF"}"
exchange "GET /mode/gzip_chunked HTTP/1.0\r\n\r\n"
assert_eq "a backend's gzip, chunked to an HTTP/1.0 client: 502" 502 "$STATUS"

# ---- 3. chunk sizes and extensions --------------------------------------------------------
exchange "POST /mode/echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n$C\r\n000000000000000000005;a=\"b\"\r\nhello\r\n000A ; x\r\n0123456789\r\n0;e=1\r\nX-Trailer: t\r\n\r\n"
assert_eq "odd chunks upstream: answered" 200 "$STATUS"
assert_eq "odd chunks upstream: minimal sizes, no extensions, no trailers" \
	"5${CRLF}hello${CRLF}a${CRLF}0123456789${CRLF}0$CRLF$CRLF" "${UP#*"$CRLF$CRLF"}"
exchange "GET /mode/odd_chunks HTTP/1.1\r\n$H$C\r\n"
assert_eq "odd chunks downstream: answered" 200 "$STATUS"
assert_eq "odd chunks downstream: minimal sizes, no extensions, no trailers" \
	"5${CRLF}hello${CRLF}a${CRLF}0123456789${CRLF}0$CRLF$CRLF" "${RAW#*"$CRLF$CRLF"}"

# Streaming with backpressure: a client that reads nothing of a 1 GiB chunked
# body keeps weir small (the body is never buffered whole).
start_bg stall_canary "$WEIR_PYTHON" -S -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /bytes/1073741824?chunked=1 HTTP/1.1\r\nHost: a\r\nX-Route: canary\r\n\r\n")
print("sent", flush=True)
time.sleep(120)' "$PROXY"
wait_for "the stalled client's request" 10 grep -q sent "$(bg_log stall_canary)"
peak=0
for _ in $(seq 30); do
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$(bg_pid weir)/status")
	((rss > peak)) && peak=$rss
	sleep 0.1
done
assert_num "a stalled client of a 1 GiB chunked body: weir's RSS ${peak} kB stays small" "$peak" "<" 131072
stop_bg stall_canary 5 || true

# ---- 4. absolute-form targets ------------------------------------------------------------
exchange "GET http://evil.example/mode/echo?q=1 HTTP/1.1\r\n${H}$C\r\n"
assert_eq "absolute-form: answered" 200 "$STATUS"
assert_eq "absolute-form: origin-form upstream" "GET /mode/echo?q=1 HTTP/1.1" "${UP%%"$CRLF"*}"
assert_contains "absolute-form: the authority is the Host" "${CRLF}Host: evil.example$CRLF" "$(up_head)"
assert_eq "absolute-form: one Host only" 1 "$(count Host: "$(up_head)")"
exchange "GET HTTP://other:8080/mode/echo HTTP/1.0\r\n\r\n"
assert_eq "absolute-form, HTTP/1.0 without Host: origin-form upstream" "GET /mode/echo HTTP/1.0" "${UP%%"$CRLF"*}"
assert_contains "absolute-form, HTTP/1.0 without Host: Host from the authority" "${CRLF}Host: other:8080$CRLF" "$(up_head)"
exchange "GET http://evil.example/mode/echo HTTP/1.1\r\nHost:\r\n$C\r\n"
assert_eq "absolute-form with an empty Host: 400" 400 "$STATUS"
exchange "GET http://evil.example/mode/echo HTTP/1.1\r\nHost:  \t \r\n$C\r\n"
assert_eq "absolute-form with a blank Host: 400" 400 "$STATUS"
exchange "GET http://:80/mode/echo HTTP/1.1\r\n$H$C\r\n"
assert_eq "absolute-form without a host: 400" 400 "$STATUS"

# ---- 5. HTTP/1.0 clients and chunked responses ------------------------------------------------
exchange "GET /mode/odd_chunks HTTP/1.0\r\n\r\n"
assert_eq "HTTP/1.0 client, chunked response: answered" 200 "$STATUS"
assert_not_contains "HTTP/1.0 client: no Transfer-Encoding" "Transfer-Encoding" "$RAW"
assert_contains "HTTP/1.0 client: Connection: close" "${CRLF}Connection: close$CRLF" "$RAW"
assert_eq "HTTP/1.0 client: the data alone" "hello0123456789" "${RAW#*"$CRLF$CRLF"}"
assert_eq "HTTP/1.0 client: delimited by the close" closed "$END"
exchange "GET /mode/odd_chunks HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
assert_eq "HTTP/1.0 keep-alive client: still closed after the data" "closed hello0123456789" \
	"$END ${RAW#*"$CRLF$CRLF"}"
exchange "GET /mode/chunk_eof HTTP/1.0\r\n\r\n"
assert_eq "HTTP/1.0 client, chunked body cut short: the connection is reset, not closed" reset "$END"
exchange "HEAD /mode/odd_chunks HTTP/1.0\r\n\r\n"
assert_eq "HTTP/1.0 client, HEAD: answered" 200 "$STATUS"

assert_eq "weir is still running" 0 "$(bg_alive weir && echo 0 || echo 1)"
rc=0; stop_bg weir || rc=$?
assert_eq "SIGTERM: clean exit 0" 0 "$rc"
done_testing
