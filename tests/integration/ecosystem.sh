#!/bin/bash
# The operator's files, as a packager and an operator meet them:
#  - make install (into a DESTDIR) puts weir, weirctl, the man pages, the
#    example configuration and the systemd unit under this build's
#    directories, and the paths compiled into weir and weirctl are the ones
#    installed; uninstall removes everything but an edited weir.conf, and a
#    second install never replaces it;
#  - the man pages lint clean and cover every option, setting, control
#    command, signal and metric that the programs actually have;
#  - the unit passes systemd-analyze verify, with the binary and man pages
#    it names, and keeps its sandbox;
#  - the alert rules pass promtool and fire (or stay quiet) as they should on
#    synthetic series; the dashboard is a well-formed Grafana document whose
#    queries parse and name only metrics a running weir serves.
# A tool that is not installed (mandoc, man, systemd-analyze, promtool,
# logrotate) skips its checks with a note; the rest still runs.
. "$(dirname "$0")/lib.sh"

# make install from inside "make check": not part of the outer make's jobs.
submake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" "$@"; }
have() { command -v "$1" >/dev/null 2>&1; }
root=$T/root

# ---- install, and where things went -----------------------------------------

installed_files() { (cd "$root" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort); }
the_file() {		# SUFFIX: the one installed file ending in SUFFIX
	local f
	f=$(installed_files | grep -E -- "$1\$" || true)
	[[ -n $f && $f != *$'\n'* ]] || fail "expected one installed file matching $1, got: ${f:-none}"
	printf '%s\n' "$f"
}

run submake install DESTDIR="$root"
assert_eq "make install succeeds" "0" "$RUN_RC"
weir_bin=$(the_file /sbin/weir)
prefix=${weir_bin%/sbin/weir}
conf=$(the_file /weir/weir.conf)
example=$(the_file /weir/weir.conf.example)
unit=$(the_file /weir.service)
man_weir=$(the_file /man8/weir.8)
man_ctl=$(the_file /man8/weirctl.8)
man_conf=$(the_file /man5/weir.conf.5)
assert_eq "weirctl in \$(bindir) next to \$(sbindir)" "$prefix/bin/weirctl" "$(the_file /bin/weirctl)"
assert_eq "unit in \$(prefix)/lib/systemd/system" "$prefix/lib/systemd/system/weir.service" "$unit"
assert_eq "example configuration next to weir.conf" "${conf}.example" "$example"
assert_eq "man pages under one man directory" "${man_weir%/man8/weir.8}" "${man_conf%/man5/weir.conf.5}"
assert_eq "nothing else installed" 8 "$(installed_files | wc -l)"
assert_eq "weir.conf is the example on a first install" "$(cat "$root$example")" "$(cat "$root$conf")"

# The compiled-in defaults are the installed paths.
run "$root$weir_bin" -h
assert_contains "weir -h names the installed weir.conf as the default" "(default: $conf)" "$RUN_OUT"
socket=$(sed -n 's/^ *socket *= *"\([^"]*\)".*/\1/p' "$root$conf")
run "$root$prefix/bin/weirctl" -h
assert_contains "weirctl's default socket is the example's admin.socket" "(default: $socket)" "$RUN_OUT"
for key in state_file event_log; do
	want=$(sed -n "s/^$key *= *\"\\([^\"]*\\)\".*/\\1/p" "$root$conf")
	# The compiled-in default is one string literal in the binary.
	if [[ -n $want ]] && grep -a -q -F "$want" "$root$weir_bin"; then
		ok "$key of the example ($want) is weir's compiled-in default"
	else
		fail "$key of the example ('$want') is not compiled into weir"
	fi
done
assert_status "the installed example configuration is valid" 0 "$root$weir_bin" -t -c "$root$conf"
assert_eq "weir -t: configuration ok" "configuration ok" "$RUN_OUT"
assert_contains "the unit runs the installed weir on the installed weir.conf" \
	"ExecStart=$weir_bin -c $conf" "$(cat "$root$unit")"
assert_contains "weir(8) names the installed configuration file" "$conf" "$(cat "$root$man_weir")"

# Uninstall leaves nothing behind, but an operator's weir.conf survives it and
# a later install.
run submake uninstall DESTDIR="$root"
assert_eq "make uninstall succeeds" "0" "$RUN_RC"
assert_eq "uninstall removes every file" "" "$(installed_files)"
run submake install DESTDIR="$root"
echo '# edited by the operator' >>"$root$conf"
run submake uninstall DESTDIR="$root"
assert_eq "uninstall keeps an edited weir.conf" "$conf" "$(installed_files)"
run submake install DESTDIR="$root"
assert_contains "install does not replace an existing weir.conf" "edited by the operator" "$(cat "$root$conf")"
assert_eq "install still adds the example" "$(cat "$top_builddir/conf/weir.conf.example")" "$(cat "$root$example")"

# ---- a running weir: its options, commands and metrics ----------------------

B=$(free_port); C=$(free_port); PROXY=$(free_port); ADMIN=$(free_port)
start_backend base "$B"
start_backend canary "$C"
cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$T/weir.sock"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B" ); };
  canary   = { servers = ( "127.0.0.1:$C" ); };
};
split = { canary_weight = 50.0; };
state_file = "$T/state";
event_log = "$T/events.log";
CONF
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
wait_port "$ADMIN" 10 "$BG_PID"
for _ in 1 2 3 4 5 6 7 8 9 10; do http_status "http://127.0.0.1:$PROXY/" >/dev/null; done
metrics() { hcurl "http://127.0.0.1:$ADMIN/metrics"; }
both_pools_counted() {
	metrics | awk '/^weir_requests_total/ && $2 > 0 { n++ } END { exit n != 2 }'
}
wait_for "requests of both pools in /metrics" 10 both_pools_counted
metrics >"$T/metrics.txt"
families=$(sed -n 's/^# TYPE \(weir_[a-z_]*\) .*/\1/p' "$T/metrics.txt" | sort)
for f in weir_errors_total weir_guard_state weir_pool_weight_percent \
	weir_request_duration_seconds weir_requests_total weir_weight_changes_total; do
	assert_contains "/metrics serves $f (INTERFACE.md)" "$f" "$families"
done
run "$WEIRCTL" -s "$T/weir.sock" help
assert_eq "weirctl help answers" 0 "$RUN_RC"
# "usage  summary": the command is the usage's leading lower-case words.
commands=$(awk '{ sub(/  .*/, ""); c = ""
	for (i = 1; i <= NF && $i ~ /^[a-z]+$/; i++) c = c (c ? " " : "") $i
	print c }' <<<"$RUN_OUT" | sort -u)
assert_num "weirctl help lists commands" "$(wc -l <<<"$commands")" ">=" 12
# Options as the programs print them: "  -c, --config FILE".
options() { "$1" -h | sed -n 's/^ *-\([A-Za-z]\), --\([a-z-]*\).*/\1 \2/p'; }

# ---- man pages ----------------------------------------------------------------

man_src=("$root$man_weir" "$root$man_ctl" "$root$man_conf")
if have mandoc; then
	for m in "${man_src[@]}"; do
		run mandoc -T lint -W warning "$m"
		assert_eq "mandoc -T lint: $(basename "$m") has no warning" "0:" "$RUN_RC:$RUN_OUT$RUN_ERR"
	done
else
	note "mandoc not installed: lint skipped (apt-get install mandoc)"
fi
if have man; then
	for m in "${man_src[@]}"; do
		run env LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$m"
		assert_eq "man -l: $(basename "$m") renders" 0 "$RUN_RC"
		assert_eq "man --warnings: $(basename "$m") has no warning" "" "$RUN_ERR"
		assert_contains "man -l: $(basename "$m") has a NAME section" "NAME" "$RUN_OUT"
	done
else
	note "man not installed: rendering skipped (apt-get install man-db)"
fi

src_weir=$(cat "$root$man_weir")
src_ctl=$(cat "$root$man_ctl")
src_conf=$(cat "$root$man_conf")
while read -r short long; do
	assert_contains "weir(8) documents -$short" "Fl $short" "$src_weir"
	assert_contains "weir(8) documents --$long" "Fl \\-$long" "$src_weir"
done < <(options "$WEIR")
while read -r short long; do
	assert_contains "weirctl(8) documents -$short" "Fl $short" "$src_ctl"
	assert_contains "weirctl(8) documents --$long" "Fl \\-$long" "$src_ctl"
done < <(options "$WEIRCTL")
while read -r cmd; do
	assert_contains "weirctl(8) documents '$cmd'" ".It Ic $cmd" "$src_ctl"
done <<<"$commands"
for sig in SIGTERM SIGINT SIGHUP SIGUSR1; do
	assert_contains "weir(8) documents $sig" "Dv $sig" "$src_weir"
done
for f in $families; do
	assert_contains "weir(8) documents $f" "$f" "$src_weir"
done
for page in "$src_weir" "$src_ctl"; do
	assert_contains "an EXIT STATUS section" ".Sh EXIT STATUS" "$page"
done
# Every key of the configuration schema, from config.c's tables of known keys.
keys=$("$WEIR_PYTHON" -S - "$top_srcdir/src/config.c" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
names = set()
for body in re.findall(r'keys\[\]\s*=\s*\{(.*?)\};', src, re.S):
    names.update(re.findall(r'"([a-z_0-9]+)"', body))
print("\n".join(sorted(names)))
PY
)
assert_num "config.c names its keys" "$(wc -l <<<"$keys")" ">=" 40
while read -r key; do
	if grep -Eq "Cm ([a-z_.]*\\.)?$key([^a-z_]|\$)" <<<"$src_conf"; then
		ok "weir.conf(5) documents $key"
	else
		fail "weir.conf(5) does not document the setting $key"
	fi
done <<<"$keys"

# ---- systemd unit ---------------------------------------------------------------

if grep -q '^#define HAVE_LIBSYSTEMD 1' "$top_builddir/config.h"; then type=notify; else type=simple; fi
assert_contains "Type follows libsystemd at configure time" "Type=$type" "$(cat "$root$unit")"
for d in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes \
	CapabilityBoundingSet=CAP_NET_BIND_SERVICE RuntimeDirectory=weir StateDirectory=weir \
	LogsDirectory=weir 'ExecReload=/bin/kill -HUP $MAINPID'; do
	if grep -qxF -- "$d" "$root$unit"; then ok "unit has $d"; else fail "unit lacks the line $d"; fi
done
case $socket in
/run/weir/*) ok "compiled-in control socket is in the unit's RuntimeDirectory" ;;
*) note "this build's runstatedir is not /run: under systemd set admin.socket etc. in weir.conf" ;;
esac
if have systemd-analyze; then
	# The unit as installed, with its paths inside the DESTDIR so that verify
	# finds the binary it runs and the man pages it names.
	sed "s|$weir_bin|$root$weir_bin|g" "$root$unit" >"$T/weir.service"
	man_opt=()
	have man || man_opt=(--man=no)
	run env MANPATH="$root${man_weir%/man8/weir.8}" systemd-analyze verify "${man_opt[@]}" "$T/weir.service"
	assert_eq "systemd-analyze verify: no complaint" "0:" "$RUN_RC:$RUN_OUT$RUN_ERR"
	run systemd-analyze security --offline=yes "$T/weir.service"
	level=$(sed -n 's/.*Overall exposure level for weir.service: \([0-9.]*\).*/\1/p' <<<"$RUN_OUT")
	note "systemd-analyze security: exposure $level"
	assert_num "sandbox keeps the exposure low" "${level:-99}" "<" 3.0
else
	note "systemd-analyze not installed: unit verification skipped"
fi

# ---- logrotate --------------------------------------------------------------------

if have logrotate; then
	mkdir -p "$T/logs"
	: >"$T/logs/access.log"
	sed "s|/var/log/weir/access.log|$T/logs/access.log|" "$top_srcdir/contrib/weir.logrotate" >"$T/logrotate.conf"
	run logrotate -d -s "$T/logrotate.state" "$T/logrotate.conf"
	assert_eq "logrotate -d accepts weir.logrotate" 0 "$RUN_RC"
	assert_not_contains "logrotate -d: no error" "error" "$RUN_OUT$RUN_ERR"
else
	note "logrotate not installed: its configuration is not checked"
fi

# ---- Prometheus rules and Grafana dashboard ----------------------------------

rules=$top_srcdir/contrib/prometheus-weir-rules.yml
dash=$top_srcdir/contrib/grafana-weir.json

# Structure of the dashboard, and the metrics both files use: only families
# a running weir serves (checked against the scrape above).
cat >"$T/check_dashboard.py" <<'PY'
import json, re, sys
dash_path, rules_path, metrics_path, out_path = sys.argv[1:5]
problems = []
def bad(msg): problems.append(msg)

served = set(re.findall(r'^# TYPE (weir_[a-z_]+) ', open(metrics_path).read(), re.M))
d = json.load(open(dash_path))
for k, t in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
             ("templating", dict), ("time", dict), ("annotations", dict)):
    if not isinstance(d.get(k), t):
        bad("dashboard: %s missing or not a %s" % (k, t.__name__))
if isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] < 36:
    bad("dashboard: schemaVersion %d is older than Grafana 9" % d["schemaVersion"])
variables = {v.get("name") for v in d.get("templating", {}).get("list", [])}
for need in ("datasource", "instance"):
    if need not in variables:
        bad("dashboard: no $%s variable" % need)

exprs, ids, boxes = [], set(), []
for p in d.get("panels", []):
    if p.get("id") in ids or not isinstance(p.get("id"), int):
        bad("panel %r: id missing or repeated" % p.get("title"))
    ids.add(p.get("id"))
    g = p.get("gridPos", {})
    if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] + g["w"] > 24:
        bad("panel %r: bad gridPos %r" % (p.get("title"), g))
        continue
    for (x, y, w, h, t) in boxes:
        if g["x"] < x + w and x < g["x"] + g["w"] and g["y"] < y + h and y < g["y"] + g["h"]:
            bad("panels %r and %r overlap" % (t, p.get("title")))
    boxes.append((g["x"], g["y"], g["w"], g["h"], p.get("title")))
    if p.get("type") == "row":
        continue
    if p.get("type") not in ("timeseries", "stat", "state-timeline"):
        bad("panel %r: unexpected type %r" % (p.get("title"), p.get("type")))
    if not p.get("title"):
        bad("panel %r: no title" % p.get("id"))
    if p.get("datasource", {}).get("uid") != "${datasource}":
        bad("panel %r: datasource is not ${datasource}" % p.get("title"))
    targets = p.get("targets") or []
    if not targets:
        bad("panel %r: no targets" % p.get("title"))
    refs = [t.get("refId") for t in targets]
    if len(set(refs)) != len(refs) or not all(refs):
        bad("panel %r: refIds missing or repeated" % p.get("title"))
    for t in targets:
        if not t.get("expr"):
            bad("panel %r: a target without expr" % p.get("title"))
        else:
            exprs.append(t["expr"])
for a in d.get("annotations", {}).get("list", []):
    if a.get("expr"):
        exprs.append(a["expr"])

# The families INTERFACE.md promises: the dashboard shows them all.
promised = {"weir_requests_total", "weir_errors_total", "weir_pool_weight_percent",
            "weir_request_duration_seconds", "weir_guard_state", "weir_weight_changes_total"}
used = set()
for e in exprs:
    for v in re.findall(r'\$\{?([A-Za-z_]+)', e):
        if v not in variables and not v.startswith("__"):
            bad("query uses undefined variable $%s: %s" % (v, e))
    used.update(re.findall(r'\bweir_[a-z_]+', e))
for m in sorted(used - served):
    bad("dashboard uses %s, which weir does not serve" % m)
for m in sorted(promised - used):
    bad("dashboard does not show %s" % m)
for q in ("0.5", "0.99", "0.999"):
    if not any('quantile="%s"' % q in e for e in exprs):
        bad("dashboard has no panel for quantile %s" % q)

rule_metrics = set(re.findall(r'\bweir_[a-z_]+', open(rules_path).read()))
for m in sorted(rule_metrics - served):
    bad("rules use %s, which weir does not serve" % m)

# Every dashboard query as a recording rule, for promtool to parse.
with open(out_path, "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        e = (e.replace("$__rate_interval", "1m").replace("$__range", "1h")
              .replace("$instance", ".*").replace("${instance}", ".*"))
        f.write("      - record: dashboard:query%d\n        expr: %s\n" % (i, json.dumps(e)))
print("%d queries" % len(exprs))
for p in problems:
    print("PROBLEM: " + p)
sys.exit(1 if problems else 0)
PY
run "$WEIR_PYTHON" -S "$T/check_dashboard.py" "$dash" "$rules" "$T/metrics.txt" "$T/dash-rules.yml"
assert_contains "the dashboard has queries" " queries" "$RUN_OUT"
assert_eq "dashboard and rules check out (${RUN_OUT%%$'\n'*})" "0:" "$RUN_RC:$(grep PROBLEM <<<"$RUN_OUT" || true)$RUN_ERR"

if have promtool; then
	run promtool check rules "$rules"
	assert_eq "promtool check rules" 0 "$RUN_RC"
	assert_contains "promtool finds the four alerts" "SUCCESS: 4 rules found" "$RUN_OUT$RUN_ERR"
	run promtool check rules "$T/dash-rules.yml"
	assert_eq "every dashboard query is valid PromQL" "0:" "$RUN_RC:$(grep -v SUCCESS <<<"$RUN_ERR$RUN_OUT" | grep -iv '^checking' || true)"
	run promtool check metrics <"$T/metrics.txt"
	assert_eq "promtool check metrics: /metrics lints clean" "0:" "$RUN_RC:$RUN_OUT$RUN_ERR"

	# The alerts on synthetic series (1 sample a minute).
	cat >"$T/rules-test.yml" <<YAML
rule_files:
  - $rules
evaluation_interval: 1m
tests:
  # weir answers for 2 minutes, then not.
  - interval: 1m
    input_series:
      - series: 'up{job="weir", instance="w1:9090"}'
        values: '1 1 0 0 0 0 0'
    alert_rule_test:
      - eval_time: 2m
        alertname: WeirDown
        exp_alerts: []
      - eval_time: 4m
        alertname: WeirDown
        exp_alerts:
          - exp_labels: { severity: critical, job: weir, instance: "w1:9090" }
            exp_annotations:
              summary: "weir on w1:9090 is down"
              description: "Prometheus could not scrape weir's /metrics on w1:9090 for a minute. Clients of this proxy get no answers, or its admin listener is off."
  # The guard rolls back at minute 3 and stays rolled back.
  - interval: 1m
    input_series:
      - series: 'weir_guard_state{job="weir", instance="w1:9090", state="rolled_back"}'
        values: '0 0 0 1 1 1'
      - series: 'weir_weight_changes_total{job="weir", instance="w1:9090", actor="guard"}'
        values: '0 0 0 1 1 1'
    alert_rule_test:
      - eval_time: 2m
        alertname: WeirCanaryRolledBack
        exp_alerts: []
      - eval_time: 4m
        alertname: WeirCanaryRolledBack
        exp_alerts:
          - exp_labels: { severity: warning, job: weir, instance: "w1:9090" }
            exp_annotations:
              summary: "weir rolled the canary back on w1:9090"
              description: "The guard set the canary weight to 0 on w1:9090. Users are safe on the baseline; the reason is in \"weirctl show events\" and the event log. Set a weight again with \"weirctl set weight canary P\" once the canary is fixed."
  # A rollback an operator undid before the next scrape still alerts, through
  # the counter, and stops alerting 10 minutes later.
  - interval: 1m
    input_series:
      - series: 'weir_guard_state{job="weir", instance="w2:9090", state="rolled_back"}'
        values: '0x20'
      - series: 'weir_weight_changes_total{job="weir", instance="w2:9090", actor="guard"}'
        values: '0 0 1x18'
    alert_rule_test:
      - eval_time: 3m
        alertname: WeirCanaryRolledBack
        exp_alerts:
          - exp_labels: { severity: warning, job: weir, instance: "w2:9090" }
            exp_annotations:
              summary: "weir rolled the canary back on w2:9090"
              description: "The guard set the canary weight to 0 on w2:9090. Users are safe on the baseline; the reason is in \"weirctl show events\" and the event log. Set a weight again with \"weirctl set weight canary P\" once the canary is fixed."
      - eval_time: 15m
        alertname: WeirCanaryRolledBack
        exp_alerts: []
  # Canary 10 % errors against baseline 0.5 %, 100 canary requests a minute.
  - interval: 1m
    input_series:
      - series: 'weir_requests_total{job="weir", instance="w1:9090", pool="canary"}'
        values: '0+100x20'
      - series: 'weir_errors_total{job="weir", instance="w1:9090", pool="canary"}'
        values: '0+10x20'
      - series: 'weir_requests_total{job="weir", instance="w1:9090", pool="baseline"}'
        values: '0+1000x20'
      - series: 'weir_errors_total{job="weir", instance="w1:9090", pool="baseline"}'
        values: '0+5x20'
    alert_rule_test:
      - eval_time: 4m
        alertname: WeirCanaryErrorRateAboveBaseline
        exp_alerts: []
      - eval_time: 12m
        alertname: WeirCanaryErrorRateAboveBaseline
        exp_alerts:
          - exp_labels: { severity: warning, job: weir, instance: "w1:9090" }
            exp_annotations:
              summary: "weir canary errs more than baseline on w1:9090"
              description: "Over the last 5 minutes the canary's error rate on w1:9090 is 9.5% above the baseline's. Check \"weirctl show guard\"; roll back with \"weirctl rollback\"."
  # Close to the baseline (1 % against 0.5 %), or too few canary requests
  # (50 % errors of 2 a minute): no alert.
  - interval: 1m
    input_series:
      - series: 'weir_requests_total{job="weir", instance="w1:9090", pool="canary"}'
        values: '0+100x20'
      - series: 'weir_errors_total{job="weir", instance="w1:9090", pool="canary"}'
        values: '0+1x20'
      - series: 'weir_requests_total{job="weir", instance="w1:9090", pool="baseline"}'
        values: '0+1000x20'
      - series: 'weir_errors_total{job="weir", instance="w1:9090", pool="baseline"}'
        values: '0+5x20'
      - series: 'weir_requests_total{job="weir", instance="w2:9090", pool="canary"}'
        values: '0+2x20'
      - series: 'weir_errors_total{job="weir", instance="w2:9090", pool="canary"}'
        values: '0+1x20'
      - series: 'weir_requests_total{job="weir", instance="w2:9090", pool="baseline"}'
        values: '0+1000x20'
      - series: 'weir_errors_total{job="weir", instance="w2:9090", pool="baseline"}'
        values: '0+5x20'
    alert_rule_test:
      - eval_time: 15m
        alertname: WeirCanaryErrorRateAboveBaseline
        exp_alerts: []
  # The guard in "alert" mode, breaching for 10 minutes.
  - interval: 1m
    input_series:
      - series: 'weir_guard_state{job="weir", instance="w1:9090", state="breaching"}'
        values: '0 1x12'
    alert_rule_test:
      - eval_time: 4m
        alertname: WeirGuardBreaching
        exp_alerts: []
      - eval_time: 8m
        alertname: WeirGuardBreaching
        exp_alerts:
          - exp_labels: { severity: warning, job: weir, instance: "w1:9090" }
            exp_annotations:
              summary: "weir guard has seen a breach for 5 minutes on w1:9090"
              description: "The canary on w1:9090 breaches a guard threshold and the guard does not roll it back (guard.action = \"alert\"). See \"weirctl show guard\"."
YAML
	run promtool test rules "$T/rules-test.yml"
	assert_eq "promtool test rules: the alerts fire when they should, only then" "0:" \
		"$RUN_RC:$(grep -i -A12 'FAILED' <<<"$RUN_OUT$RUN_ERR" || true)"
else
	note "promtool not installed: rules checked only by the script above (apt-get install prometheus)"
fi

stop_bg weir
done_testing
