#!/bin/bash
# weir's command line: -V, -h, -t on every shipped configuration and on bad
# ones (FILE:LINE, exit 1, every error reported), usage errors.
. "$(dirname "$0")/lib.sh"

assert_status "weir -V exits 0" 0 "$WEIR" -V
assert_eq "weir -V prints the version" "weir 0.1.0" "$RUN_OUT"
assert_status "weir --version exits 0" 0 "$WEIR" --version
assert_status "weir -h exits 0" 0 "$WEIR" -h
assert_contains "usage names -t" "--test" "$RUN_OUT"
assert_status "unknown option exits 1" 1 "$WEIR" --frobnicate
assert_contains "unknown option is named" "frobnicate" "$RUN_ERR"
assert_status "-c without a file exits 1" 1 "$WEIR" -c

for conf in "$top_srcdir"/conf/*.conf; do
	assert_status "weir -t accepts $(basename "$conf")" 0 "$WEIR" -t -c "$conf"
	assert_eq "$(basename "$conf"): configuration ok" "configuration ok" "$RUN_OUT"
	assert_eq "$(basename "$conf"): no diagnostics" "" "$RUN_ERR"
done

assert_status "missing file exits 1" 1 "$WEIR" -t -c "$T/nope.conf"
assert_contains "missing file is named" "$T/nope.conf" "$RUN_ERR"

# Several errors in one file: each reported with FILE:LINE, exit 1.
cat >"$T/bad.conf" <<'CONF'
listen = ( "127.0.0.1:99999" );
pools = {
  baseline = { servers = ( ); };
  canary   = { servers = ( "example.com:80" ); };
};
guard = {
  max_error_rate = 2.5;
  max_eror_rate = 0.1;
  window = "30 parsecs";
};
CONF
assert_status "bad config exits 1" 1 "$WEIR" -t -c "$T/bad.conf"
assert_eq "nothing on stdout" "" "$RUN_OUT"
assert_contains "bad port at line 1" "weir: $T/bad.conf:1:" "$RUN_ERR"
assert_contains "empty server list at line 3" "weir: $T/bad.conf:3:" "$RUN_ERR"
assert_contains "hostname at line 4" "weir: $T/bad.conf:4:" "$RUN_ERR"
assert_contains "range error names key and value" "guard.max_error_rate must be between 0 and 1 (got 2.5)" "$RUN_ERR"
assert_contains "typo is an unknown setting" "max_eror_rate" "$RUN_ERR"
assert_contains "bad duration at line 9" "weir: $T/bad.conf:9:" "$RUN_ERR"
assert_num "every error reported" "$(grep -c '^weir: ' <<<"$RUN_ERR")" ">=" 6

# libconfig syntax errors carry FILE:LINE too.
printf 'listen = ( "127.0.0.1:8080" );\npools = {\n  baseline = { servers = ( "127.0.0.1:1" ) ;\n' >"$T/syntax.conf"
assert_status "syntax error exits 1" 1 "$WEIR" -t -c "$T/syntax.conf"
assert_contains "syntax error has FILE:LINE" "weir: $T/syntax.conf:" "$RUN_ERR"

# interval + for beyond 30 s: a warning, not an error.
cat >"$T/slow.conf" <<'CONF'
listen = ( "127.0.0.1:8080" );
pools = {
  baseline = { servers = ( "127.0.0.1:9001" ); };
  canary   = { servers = ( "127.0.0.1:9101" ); };
};
guard = { method = "window"; interval = "10s"; window = "60s"; for = "25s"; };
CONF
assert_status "slow guard still validates" 0 "$WEIR" -t -c "$T/slow.conf"
assert_eq "slow guard: configuration ok" "configuration ok" "$RUN_OUT"
assert_contains "slow guard warns" "warning" "$RUN_ERR"
assert_contains "warning names the 30 s promise" "30" "$RUN_ERR"

# The HTTP/2 keys: h2c, limits and an h2 pool with a check load; h2 without tls, a bad
# check on an h2 pool and a bad gRPC list are each an error at their FILE:LINE naming the key.
cat >"$T/h2.conf" <<'CONF'
listen = ( { address = "127.0.0.1:8080"; protocols = ( "http/1.1", "h2c" ); } );
pools = {
  baseline = { servers = ( "127.0.0.1:9001" ); protocol = "http/1.1"; };
  canary   = { servers = ( "127.0.0.1:9101" ); protocol = "h2"; check = { path = "/healthz"; }; };
};
errors = { grpc = "UNAVAILABLE, INTERNAL"; };
limits = { h2_max_streams = 250; };
CONF
assert_status "h2c listener, errors.grpc and limits.h2_max_streams validate" 0 "$WEIR" -t -c "$T/h2.conf"
assert_eq "h2 settings: configuration ok, no diagnostics" "configuration ok|" "$RUN_OUT|$RUN_ERR"
cat >"$T/h2bad.conf" <<'CONF'
listen = ( { address = "127.0.0.1:8080"; protocols = ( "h2" ); } );
pools = {
  baseline = { servers = ( "127.0.0.1:9001" ); };
  canary   = { servers = ( "127.0.0.1:9101" ); protocol = "h2"; check = { path = "healthz"; }; };
};
errors = { grpc = "UNAVAILABLE, TEAPOT"; };
limits = { h2_max_streams = 0; };
CONF
assert_status "bad HTTP/2 settings exit 1" 1 "$WEIR" -t -c "$T/h2bad.conf"
assert_contains "h2 on a plain listener" \
	"weir: $T/h2bad.conf:1: listen[0].protocols[0]: \"h2\" needs tls (it is chosen by ALPN): add a tls group, or use \"h2c\" for HTTP/2 in cleartext" "$RUN_ERR"
assert_contains "an h2 pool's health check is checked as any other" \
	"weir: $T/h2bad.conf:4: pools.canary.check.path must start with '/'" "$RUN_ERR"
assert_contains "an unknown gRPC status" \
	"weir: $T/h2bad.conf:6: errors.grpc: gRPC status list: \"TEAPOT\" is not a status" "$RUN_ERR"
assert_contains "h2_max_streams out of range" \
	"weir: $T/h2bad.conf:7: limits.h2_max_streams must be between 1 and 10000 (got 0)" "$RUN_ERR"
assert_eq "four errors, nothing else" 4 "$(grep -c '^weir: ' <<<"$RUN_ERR")"

done_testing
