#!/bin/bash
# sd_notify, as systemd sees it with Type=notify: READY=1 once weir accepts
# connections, RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1
# on SIGTERM. systemd's side is played by a datagram socket in $NOTIFY_SOCKET.
# Skipped when weir was built without libsystemd (the unit is then
# Type=simple and weir sends nothing).
. "$(dirname "$0")/lib.sh"

grep -q '^#define HAVE_LIBSYSTEMD 1' "$top_builddir/config.h" ||
	skip "built without libsystemd: nothing to notify"

B=$(free_port); C=$(free_port); PROXY=$(free_port)
start_backend base "$B"
start_backend canary "$C"
cat >"$T/weir.conf" <<CONF
listen = ( "127.0.0.1:$PROXY" );
admin = { http = ""; socket = ""; };
pools = {
  baseline = { servers = ( "127.0.0.1:$B" ); };
  canary   = { servers = ( "127.0.0.1:$C" ); };
};
state_file = "";
event_log = "";
CONF

# The listener: one line per datagram, until stopped (60 s at most).
cat >"$T/listen.py" <<'PY'
import socket, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
deadline = time.monotonic() + 60
with open(out, "a") as f:
    print("listening", flush=True)
    while time.monotonic() < deadline:
        try:
            msg = s.recv(4096)
        except socket.timeout:
            continue
        f.write(msg.decode(errors="replace").replace("\n", "|") + "\n")
        f.flush()
PY
: >"$T/notify.log"
start_bg notify "$WEIR_PYTHON" -S "$T/listen.py" "$T/notify.sock" "$T/notify.log"
wait_for "the notify socket" 10 test -S "$T/notify.sock"

start_bg weir env NOTIFY_SOCKET="$T/notify.sock" "$WEIR" -c "$T/weir.conf"
wait_for "READY=1" 10 grep -q '^READY=1' "$T/notify.log"
# READY comes after the listeners: a connection right away must work.
assert_eq "weir answers once it said READY=1" 200 "$(http_status "http://127.0.0.1:$PROXY/")"
assert_contains "STATUS names the canary weight" "STATUS=canary 0.00%" "$(cat "$T/notify.log")"

kill_bg weir HUP
wait_for "a second READY=1 after the reload" 10 \
	bash -c "[ \$(grep -c '^READY=1' '$T/notify.log') -ge 2 ]"
assert_eq "reload: RELOADING=1 then READY=1" "RELOADING=1 READY=1" \
	"$(grep -v '^READY=1|STATUS' "$T/notify.log" | tail -n 2 | tr '\n' ' ' | sed 's/ $//')"

stop_bg weir
assert_eq "the last message is STOPPING=1" "STOPPING=1" "$(tail -n 1 "$T/notify.log")"
stop_bg notify || true

done_testing
