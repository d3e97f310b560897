#!/usr/bin/env python3
"""A scriptable misbehaving HTTP/1.1 backend, and the raw clients that check
what weir makes of it and of hostile clients (stdlib only).

  evil_backend.py serve PORT [CERT KEY] the backend, on 127.0.0.1:PORT; with a
                                        certificate and key, over TLS
  evil_backend.py probe PORT FILE [WAIT [BACKEND [FILE2]]]
                                        send FILE's bytes on one connection,
                                        read until the peer closes (at most
                                        WAIT s, default 10), print one JSON
                                        line about the first response; with
                                        the BACKEND port of an evil backend,
                                        also "reached" before and after:
                                        "talked/requests" from its stats;
                                        with FILE2, send it once the backend
                                        has counted the request of FILE
  evil_backend.py probes PORT BACKEND WAIT FILE...
                                        probe each FILE in turn (BACKEND 0:
                                        none), one line each of the values
                                        $EVIL_FIELDS names
  evil_backend.py dribble PORT FILE MS  send FILE one byte every MS ms until
                                        the peer answers or closes; print the
                                        same JSON plus "sent" (bytes written)
  evil_backend.py flood PORT N HOLD [PATH]
                                        open N connections at once (with PATH,
                                        then send a GET PATH on each), hold
                                        them HOLD s, print {"opened",
                                        "closed_early"}
  evil_backend.py stall PORT PATH       request PATH, then never read; runs
                                        until killed (at most 120 s)
  evil_backend.py halfclose PORT PATH WAIT
                                        request PATH and begin a second
                                        request, read nothing for WAIT s, shut
                                        down writing, then read to the end;
                                        print the probe's JSON and "inkernel"
  evil_backend.py abandon PORT PATH WAIT
                                        request PATH, read nothing for WAIT s,
                                        then close with a reset; print
                                        {"inkernel"}: the bytes of the
                                        response in the kernel's queues at
                                        that moment (weir's send queue and
                                        ours), from /proc/net/tcp; what weir
                                        received and did not hand to the
                                        kernel is not in it
  evil_backend.py hold PORT IDLE SLOW PATH SECONDS GO
                                        open IDLE connections that send
                                        nothing, print "idle", wait (30 s at
                                        most) for the file GO to exist, open
                                        SLOW that request PATH and never read
                                        (receive buffer 4 KiB, MSS 1024: the
                                        kernel queues little for them), print
                                        "ready", hold them all SECONDS, close

With EVIL_FIELDS="status end ..." in the environment, the clients print just
those values, on one line ("-" for none), instead of JSON.

The backend serves every request on keep-alive connections (one thread per
connection). What it does is chosen by the request path, so one process
serves every case of a test:

  /mode/ok (and any other path)   200, JSON {"conn", "nth", "path", "body_length"}
  /mode/reset_mid_head            half a status line, then a TCP reset
  /mode/close_mid_head            half a head, then a clean close
  /mode/close_no_answer           close without a byte
  /mode/reset_mid_body            head with Content-Length 1000, 100 bytes, reset
  /mode/close_delim_reset         a body delimited by the close, cut by a reset
  /mode/close_delim_stall         a body delimited by the close, then silence
  /mode/never_respond             say nothing until the peer closes
  /mode/stall_body                read the head, never a byte of the body, say
                                  nothing until the peer closes (its FIN may wait
                                  behind the unread body: 5 s at most)
  /mode/never_finish              head with Content-Length 1000, 10 bytes, then silence
  /mode/bad_status                "HTTP/1.1 2x0 OK"
  /mode/garbage                   not HTTP at all
  /mode/lf_only                   a head with bare LF line ends
  /mode/cl_short                  Content-Length 100, 50 bytes, close
  /mode/cl_long                   Content-Length 10, then 10 bytes and a second,
                                  unrequested response in the same write
  /mode/two_cl                    two different Content-Length fields
  /mode/te_cl                     Transfer-Encoding chunked and Content-Length
  /mode/bad_chunk                 chunked body with a chunk size "zz"
  /mode/chunk_eof                 chunked body cut off (close) before the last chunk
  /mode/conn_cl                   200 with "Connection: Content-Length": a proxy
                                  that drops the fields Connection names loses
                                  the body's length
  /mode/huge_head                 a 100 KB response head
  /mode/echo                      200 whose body is the request exactly as
                                  received (head and body bytes)
  /mode/odd_chunks                chunked body with leading zeros in the sizes,
                                  extensions and a trailer ("hello0123456789")
  /mode/gzip_chunked              "Transfer-Encoding: gzip, chunked", body "gz"
  /mode/gzip_close                "Transfer-Encoding: gzip", body "gz" until the close
  /mode/conn_many                 200 with a Connection field of 33 names
  /mode/conn_17                   200 with Connection naming 16 fields, then
                                  X-Secret, and an X-Secret field
  /mode/switch                    101 Switching Protocols (weir never asked)
  /mode/unsolicited               200, then 100 ms later another response on the
                                  idle connection
  /mode/close_on_next             200 (keep-alive), then close the connection
                                  when the next request arrives on it, unanswered
  /mode/close_delim               200 with a 1000-byte body delimited by the
                                  close; over TLS the close sends no
                                  close_notify (a truncation, for all a peer
                                  can tell)
  /mode/close_delim_notify        the same, closed with close_notify
  /mode/close_delim_now           close_delim closed at once: the close
                                  arrives with the response
  /mode/late_body?204             a 204 (?304: a 304; ?head: the head of a
                                  200 with Content-Length 8, as for HEAD),
                                  and 1 s later, unasked, a whole response
                                  "SMUGGLED" on the same connection
  /mode/endless_1xx               103 Early Hints every 10 ms, for 30 s
  /mode/big?N[&...]               200 with a body of N bytes "b"
  /mode/early_answer              read the head, never the body: after 3 s a
                                  413 with Connection: close, then wait for
                                  the peer's close (10 s at most)
  /mode/slow_read                 read the head, wait 2 s, then the body
                                  (Content-Length): the body backs up in the
                                  proxy; 200, JSON {"body_length",
                                  "body_sha256"}
  /__evil/stats                   {"conns", "open", "open_ids", "talked",
                                  "requests", "log": [[conn, nth, path,
                                  body_complete], ... the last 200]}; "talked"
                                  counts connections that sent any byte, other
                                  than the ones asking for these stats
                                  (not counted, not logged)

Request bodies (Content-Length or chunked) are read before any answer; a
malformed chunked body closes the connection. Every wait is bounded.
"""
import hashlib
import json
import os
import select
import selectors
import socket
import struct
import sys
import threading
import time

IDLE_S = 60                      # a connection nobody talks on is closed
LOG_MAX = 200


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.conns = 0
        self.open = 0
        self.open_ids = set()
        self.talked = 0
        self.requests = 0
        self.log = []

    def snapshot(self):
        with self.lock:
            return {"conns": self.conns, "open": self.open, "open_ids": sorted(self.open_ids),
                    "talked": self.talked, "requests": self.requests, "log": list(self.log)}


STATS = Stats()


class Closed(Exception):
    pass


class Conn:
    """Buffered reads from one client socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.rec = b""           # what read_until / read_exact returned (mode echo)

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def read_until(self, sep, limit=1 << 20):
        while sep not in self.buf:
            if len(self.buf) > limit:
                raise Closed()
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        self.rec += out
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        self.rec += out
        return out

    def wait_eof(self, limit_s=IDLE_S):
        """Discard input until the peer closes (or LIMIT_S passes)."""
        self.sock.settimeout(limit_s)
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass


def read_chunked(c):
    """Read a chunked body; returns its length, raises Closed when malformed."""
    total = 0
    while True:
        line = c.read_until(b"\r\n", 8192)[:-2]
        size = line.split(b";", 1)[0]
        if not size or any(ch not in b"0123456789abcdefABCDEF" for ch in size):
            raise Closed()
        n = int(size, 16)
        if n == 0:
            while c.read_until(b"\r\n", 65536) != b"\r\n":
                pass
            return total
        c.read_exact(n)
        if c.read_exact(2) != b"\r\n":
            raise Closed()
        total += n


def wait_hangup(sock, limit_s=IDLE_S):
    """Read nothing; return once the peer closes (its FIN, seen with unread
    bytes still queued: POLLRDHUP) or resets, or LIMIT_S passes."""
    p = select.poll()
    p.register(sock, select.POLLRDHUP)
    p.poll(limit_s * 1000)


def send(sock, data):
    sock.sendall(data)


def quiet_close(sock):
    """Close TCP only: over TLS, without close_notify."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def reset(sock):
    """Close with a TCP reset instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def ok_response(body, close=False):
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


def handle(sock, cid):
    c = Conn(sock)
    nth = 0
    close_next = False
    sock.settimeout(IDLE_S)
    c.fill()
    if not c.buf.startswith(b"GET /__evil/"):
        with STATS.lock:
            STATS.talked += 1
    while True:
        c.rec = b""
        head = c.read_until(b"\r\n\r\n", 1 << 20)
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, path, _version = lines[0].split(" ", 2)
        except ValueError:
            return
        fields = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                fields[k.strip().lower()] = v.strip()
        nth += 1
        counted = not path.startswith("/__evil/")
        if counted:
            with STATS.lock:
                STATS.requests += 1
                entry = [cid, nth, path, False]
                STATS.log.append(entry)
                del STATS.log[:-LOG_MAX]
        if close_next:
            # The connection was pooled after an answer; now it is closed
            # under the request that reused it.
            return
        if path.startswith("/mode/stall_body"):
            wait_hangup(sock, 5)
            return
        if path.startswith("/mode/early_answer"):
            time.sleep(3)  # long enough for the body to back up into the proxy
            send(sock, b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n"
                       b"Connection: close\r\n\r\nno\n")
            wait_hangup(sock, 10)
            return
        slow = path.startswith("/mode/slow_read")
        if slow:
            time.sleep(2)
        digest = None
        if "chunked" in fields.get("transfer-encoding", "").lower():
            blen = read_chunked(c)
        else:
            blen = int(fields.get("content-length", "0") or 0)
            body = c.read_exact(blen)
            if slow:
                digest = hashlib.sha256(body).hexdigest()
        if counted:
            with STATS.lock:
                entry[3] = True
        client_close = "close" in fields.get("connection", "").lower()
        mode = path.split("?", 1)[0].split("/")[2] if path.startswith("/mode/") else "ok"
        if path.startswith("/__evil/stats"):
            send(sock, ok_response(json.dumps(STATS.snapshot()).encode(), client_close))
        elif slow:
            send(sock, ok_response(json.dumps({"body_length": blen, "body_sha256": digest}).encode(),
                                   client_close))
        elif not answer(sock, c, mode, cid, nth, path, blen, client_close):
            return
        if mode == "close_on_next":
            close_next = True
        if client_close:
            return


def answer(sock, c, mode, cid, nth, path, blen, client_close):
    """Answer one request by MODE. Returns False when the connection is done."""
    if mode == "reset_mid_head":
        send(sock, b"HTTP/1.1 200 O")
        time.sleep(0.05)
        reset(sock)
        return False
    if mode == "close_mid_head":
        send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Half")
        return False
    if mode == "close_no_answer":
        return False
    if mode == "reset_mid_body":
        send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
        time.sleep(0.05)
        reset(sock)
        return False
    if mode == "close_delim_reset":
        send(sock, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"z" * 100)
        time.sleep(0.05)
        reset(sock)
        return False
    if mode == "close_delim_stall":
        send(sock, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"z" * 100)
        c.wait_eof()
        return False
    if mode == "never_respond":
        c.wait_eof()
        return False
    if mode == "never_finish":
        send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        c.wait_eof()
        return False
    if mode == "bad_status":
        send(sock, b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok")
        c.wait_eof(5)
        return False
    if mode == "garbage":
        send(sock, b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        c.wait_eof(5)
        return False
    if mode == "lf_only":
        send(sock, b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
        c.wait_eof(5)
        return False
    if mode == "cl_short":
        send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"y" * 50)
        return False
    if mode == "cl_long":
        # The classic response desync: what follows the declared length is a
        # complete response that a careless proxy gives the next request.
        send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + b"0123456789" +
             b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED")
        return True
    if mode == "two_cl":
        send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 12\r\n\r\nokSMUGGLED..")
        c.wait_eof(5)
        return False
    if mode == "te_cl":
        send(sock, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                   b"5\r\nhello\r\n0\r\n\r\n")
        c.wait_eof(5)
        return False
    if mode == "bad_chunk":
        send(sock, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
        c.wait_eof(5)
        return False
    if mode == "chunk_eof":
        send(sock, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        return False
    if mode == "conn_cl":
        send(sock, b"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello")
        return True
    if mode == "huge_head":
        send(sock, b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"b" * 100000 + b"\r\nContent-Length: 2\r\n\r\nok")
        c.wait_eof(5)
        return False
    if mode == "echo":
        send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(c.rec) + c.rec)
        return True
    if mode == "odd_chunks":
        send(sock, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"0000000005;ext=\"a\"\r\nhello\r\n0000A\r\n0123456789\r\n"
                   b"0;e\r\nX-Trailer: 1\r\n\r\n")
        return True
    if mode == "gzip_chunked":
        send(sock, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\ngz\r\n0\r\n\r\n")
        return True
    if mode == "gzip_close":
        send(sock, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\ngz")
        return False
    if mode == "conn_many":
        names = ", ".join("x-%d" % i for i in range(33))
        send(sock, b"HTTP/1.1 200 OK\r\nConnection: %s\r\nContent-Length: 2\r\n\r\nok" % names.encode())
        return True
    if mode == "conn_17":
        names = ", ".join("x-%d" % i for i in range(16))
        send(sock, b"HTTP/1.1 200 OK\r\nConnection: %s, X-Secret\r\nX-Secret: s\r\n"
                   b"Content-Length: 2\r\n\r\nok" % names.encode())
        return True
    if mode == "switch":
        send(sock, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        c.wait_eof(5)
        return False
    if mode in ("close_delim", "close_delim_notify", "close_delim_now"):
        send(sock, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"d" * 1000)
        if mode != "close_delim_now":
            time.sleep(0.05)
        if mode == "close_delim_notify" and hasattr(sock, "unwrap"):
            sock.settimeout(5)
            try:
                sock.unwrap()
            except (OSError, ValueError):
                pass
        else:
            quiet_close(sock)
        return False
    if mode == "late_body":
        arg = path.split("?", 1)[1] if "?" in path else "204"
        if arg == "head":
            send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
        elif arg == "304":
            send(sock, b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
        else:
            send(sock, b"HTTP/1.1 204 No Content\r\n\r\n")
        time.sleep(1)
        send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED")
        return True
    if mode == "big":
        n = int(path.split("?", 1)[1].split("&", 1)[0])
        send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + b"b" * n)
        return True
    if mode == "endless_1xx":
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            send(sock, b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            time.sleep(0.01)
        return False
    body = json.dumps({"conn": cid, "nth": nth, "path": path, "body_length": blen}).encode()
    send(sock, ok_response(body, client_close))
    if mode == "unsolicited":
        time.sleep(0.1)
        send(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED")
    return True


def conn_thread(sock, cid):
    try:
        handle(sock, cid)
    except (Closed, OSError, ValueError):
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass
        with STATS.lock:
            STATS.open -= 1
            STATS.open_ids.discard(cid)


def tls_handle(sock, cid, ctx):
    sock.settimeout(10)
    try:
        sock = ctx.wrap_socket(sock, server_side=True)
    except (OSError, ValueError):
        sock.close()
        return
    conn_thread(sock, cid)


def serve(port, cert=None, key=None):
    ctx = None
    if cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(256)
    while True:
        sock, _ = ls.accept()
        with STATS.lock:
            STATS.conns += 1
            STATS.open += 1
            cid = STATS.conns
            STATS.open_ids.add(cid)
        if ctx:
            threading.Thread(target=tls_handle, args=(sock, cid, ctx), daemon=True).start()
        else:
            threading.Thread(target=conn_thread, args=(sock, cid), daemon=True).start()


# ---- clients --------------------------------------------------------------------

def describe(data, end):
    """What a client makes of DATA (everything received) and how it ended."""
    out = {"status": 0, "end": end, "bytes": len(data), "complete": False, "body": "",
           "raw": data[:4000].decode("latin-1")}
    if b"\r\n\r\n" not in data:
        return out
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) >= 2 and parts[1].isdigit():
        out["status"] = int(parts[1])
    fields = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            fields[k.strip().lower()] = v.strip()
    out["connection"] = fields.get("connection", "")
    if "content-length" in fields:
        n = int(fields["content-length"])
        out["complete"] = len(rest) >= n
        body = rest[:n]
    elif "chunked" in fields.get("transfer-encoding", ""):
        body, ok = b"", False
        try:
            while True:
                line, rest = rest.split(b"\r\n", 1)
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    ok = True
                    break
                body += rest[:n]
                rest = rest[n + 2:]
        except ValueError:
            pass
        out["complete"] = ok
    else:
        body = rest
        out["complete"] = end == "closed"
    out["body"] = body[:300].decode("latin-1")
    out["raw"] = data[:4000].decode("latin-1")
    return out


def read_to_end(s, deadline):
    data, end = b"", "timeout"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            end = "reset"
            break
        if not chunk:
            end = "closed"
            break
        data += chunk
    return data, end


def reached(port):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/__evil/stats")
    st = json.loads(conn.getresponse().read())
    conn.close()
    return "%d/%d" % (st["talked"], st["requests"])


def emit(out):
    """Print OUT as JSON, or with $EVIL_FIELDS ("status end ...") just those
    values on one line, "-" for a missing or empty one."""
    keys = os.environ.get("EVIL_FIELDS")
    if keys:
        print(" ".join(str(out.get(k, "")) or "-" for k in keys.split()))
    else:
        print(json.dumps(out))


def probes(port, backend, wait, paths):
    """probe, one fresh connection per file, one line of $EVIL_FIELDS each."""
    for path in paths:
        probe(port, path, wait, backend, None)
        sys.stdout.flush()


def probe(port, path, wait, backend, path2):
    data = open(path, "rb").read()
    before = reached(backend) if backend else None
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(data)
        if path2:
            # The head must be at the backend before the rest is sent.
            want = int(before.split("/")[1]) + 1
            deadline = time.monotonic() + 5
            while int(reached(backend).split("/")[1]) < want and time.monotonic() < deadline:
                time.sleep(0.02)
            s.sendall(open(path2, "rb").read())
    except OSError:
        pass                     # refused early: what came back is the answer
    got, end = read_to_end(s, time.monotonic() + wait)
    s.close()
    out = describe(got, end)
    if backend:
        out["reached_before"], out["reached_after"] = before, reached(backend)
    emit(out)


def dribble(port, path, ms):
    data = open(path, "rb").read()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    sent, got, end = 0, b"", "timeout"
    deadline = time.monotonic() + 60
    for i in range(len(data)):
        try:
            s.sendall(data[i:i + 1])
            sent += 1
        except OSError:
            break
        s.settimeout(ms / 1000.0)
        try:
            chunk = s.recv(65536)
            if not chunk:
                end = "closed"
                break
            got += chunk
            break                # an answer came: stop dribbling
        except socket.timeout:
            pass
        except ConnectionResetError:
            end = "reset"
            break
        if time.monotonic() > deadline:
            break
    if end == "timeout":
        more, end = read_to_end(s, time.monotonic() + 10)
        got += more
    s.close()
    out = describe(got, end)
    out["sent"] = sent
    emit(out)


def flood(port, n, hold, path):
    socks, opened, early = [], 0, 0
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
            opened += 1
        except OSError:
            pass
    if path:
        for s in socks:
            try:
                s.sendall(("GET %s HTTP/1.1\r\nHost: flood\r\n\r\n" % path).encode())
            except OSError:
                pass
    deadline = time.monotonic() + hold
    # A refused connection is closed by weir at once: EOF or reset. All are
    # watched together until HOLD is over, so that a busy machine (weir slow
    # to accept and refuse) does not turn a late close into a held one.
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    watched = len(socks)
    while watched and time.monotonic() < deadline:
        for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
            s = key.fileobj
            try:
                if s.recv(1) == b"":
                    early += 1
            except BlockingIOError:
                continue
            except OSError:
                early += 1
            sel.unregister(s)          # closed, or answered: decided
            watched -= 1
    sel.close()
    left = deadline - time.monotonic()
    if left > 0:
        time.sleep(left)
    for s in socks:
        s.close()
    emit({"opened": opened, "closed_early": early})


def stall(port, path):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # before connect: the window
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: stall\r\n\r\n" % path).encode())
    time.sleep(120)
    s.close()


def slow_socket(port):
    """A client socket with a small receive window: what weir sends it stays
    in weir's buffers while it does not read."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # before connect: the window
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def in_kernel(s):
    """Bytes queued on the loopback connection S towards us: in the peer's
    send queue and in our receive queue (IPv4 /proc/net/tcp)."""
    me = "0100007F:%04X" % s.getsockname()[1]
    peer = "0100007F:%04X" % s.getpeername()[1]
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            col = line.split()
            tx, rx = (int(v, 16) for v in col[4].split(":"))
            if col[1] == me and col[2] == peer:
                n += rx
            elif col[1] == peer and col[2] == me:
                n += tx
    return n


def halfclose(port, path, wait):
    s = slow_socket(port)
    s.sendall(("GET %s HTTP/1.1\r\nHost: h\r\n\r\nGET /second HTTP/1.1\r\nHo" % path).encode())
    time.sleep(wait)
    queued = in_kernel(s)
    s.shutdown(socket.SHUT_WR)
    got, end = read_to_end(s, time.monotonic() + 30)
    s.close()
    out = describe(got, end)
    out["inkernel"] = queued
    emit(out)


def abandon(port, path, wait):
    s = slow_socket(port)
    s.sendall(("GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % path).encode())
    time.sleep(wait)
    queued = in_kernel(s)
    reset(s)
    emit({"inkernel": queued})


def hold(port, idle, slow, path, seconds, go):
    socks = []
    for _ in range(idle):
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    print("idle", flush=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
    for _ in range(slow):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1024)
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: hold\r\n\r\n" % path).encode())
        socks.append(s)
    print("ready", flush=True)
    time.sleep(seconds)
    for s in socks:
        s.close()


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "serve":
        serve(port, *sys.argv[3:5])
    elif cmd == "probe":
        probe(port, sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 10.0,
              int(sys.argv[5]) if len(sys.argv) > 5 else 0,
              sys.argv[6] if len(sys.argv) > 6 else None)
    elif cmd == "probes":
        probes(port, int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:])
    elif cmd == "dribble":
        dribble(port, sys.argv[3], float(sys.argv[4]))
    elif cmd == "flood":
        flood(port, int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else None)
    elif cmd == "stall":
        stall(port, sys.argv[3])
    elif cmd == "halfclose":
        halfclose(port, sys.argv[3], float(sys.argv[4]))
    elif cmd == "hold":
        hold(port, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6]), sys.argv[7])
    elif cmd == "abandon":
        abandon(port, sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit("evil_backend.py: unknown command %s" % cmd)


if __name__ == "__main__":
    main()
