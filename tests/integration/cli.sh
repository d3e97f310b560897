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

done_testing
