#!/bin/bash
# demo_backend.sh: the demo/test backend itself, seen through curl. The other
# integration tests trust what it reports (body hashes, hit counts, errors),
# so this checks those reports against what the client really sent and saw.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

[[ -x $DEMO_BACKEND ]] || fail "demo backend not built: $DEMO_BACKEND"

port=$(free_port)
start_backend be1 "$port" --seed 42
U="http://127.0.0.1:$port"
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# req ARGS...: curl with headers to $T/h, body to $T/b; sets CODE.
req() {
	CODE=$(hcurl -D "$T/h" -o "$T/b" -w '%{http_code}' "$@")
}

# header NAME: the value of response header NAME in $T/h ("" if absent).
header() {
	tr -d '\r' <"$T/h" | awk -v n="$1" 'BEGIN { n = tolower(n) }
		{ i = index($0, ":") }
		i > 0 && tolower(substr($0, 1, i - 1)) == n {
			v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v; exit }'
}

# ---- startup -----------------------------------------------------------------

assert_contains "startup line names the backend and its address" \
	"weir-demo-backend be1 listening on 127.0.0.1:$port" "$(<"$(bg_log be1)")"

# ---- the JSON echo -------------------------------------------------------------

req -H 'X-Test: a"b\c	tab' -H 'X-Dup: 1' -H 'X-Dup: 2' "$U/some/path?x=1&y=%22"
assert_eq "GET: status" 200 "$CODE"
assert_eq "GET: Content-Type" application/json "$(header Content-Type)"
assert_eq "GET: X-Backend" be1 "$(header X-Backend)"
assert_eq "GET: name" be1 "$(json_get "$T/b" .name)"
assert_eq "GET: method" GET "$(json_get "$T/b" .method)"
assert_eq "GET: path is the full request target" "/some/path?x=1&y=%22" \
	"$(json_get "$T/b" .path)"
assert_eq "GET: quote, backslash and tab escaped and echoed" 'a"b\c	tab' \
	"$(json_get "$T/b" .headers.X-Test)"
assert_eq "GET: Host echoed" "127.0.0.1:$port" "$(json_get "$T/b" .headers.Host)"
assert_eq "GET: repeated header joined" "1, 2" "$(json_get "$T/b" .headers.X-Dup)"
assert_eq "GET: body_length" 0 "$(json_get "$T/b" .body_length)"
assert_eq "GET: body_sha256 of nothing" "$EMPTY_SHA" "$(json_get "$T/b" .body_sha256)"
assert_eq "GET: no error member" absent \
	"$(json_get "$T/b" .error 2>/dev/null || echo absent)"

for m in PUT DELETE PATCH OPTIONS; do
	req -X "$m" "$U/m"
	assert_eq "$m: echoed" "200 $m" "$CODE $(json_get "$T/b" .method)"
done

# Bytes curl cannot put in a header: a control character, invalid UTF-8,
# and valid UTF-8 that must pass through.
python3 - "$port" >"$T/raw" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /raw HTTP/1.1\r\nHost: x\r\nX-Odd: \x01\xff\xc3\xa9!\r\n"
          b"Connection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
sys.stdout.buffer.write(data.split(b"\r\n\r\n", 1)[1])
PY
assert_eq "control char and invalid UTF-8 escaped, valid UTF-8 kept" \
	'["\u0001","\u00ff","\u00e9","!"]' \
	"$(python3 -c 'import json, sys
print(json.dumps(list(json.load(open(sys.argv[1]))["headers"]["X-Odd"]), separators=(",", ":")))' "$T/raw")"

# ---- request bodies --------------------------------------------------------------

head -c 10485760 /dev/urandom >"$T/up10m"
req --data-binary @"$T/up10m" "$U/upload"
assert_eq "POST 10 MiB Content-Length: status" 200 "$CODE"
assert_eq "POST 10 MiB Content-Length: body_length" 10485760 \
	"$(json_get "$T/b" .body_length)"
assert_eq "POST 10 MiB Content-Length: body_sha256" \
	"$(sha256_file "$T/up10m")" "$(json_get "$T/b" .body_sha256)"

head -c 3000001 /dev/urandom >"$T/up3m"
req -H 'Transfer-Encoding: chunked' --data-binary @"$T/up3m" "$U/upload"
assert_eq "POST chunked: status" 200 "$CODE"
assert_eq "POST chunked: request was chunked" chunked \
	"$(json_get "$T/b" .headers.Transfer-Encoding)"
assert_eq "POST chunked: body_length" 3000001 "$(json_get "$T/b" .body_length)"
assert_eq "POST chunked: body_sha256" "$(sha256_file "$T/up3m")" \
	"$(json_get "$T/b" .body_sha256)"

# ---- /bytes/N ----------------------------------------------------------------------

for n in 0 1 1048576; do
	req "$U/bytes/$n"
	sha=$(bytes_sha256 "$n")
	assert_eq "/bytes/$n: status" 200 "$CODE"
	assert_eq "/bytes/$n: Content-Length" "$n" "$(header Content-Length)"
	assert_eq "/bytes/$n: not chunked" "" "$(header Transfer-Encoding)"
	assert_eq "/bytes/$n: length" "$n" "$(wc -c <"$T/b" | tr -d ' ')"
	assert_eq "/bytes/$n: content" "$sha" "$(sha256_file "$T/b")"
	assert_eq "/bytes/$n: X-Body-Sha256" "$sha" "$(header X-Body-Sha256)"
done

req "$U/bytes/70"
assert_eq "/bytes/70: the record format" \
	"$(printf '00000000000000000123456789abcde\n00000000000000200123456789abcde\n000000')" \
	"$(<"$T/b")"
bytes_expected 70 "$T/expect70"
assert_eq "/bytes/70: bytes_expected agrees" "$(sha256_file "$T/expect70")" \
	"$(sha256_file "$T/b")"

req "$U/bytes/1048576?chunked=1"
assert_eq "/bytes chunked: status" 200 "$CODE"
assert_eq "/bytes chunked: Transfer-Encoding" chunked "$(header Transfer-Encoding)"
assert_eq "/bytes chunked: no Content-Length" "" "$(header Content-Length)"
assert_eq "/bytes chunked: content" "$(bytes_sha256 1048576)" "$(sha256_file "$T/b")"
hcurl --raw -o "$T/raw" "$U/bytes/100?chunked=1"
assert_eq "/bytes chunked: on the wire" \
	"$(printf '64\r\n'; head -c 100 "$T/b"; printf '\r\n0\r\n\r\n')" "$(cat "$T/raw")"

req --http1.0 "$U/bytes/1000?chunked=1"
assert_eq "/bytes chunked to HTTP/1.0: a Content-Length instead" \
	"200 1000 1000" "$CODE $(header Content-Length) $(wc -c <"$T/b" | tr -d ' ')"

# HEAD: the GET's headers and no body; the next answer on the same
# connection would be garbled if body bytes followed.
for path in /bytes/100 /echo; do
	code=$(hcurl -I -D "$T/h" -o /dev/null -w '%{http_code}' "$U$path" \
		--next --noproxy '*' --max-time 30 -o "$T/b" \
		-w ' %{http_code} %{num_connects}' "$U/bytes/5")
	assert_eq "HEAD $path: answered, then the connection reused cleanly" \
		"200 200 0" "$code"
	assert_eq "HEAD $path: next body intact" 00000 "$(<"$T/b")"
	assert_ne "HEAD $path: has a Content-Length" "" "$(header Content-Length)"
done
assert_eq "HEAD /bytes/100: Content-Length of the GET" 100 \
	"$(hcurl -I -D "$T/h" -o /dev/null "$U/bytes/100"; header Content-Length)"

for bad in 1073741825 abc "12?chunked=maybe" "12?size=3"; do
	req "$U/bytes/$bad"
	assert_eq "/bytes/$bad: 400" 400 "$CODE"
	json_get "$T/b" .error >/dev/null || fail "/bytes/$bad: no JSON error"
done

# 1 GiB streamed: the backend must not hold the body in memory (the bound
# leaves room for sanitizer quarantine; buffering would need over 1 GiB).
assert_eq "/bytes/1073741824: all bytes arrive" "200 1073741824" \
	"$(CURL_MAX_TIME=120 hcurl -o /dev/null -w '%{http_code} %{size_download}' \
		"$U/bytes/1073741824")"
if [[ -r /proc/$(bg_pid be1)/status ]]; then
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$(bg_pid be1)/status")
	assert_num "/bytes/1073741824: peak RSS ${hwm} kB stays bounded" "$hwm" "<" 786432
fi

# ---- keep-alive ----------------------------------------------------------------

conns=$(hcurl -v -o /dev/null -o /dev/null -w '%{num_connects} ' \
	"$U/one" "$U/two" 2>"$T/verbose")
assert_contains "keep-alive: second request reuses the connection" \
	"Re-using existing connection" "$(<"$T/verbose")"
assert_eq "keep-alive: one connect for two requests" "1 0 " "$conns"
hcurl -v -o /dev/null -o /dev/null "$U/bytes/100000?chunked=1" "$U/two" 2>"$T/verbose"
assert_contains "keep-alive: also after a chunked body" \
	"Re-using existing connection" "$(<"$T/verbose")"

# ---- runtime control: errors and counters ------------------------------------------

req "$U/__backend/reset"
assert_eq "reset: counters zero" "200 0 0" \
	"$CODE $(json_get "$T/b" .hits) $(json_get "$T/b" .errors)"
for i in 1 2 3; do
	req "$U/ok$i"
	assert_eq "error_rate 0: request $i answers 200" 200 "$CODE"
done
req "$U/__backend/set?error_rate=1"
assert_eq "set error_rate=1: answered" "200 1" "$CODE $(json_get "$T/b" .error_rate)"
for i in 1 2; do
	req "$U/bad$i"
	assert_eq "error_rate 1: request $i answers 500 with the echo" \
		"500 true be1 /bad$i" \
		"$CODE $(json_get "$T/b" .error) $(json_get "$T/b" .name) $(json_get "$T/b" .path)"
done
stats=$(backend_stats "$port")
assert_eq "stats: hits count normal requests only" 5 "$(json_get "$stats" .hits)"
assert_eq "stats: errors count the 500s" 2 "$(json_get "$stats" .errors)"
assert_eq "stats: name and settings" "be1 0 0 1" "$(json_get "$stats" .name) \
$(json_get "$stats" .latency_ms) $(json_get "$stats" .jitter_ms) $(json_get "$stats" .error_rate)"

backend_set "$port" "error_rate=0.25&latency_ms=0&jitter_ms=0"
for bad in "error_rate=1.5" "error_rate=-0.1" "error_rate=abc" "latency_ms=-1" \
	"jitter_ms=x" "latency_ms=nan" "bogus=1" "latency_ms=5&error_rate=2" \
	"latency_ms=1&latency_ms=2" "latency_ms"; do
	req "$U/__backend/set?$bad"
	assert_eq "set $bad: 400" 400 "$CODE"
	json_get "$T/b" .error >/dev/null || fail "set $bad: no JSON error"
done
stats=$(backend_stats "$port")
assert_eq "bad sets changed nothing" "0 0 0.25 5 2" "$(json_get "$stats" .latency_ms) \
$(json_get "$stats" .jitter_ms) $(json_get "$stats" .error_rate) \
$(json_get "$stats" .hits) $(json_get "$stats" .errors)"

req "$U/__backend/nothing"
assert_eq "unknown control endpoint: 404" 404 "$CODE"

# A seeded error draw: the counters equal what the client saw, exactly.
backend_set "$port" "error_rate=0.5"
hcurl "$U/__backend/reset" >/dev/null
urls=()
for i in $(seq 200); do urls+=(-o /dev/null "$U/draw$i"); done
codes=$(hcurl -w '%{http_code}\n' "${urls[@]}")
n500=$(grep -c '^500$' <<<"$codes" || true)
n200=$(grep -c '^200$' <<<"$codes" || true)
assert_eq "error_rate 0.5: only 200 and 500" 200 $((n200 + n500))
stats=$(backend_stats "$port")
assert_eq "error_rate 0.5: hits exact" 200 "$(json_get "$stats" .hits)"
assert_eq "error_rate 0.5: errors equal the 500s seen" "$n500" "$(json_get "$stats" .errors)"
# 200 draws at p=0.5: sd ~7; 60..140 is beyond 5 sd
assert_num "error_rate 0.5: $n500 of 200 failed, at least 60" "$n500" ">=" 60
assert_num "error_rate 0.5: $n500 of 200 failed, at most 140" "$n500" "<=" 140

# ---- the delays served: /__backend/stats "served" and "latency_p99_ms" -------------
# The p99 is the ceil(0.99 n)-th smallest delay: of 100, the 99th; of 101,
# the 100th. 99 quick answers and 1 that waits 300 ms: the p99 is a quick
# one; a second slow one: the p99 is a slow one. (Quick: no latency, far
# below 300 ms even under ASan on a loaded machine.)
backend_set "$port" "error_rate=0&latency_ms=0&jitter_ms=0"
req "$U/__backend/reset"
assert_eq "reset: served, p99 and samples zero" "0 null 0" \
	"$(json_get "$T/b" .served) $(json_get "$T/b" .latency_p99_ms) $(json_get "$T/b" .latency_samples)"
urls=()
for i in $(seq 97); do urls+=(-o /dev/null "$U/quick$i"); done
hcurl "${urls[@]}"
hcurl -o /dev/null "$U/bytes/100000"
hcurl -I -o /dev/null "$U/bytes/10"
backend_set "$port" "latency_ms=300"
hcurl -o /dev/null "$U/slow1"
stats=$(backend_stats "$port")
assert_eq "100 answered (JSON, /bytes, HEAD): hits, served, samples" "100 100 100" \
	"$(json_get "$stats" .hits) $(json_get "$stats" .served) $(json_get "$stats" .latency_samples)"
p99=$(json_get "$stats" .latency_p99_ms)
assert_num "99 quick, 1 slow of 100: the p99 (${p99} ms) is a quick one" "$p99" "<" 300
hcurl -o /dev/null "$U/slow2"
stats=$(backend_stats "$port")
p99=$(json_get "$stats" .latency_p99_ms)
assert_eq "101 answered: served, samples" "101 101" \
	"$(json_get "$stats" .served) $(json_get "$stats" .latency_samples)"
assert_num "99 quick, 2 slow of 101: the p99 (${p99} ms) is a slow one, its timer included" "$p99" ">=" 300
backend_set "$port" "latency_ms=0"
{ hcurl "$U/bytes/1073741824" 2>/dev/null || true; } | head -c 100000 >/dev/null
hits_served() { local s; s=$(backend_stats "$port") && [[ "$(json_get "$s" .hits) $(json_get "$s" .served)" == "$1" ]]; }
wait_for "a /bytes body cut short by its client: a hit, not served" 5 hits_served "102 101"
req "$U/__backend/reset"
assert_eq "reset zeroes served, p99 and samples" "0 0 null 0" \
	"$(json_get "$T/b" .hits) $(json_get "$T/b" .served) $(json_get "$T/b" .latency_p99_ms) $(json_get "$T/b" .latency_samples)"

# ---- latency ---------------------------------------------------------------------

backend_set "$port" "error_rate=0&latency_ms=200"
t=$(hcurl -o /dev/null -w '%{time_total}' "$U/slow")
assert_num "latency_ms=200: the answer took ${t}s" "$t" ">=" 0.18
t=$(hcurl -o /dev/null -w '%{time_total}' "$U/bytes/1000")
assert_num "latency_ms=200: /bytes too (${t}s)" "$t" ">=" 0.18
backend_set "$port" "latency_ms=50&jitter_ms=50"
assert_eq "jitter: answers keep coming" 200 "$(http_status "$U/jitter")"

# A client that leaves while its answer waits, or in the middle of a body,
# costs its connection and nothing else.
backend_set "$port" "latency_ms=300&jitter_ms=0"
rc=0
CURL_MAX_TIME=0.1 hcurl -o /dev/null "$U/gone" 2>/dev/null || rc=$?
assert_eq "client gave up while waiting (curl timeout)" 28 "$rc"
backend_set "$port" "latency_ms=0"
{ hcurl "$U/bytes/1073741824" 2>/dev/null || true; } | head -c 100000 >/dev/null
sleep 0.4	# let the answer to the client that gave up fire into nothing
assert_eq "backend still serves after clients vanished" 200 "$(http_status "$U/after")"

# ---- determinism -------------------------------------------------------------------

p2=$(free_port)
p3=$(free_port)
start_backend be2 "$p2" --seed 7 --error-rate 0.5
start_backend be3 "$p3" --seed 7 --error-rate 0.5 --latency-ms 1 --jitter-ms 1
draws() {
	local i urls=()
	for i in $(seq 40); do urls+=(-o /dev/null "http://127.0.0.1:$1/d$i"); done
	hcurl -w '%{http_code} ' "${urls[@]}"
}
seq2=$(draws "$p2")
seq3=$(draws "$p3")
assert_eq "same seed, same sequence of errors" "$seq2" "$seq3"
assert_contains "the sequence has errors" 500 "$seq2"
assert_contains "the sequence has successes" 200 "$seq2"

# ---- command line ----------------------------------------------------------------

assert_status "-h exits 0" 0 "$DEMO_BACKEND" -h
assert_contains "-h prints the usage" "usage: weir-demo-backend" "$RUN_OUT"
assert_status "unknown flag exits 1" 1 "$DEMO_BACKEND" --listen 127.0.0.1:0 --bogus
assert_contains "unknown flag: usage on stderr" "usage: weir-demo-backend" "$RUN_ERR"
assert_status "--error-rate 2 exits 1" 1 "$DEMO_BACKEND" --listen 127.0.0.1:0 --error-rate 2
assert_contains "--error-rate 2: says why" "--error-rate must be" "$RUN_ERR"
assert_status "--latency-ms -5 exits 1" 1 "$DEMO_BACKEND" --listen 127.0.0.1:0 --latency-ms -5
assert_status "no --listen exits 1" 1 "$DEMO_BACKEND" --name x
assert_status "address in use exits 2" 2 "$DEMO_BACKEND" --listen "127.0.0.1:$p3"
assert_contains "address in use: says where" "cannot listen on 127.0.0.1:$p3" "$RUN_ERR"

# ---- signals --------------------------------------------------------------------

rc=0
stop_bg be1 || rc=$?
assert_eq "SIGTERM: exit status 0" 0 "$rc"
assert_contains "SIGTERM: logged" "be1 stopping (SIGTERM)" "$(<"$(bg_log be1)")"
wait_port_closed "$port" 5
ok "SIGTERM: port closed"

kill_bg be2 INT
rc=0
wait_bg be2 10 || rc=$?
assert_eq "SIGINT: exit status 0" 0 "$rc"

done_testing
