#!/usr/bin/python3
"""An HTTP/2 (h2c, prior knowledge) test server for weir's "h2" pools, on
python3-h2.

  h2_server.py PORT NAME [HEALTH_FILE] [--tls CERT KEY]

  With --tls: h2 over TLS (ALPN "h2" only; session tickets on), and each
  connection prints "tls conn=N reused=True|False" after its handshake
  (reused: a resumed session).

  GET /healthz     200 "ok" (a health check); while HEALTH_FILE exists, what
                   it says: a status ("503"), "reset" (RST_STREAM
                   REFUSED_STREAM) or "goaway" (GOAWAY PROTOCOL_ERROR, then
                   close). Each one prints "healthz conn=N METHOD SCHEME
                   AUTHORITY USER-AGENT" (N: the connection's serial
                   number, from 1)
  GET /bytes/N     N deterministic bytes (byte i is i % 251), x-server: NAME
  /refuse/...      the first request to each such path (any method) is
                   refused with RST_STREAM REFUSED_STREAM, later ones are
                   answered as below; each refusal prints "refused conn=N PATH"
  /goaway/...      the first request to each such path gets a GOAWAY
                   (NO_ERROR) whose last stream is below it, so it is
                   refused, and its connection takes no new stream; later
                   ones are answered as below; prints "goaway conn=N PATH"
  anything else    a JSON object: name, method, path, body_length,
                   body_sha256, headers (the request's fields, pseudo-headers
                   included), then the trailer "x-body-length"
Flow control is honoured both ways (large bodies stream).
"""
import hashlib
import itertools
import json
import os
import socket
import ssl
import sys
import threading

import h2.config
import h2.connection
import h2.events


def pattern(n):
    block = bytes(i % 251 for i in range(251 * 64))
    out = bytearray()
    while len(out) < n:
        out += block
    return bytes(out[:n])


HEALTH_FILE = None
SERIAL = itertools.count(1)
REFUSED = set()          # paths under /refuse/ and /goaway/ refused once already
REFUSED_LOCK = threading.Lock()


def first_time(path):
    with REFUSED_LOCK:
        if path in REFUSED:
            return False
        REFUSED.add(path)
        return True


class Conn:
    def __init__(self, sock, name):
        self.sock = sock
        self.name = name
        self.serial = next(SERIAL)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.streams = {}     # id -> [headers, sha256, length]
        self.pending = {}     # id -> [bytes left to send, trailers or None]

    def send_pending(self):
        for sid in list(self.pending):
            data, trailers = self.pending[sid]
            while data:
                window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
                if window <= 0:
                    break
                self.h2.send_data(sid, data[:window])
                data = data[window:]
            self.pending[sid][0] = data
            if not data:
                if trailers:
                    self.h2.send_headers(sid, trailers, end_stream=True)
                else:
                    self.h2.end_stream(sid)
                del self.pending[sid]
        self.sock.sendall(self.h2.data_to_send())

    def respond(self, sid):
        headers, sha, length = self.streams.pop(sid)
        hd = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
              for k, v in headers}
        path = hd.get(":path", "")
        if path == "/healthz":
            return self.health(sid, hd)
        if path.startswith("/refuse/") and first_time(path):
            print("refused conn=%d %s" % (self.serial, path), flush=True)
            self.h2.reset_stream(sid, error_code=7)  # REFUSED_STREAM
            return
        if path.startswith("/goaway/") and first_time(path):
            print("goaway conn=%d %s" % (self.serial, path), flush=True)
            self.h2.close_connection(error_code=0, last_stream_id=sid - 2 if sid > 2 else 0)
            return
        if path.startswith("/bytes/"):
            body = pattern(int(path[7:].split("?")[0]))
            self.h2.send_headers(sid, [(":status", "200"), ("content-type", "application/octet-stream"),
                                       ("x-server", self.name)])
            self.pending[sid] = [body, None]
        else:
            body = json.dumps({"name": self.name, "method": hd.get(":method"), "path": path,
                               "body_length": length, "body_sha256": sha.hexdigest(),
                               "headers": hd}).encode()
            self.h2.send_headers(sid, [(":status", "200"), ("content-type", "application/json"),
                                       ("x-server", self.name)])
            self.pending[sid] = [body, [("x-body-length", str(length))]]

    def health(self, sid, hd):
        print("healthz conn=%d %s %s %s %s" % (self.serial, hd.get(":method"), hd.get(":scheme"),
                                              hd.get(":authority"), hd.get("user-agent")), flush=True)
        try:
            with open(HEALTH_FILE) as f:
                say = f.read().strip()
        except (OSError, TypeError):
            say = "200"
        if say == "reset":
            self.h2.reset_stream(sid, error_code=7)
        elif say == "goaway":
            self.h2.close_connection(error_code=1)
            self.sock.sendall(self.h2.data_to_send())
            # FIN, then read to the peer's close: a close with unread
            # bytes would be a reset, which may overtake the GOAWAY
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(10)
            while self.sock.recv(65536):
                pass
            raise ConnectionError("goaway")
        else:
            self.h2.send_headers(sid, [(":status", say), ("content-type", "text/plain")])
            self.pending[sid] = [b"ok\n", None]

    def run(self):
        self.h2.initiate_connection()
        self.sock.sendall(self.h2.data_to_send())
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            for ev in self.h2.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    self.streams[ev.stream_id] = [ev.headers, hashlib.sha256(), 0]
                    if ev.stream_ended:
                        self.respond(ev.stream_id)
                elif isinstance(ev, h2.events.DataReceived):
                    st = self.streams.get(ev.stream_id)
                    if st:
                        st[1].update(ev.data)
                        st[2] += len(ev.data)
                    self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    if ev.stream_id in self.streams:
                        self.respond(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    self.streams.pop(ev.stream_id, None)
                    self.pending.pop(ev.stream_id, None)
            self.send_pending()


TLS = None                # an ssl.SSLContext with --tls


def serve(sock, name):
    try:
        if TLS is not None:
            sock = TLS.wrap_socket(sock, server_side=True)
            conn = Conn(sock, name)
            print("tls conn=%d reused=%s" % (conn.serial, sock.session_reused), flush=True)
        else:
            conn = Conn(sock, name)
        conn.run()
    except OSError:
        pass  # the peer went, or "goaway" closed the connection
    finally:
        sock.close()


def main():
    global HEALTH_FILE, TLS
    args = sys.argv[1:]
    if "--tls" in args:
        i = args.index("--tls")
        TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        TLS.load_cert_chain(args[i + 1], args[i + 2])
        TLS.set_alpn_protocols(["h2"])
        del args[i:i + 3]
    port, name = int(args[0]), args[1]
    HEALTH_FILE = args[2] if len(args) > 2 else None
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    print("serving", port, flush=True)
    while True:
        sock, _ = srv.accept()
        threading.Thread(target=serve, args=(sock, name), daemon=True).start()


if __name__ == "__main__":
    main()
