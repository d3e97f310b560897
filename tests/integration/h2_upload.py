#!/usr/bin/env python3
"""h2_upload.py PORT PATH BYTES: one HTTP/2 (h2c, prior knowledge) POST of
BYTES bytes with a content-length to 127.0.0.1:PORT, sent as fast as the
flow-control windows allow, whatever the server answers meanwhile.

Prints one line: "status=S sent=N ended=E reset=R", where S is the response
status, N the body bytes sent, E whether the server ended its response and
R the RST_STREAM code (none when there was none). It stops when the whole
body is sent and the response has ended, when the stream is reset, or after
40 s: a server that keeps the window shut shows as sent < BYTES.
"""
import select
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

LIMIT_S = 40


def main(argv):
    port, path, total = int(argv[1]), argv[2], int(argv[3])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "POST"), (":path", path), (":scheme", "http"),
                            (":authority", "127.0.0.1:%d" % port), ("content-length", str(total))])
    out = bytearray(conn.data_to_send())
    status, sent, ended, reset = None, 0, False, None
    deadline = time.monotonic() + LIMIT_S
    while time.monotonic() < deadline and reset is None and not (ended and sent == total):
        if sent < total and len(out) < (1 << 20):
            try:
                n = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size, total - sent)
            except h2.exceptions.StreamClosedError:
                n = 0
            if n > 0:
                conn.send_data(sid, b"u" * n, end_stream=sent + n == total)
                sent += n
                out += conn.data_to_send()
        readable, writable, _ = select.select([sock], [sock] if out else [], [], 0.05)
        if writable:
            try:
                del out[:sock.send(out)]
            except BlockingIOError:
                pass
        if readable:
            data = sock.recv(1 << 16)
            if not data:
                break
            for ev in conn.receive_data(data):
                if getattr(ev, "stream_id", None) != sid:
                    continue
                if isinstance(ev, h2.events.ResponseReceived):
                    status = dict(ev.headers).get(b":status", b"").decode()
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded):
                    ended = True
                elif isinstance(ev, h2.events.StreamReset):
                    reset = ev.error_code
            out += conn.data_to_send()
    sock.close()
    print("status=%s sent=%d ended=%s reset=%s" % (status, sent, ended, "none" if reset is None else int(reset)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
