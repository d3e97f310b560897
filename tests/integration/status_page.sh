#!/bin/bash
# The status page at GET / of the admin listener: served as HTML that loads
# nothing from elsewhere, and, rendered by headless Chromium, filled in by its
# own script from /stats.json (guard, weights, rates, servers, events, chart).
# With /stats.json failing, the page says so in a banner.
#
# Needs the Debian packages chromium (and fonts-liberation for a readable
# screenshot); skips without them. The screenshot of the live page is copied
# to $WEIR_SCREENSHOT (default /tmp/weir-status.png) for a human to look at.
. "$(dirname "$0")/lib.sh"

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[[ -n $CHROMIUM ]] || skip "chromium is not installed (Debian package: chromium)"
require_cmd timeout
require_cmd tidy

# ---- the page's source: valid HTML as written -----------------------------------------
# (elements the script fills in start empty: tidy would only warn that it
# drops them)
HTML=$top_srcdir/src/status.html
if ! tidy -q -e --drop-empty-elements no "$HTML" >"$T/tidy.out" 2>&1; then
	cat "$T/tidy.out" >&2
	fail "src/status.html: tidy reports problems"
fi
pass "src/status.html is valid HTML (tidy)"

B1=$(free_port); C1=$(free_port)
PROXY=$(free_port); ADMIN=$(free_port); FAKE=$(free_port)
SOCK=$T/weir.sock
start_backend base1 "$B1" --latency-ms 2
start_backend canary1 "$C1" --latency-ms 3

cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = "127.0.0.1:$ADMIN"; socket = "$SOCK"; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B1" ); };
  canary   = { servers = ( "127.0.0.1:$C1" ); };
};
split = { canary_weight = 20.0; expose_pool = true; };
# Abandoned requests are shown, and kept out of the error rates checked below.
errors = { abandoned = false; };
state_file = "$T/state";
event_log = "$T/events.log";
CONF
start_bg weir "$WEIR" -c "$T/weir.conf"
wait_port "$PROXY" 10 "$BG_PID"
wait_port "$ADMIN" 10 "$BG_PID"
wait_for "control socket" 10 test -S "$SOCK"

# Two weight changes, so that the events list has rows in a known order
# (newest first: 25 -> 20, then 20 -> 25), ending at 80/20.
"$WEIRCTL" -s "$SOCK" set weight canary 25 >/dev/null
"$WEIRCTL" -s "$SOCK" set weight canary 20 >/dev/null

# Bounded traffic: 100 requests, each bounded by hcurl.
sent=0
for _ in $(seq 1 100); do
	code=$(http_status "http://127.0.0.1:$PROXY/page-test")
	if [[ $code == 200 ]]; then sent=$((sent + 1)); fi
done
assert_eq "traffic through weir" 100 "$sent"
# Workers publish their counts a little later: wait until stats.json has all.
# shellcheck disable=SC2317	# called through wait_for
counted() {
	local doc
	doc=$(hcurl "http://127.0.0.1:$ADMIN/stats.json") || return 1
	(($(json_get "$doc" .pools.baseline.total.requests) + \
		$(json_get "$doc" .pools.canary.total.requests) == sent))
}
wait_for "stats.json to count the $sent requests" 10 counted

# Clients that give up on slow backends: abandoned requests.
backend_set "$B1" "latency_ms=5000"
backend_set "$C1" "latency_ms=5000"
for _ in 1 2 3 4 5 6; do
	hcurl -m 0.3 -o /dev/null "http://127.0.0.1:$PROXY/give-up" 2>/dev/null || true
done
backend_set "$B1" "latency_ms=2"
backend_set "$C1" "latency_ms=3"
abandoned_counted() {
	local doc
	doc=$(hcurl "http://127.0.0.1:$ADMIN/stats.json") || return 1
	(($(json_get "$doc" .pools.baseline.total.abandoned) + \
		$(json_get "$doc" .pools.canary.total.abandoned) == 6))
}
wait_for "stats.json to count 6 abandoned requests" 10 abandoned_counted

# ---- GET / as served ---------------------------------------------------------------
hcurl -D "$T/root.h" -o "$T/root.html" "http://127.0.0.1:$ADMIN/"
assert_contains "GET / answers 200" " 200" "$(head -n 1 "$T/root.h")"
ctype=$(grep -i '^content-type:' "$T/root.h" | tr -d '\r' || true)
assert_contains "GET / is text/html" "text/html" "${ctype,,}"
page=$(<"$T/root.html")
cmp -s "$HTML" "$T/root.html" || fail "GET / differs from src/status.html"
pass "GET / serves src/status.html byte for byte"
assert_contains "GET / serves the status page (not a placeholder)" 'id="guard-state"' "$page"
assert_contains "page has a <noscript> note" "<noscript>" "$page"
assert_contains "page fetches stats.json by a relative URL" "fetch('stats.json'" "$page"
assert_not_contains "page names no http:// URL" "http://" "${page,,}"
assert_not_contains "page names no https:// URL" "https://" "${page,,}"
assert_not_contains "page uses no CDN" "//cdn" "${page,,}"
assert_eq "page loads no external script, style, image or frame" "" \
	"$(grep -o -i -E '<(script|img|iframe|link)[^>]*(src|href)="[a-z]*:?//[^"]*"' "$T/root.html" || true)"
assert_contains "page forbids other origins (CSP)" "default-src 'none'" "$page"

# ---- rendered by Chromium ---------------------------------------------------------------
mkdir -p "$T/home"
# chrome URL ARGS...: one headless Chromium run, bounded; stdout to
# $T/chrome.out. Fails the test, with the interesting part of its stderr
# (not the D-Bus noise of a machine without a session), if it fails.
chrome() {
	local url=$1 rc=0
	shift
	rm -rf "$T/chrome"
	HOME=$T/home timeout -k 5 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
		--disable-quic --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync --user-data-dir="$T/chrome" \
		--virtual-time-budget=4000 "$@" "$url" >"$T/chrome.out" 2>"$T/chrome.err" || rc=$?
	if ((rc != 0)); then
		grep -v -i -e dbus -e vaapi "$T/chrome.err" | tail -n 20 >&2 || true
		fail "chromium $* $url: exit status $rc"
	fi
}

# The snapshot the page renders from: the traffic above is over, so totals
# and the events stay what they are now.
hcurl "http://127.0.0.1:$ADMIN/stats.json" >"$T/stats.json"

chrome "http://127.0.0.1:$ADMIN/" --dump-dom
cp "$T/chrome.out" "$T/dom.html"
[[ -s $T/dom.html ]] || fail "chromium dumped an empty DOM"

# dom.json: what an on-call engineer would read, from the rendered DOM: the
# text of every element with an id, per pool (data-pool) the text of the
# first element of each class, its servers, the event rows, and a few
# attributes. The <template> is skipped.
cat >"$T/dom.py" <<'PY'
import html.parser, json, re, sys

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}

class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []        # [tag, attrs, text parts, on_close]
        self.skip = 0          # depth inside <template>
        self.out = {"id": {}, "attr": {}, "pools": {}, "events": []}
        self.pool = None
        self.event = None
        self.server = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self.skip or tag == "template":
            if tag == "template":
                self.skip += 1
            return
        if tag in VOID:
            return
        entry = [tag, a, [], []]
        self.stack.append(entry)
        classes = (a.get("class") or "").split()
        if a.get("data-pool") in ("baseline", "canary"):
            self.pool = self.out["pools"].setdefault(a["data-pool"], {"servers": []})
            entry[3].append(lambda t: setattr(self, "pool", None))
        if tag == "body":
            self.out["attr"]["status"] = a.get("data-status")
        if a.get("id") == "guard":
            self.out["attr"]["guard_state"] = a.get("data-state")
        if a.get("id") in ("stale-banner", "rollout", "events-empty"):
            self.out["attr"][a["id"] + "_hidden"] = "hidden" in a
        if tag == "tr" and "event" in classes:
            self.event = {"action_attr": a.get("data-action")}
            self.out["events"].append(self.event)
            entry[3].append(lambda t: setattr(self, "event", None))
        if tag == "li" and "server" in classes and self.pool is not None:
            self.server = {"state_attr": a.get("data-state")}
            self.pool["servers"].append(self.server)
            entry[3].append(lambda t: setattr(self, "server", None))
        if tag == "svg" and "chart" in classes and self.pool is not None:
            self.pool["chart_points"] = a.get("data-points")
        if a.get("id"):
            ident = a["id"]
            entry[3].append(lambda t: self.out["id"].setdefault(ident, t))
        for c in classes:
            for target in (self.server, self.event, self.pool):
                if target is not None:
                    entry[3].append(lambda t, c=c, d=target: d.setdefault(c, t))
                    break

    def handle_endtag(self, tag):
        if self.skip:
            if tag == "template":
                self.skip -= 1
            return
        if tag in VOID or not any(e[0] == tag for e in self.stack):
            return
        while self.stack:
            e = self.stack.pop()
            text = re.sub(r"\s+", " ", "".join(e[2])).strip()
            for fn in e[3]:
                fn(text)
            if e[0] == tag:
                break

    def handle_data(self, data):
        if self.skip:
            return
        for e in self.stack:
            if e[0] not in ("script", "style"):
                e[2].append(data)

p = Dom()
with open(sys.argv[1], encoding="utf-8") as f:
    p.feed(f.read())
p.close()
print(json.dumps(p.out, indent=1))
PY
"$WEIR_PYTHON" -S "$T/dom.py" "$T/dom.html" >"$T/dom.json"
dom() { json_get "$T/dom.json" "$1"; }
stat_of() { json_get "$T/stats.json" "$1"; }
# num_of TEXT: the number at the start of "1,234.5 req/s"
num_of() { local v=${1//,/}; printf '%s\n' "${v%% *}"; }
# length_of JSON_ARRAY: its number of elements
length_of() { "$WEIR_PYTHON" -S -c 'import json, sys; print(len(json.loads(sys.argv[1])))' "$1"; }
# thousands N: 1234567 -> 1,234,567 (as the page writes counts)
thousands() { printf '%s\n' "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }

assert_eq "script ran and stats.json was fetched (body data-status)" ok "$(dom .attr.status)"
assert_eq "no stale banner" true "$(dom '.attr["stale-banner_hidden"]')"
state=$(stat_of .guard.state)
assert_ne "stats.json has a guard state" "" "$state"
assert_eq "guard state shown" "${state//_/ }" "$(dom '.id["guard-state"]')"
assert_eq "guard colour keyed on the state" "$state" "$(dom .attr.guard_state)"
since=$(stat_of .guard.since)
if [[ $since != null ]]; then
	assert_contains "guard since shown (UTC clock time)" "${since:11:8}" "$(dom '.id["guard-since"]')"
fi
assert_eq "split: baseline weight" "80%" "$(dom '.id["split-baseline"]')"
assert_eq "split: canary weight" "20%" "$(dom '.id["split-canary"]')"
assert_eq "baseline pool weight" "80%" "$(dom .pools.baseline.weight)"
assert_eq "canary pool weight" "20%" "$(dom .pools.canary.weight)"
assert_eq "no rollout configured: rollout panel hidden" true "$(dom .attr.rollout_hidden)"

total=0
for pool in baseline canary; do
	n=$(stat_of ".pools.$pool.total.requests")
	total=$((total + n))
	assert_eq "$pool total requests shown" "$(thousands "$n")" "$(dom ".pools.$pool.requests-total")"
	assert_eq "$pool abandoned requests shown" "$(thousands "$(stat_of ".pools.$pool.total.abandoned")")" \
		"$(dom ".pools.$pool.abandoned-total")"
	assert_ne "$pool abandoned in the window shown" "" "$(dom ".pools.$pool.abandoned-window")"
	assert_eq "$pool overridden requests shown" 0 "$(dom ".pools.$pool.overridden-total")"
	# (the window slides: on a slow machine it may have let some go since)
	wreq=$(num_of "$(dom ".pools.$pool.requests-window")")
	assert_num "$pool window requests shown" "$wreq" "<=" "$n"
	rps=$(dom ".pools.$pool.rps")
	assert_contains "$pool rate has its unit" " req/s" "$rps"
	for f in error-rate p50-window p99-window p999-window max-window p50-total p99-total p999-total; do
		assert_ne "$pool $f filled in" "" "$(dom ".pools.$pool.$f")"
	done
	if ((n > 0)); then
		assert_num "$pool request rate is non-zero" "$(num_of "$rps")" ">" 0
		assert_num "$pool window requests non-zero" "$wreq" ">" 0
		assert_contains "$pool p99 (window) in ms" " ms" "$(dom ".pools.$pool.p99-window")"
		assert_eq "$pool error rate" "0%" "$(dom ".pools.$pool.error-rate")"
		assert_num "$pool chart has points" "$(dom ".pools.$pool.chart_points")" ">=" 1
	fi
done
assert_eq "stats.json counted the traffic" "$sent" "$total"
assert_num "baseline got traffic" "$(stat_of .pools.baseline.total.requests)" ">" 0

assert_eq "baseline server address" "127.0.0.1:$B1" "$(dom '.pools.baseline.servers[0].address')"
assert_eq "baseline server state" up "$(dom '.pools.baseline.servers[0]["server-state"]')"
assert_contains "baseline server active count" "active" "$(dom '.pools.baseline.servers[0].active')"
assert_eq "canary server address" "127.0.0.1:$C1" "$(dom '.pools.canary.servers[0].address')"
assert_eq "canary server state" up "$(dom '.pools.canary.servers[0]["server-state"]')"

nev=$(length_of "$(dom .events)")
assert_eq "events list: one row per event of stats.json" "$(length_of "$(stat_of .events)")" "$nev"
assert_num "events list has the weight changes" "$nev" ">=" 2
assert_eq "events list hides its empty note" true "$(dom '.attr["events-empty_hidden"]')"
arrow=$(printf '\342\206\222')
assert_eq "newest event first: action" set_weight "$(dom '.events[0].action')"
assert_eq "newest event first: actor" control "$(dom '.events[0].actor')"
assert_eq "newest event first: canary weight before -> after" "25% $arrow 20%" "$(dom '.events[0].weights')"
assert_eq "then the one before" "20% $arrow 25%" "$(dom '.events[1].weights')"
assert_ne "event time shown" "" "$(dom '.events[0].time')"

# ---- a screenshot, for a human -------------------------------------------------------------
chrome "http://127.0.0.1:$ADMIN/" --hide-scrollbars --window-size=1280,900 \
	--screenshot="$T/page.png"
assert_eq "screenshot is a PNG" "89504e47" "$(head -c 4 "$T/page.png" | od -An -tx1 | tr -d ' \n')"
shot=${WEIR_SCREENSHOT:-/tmp/weir-status.png}
if cp "$T/page.png" "$shot" 2>/dev/null; then
	note "screenshot of the status page: $shot"
fi

# ---- stats.json unreachable -----------------------------------------------------------------
# The same page, served by a stand-in whose /stats.json always fails.
cat >"$T/fake.py" <<'PY'
import http.server, sys
page = open(sys.argv[2], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        ok = self.path == "/"
        body = page if ok else b"unavailable\n"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "text/html; charset=utf-8" if ok else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
start_bg fake "$WEIR_PYTHON" "$T/fake.py" "$FAKE" "$T/root.html"
wait_port "$FAKE" 10 "$BG_PID"
chrome "http://127.0.0.1:$FAKE/" --dump-dom
cp "$T/chrome.out" "$T/dom.html"
"$WEIR_PYTHON" -S "$T/dom.py" "$T/dom.html" >"$T/dom.json"
assert_eq "stats.json failing: page marked stale" stale "$(dom .attr.status)"
assert_eq "stats.json failing: banner shown" false "$(dom '.attr["stale-banner_hidden"]')"
assert_contains "stats.json failing: banner says why" "HTTP 503" "$(dom '.id["stale-text"]')"
assert_contains "stats.json failing: banner says no data yet" "No data" "$(dom '.id["stale-text"]')"

done_testing
