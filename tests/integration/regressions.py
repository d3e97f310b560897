#!/usr/bin/env python3
"""Clients for tests/integration/regressions.sh: each reproduces a bug that
review found, and exits non-zero with a message when it comes back.

  regressions.py head_sweep PORT SRC_IP       head rewrite must fit its buffer
  regressions.py halfclose PORT VERSION N     half-closed client gets it all
  regressions.py stall PORT                   a stalled upload is not a 504
  regressions.py dormant PORT N IDLE_S        idle connections sleep and wake
"""
import selectors
import socket
import sys
import time


def head_sweep(port, src):
    # 127 fields written "name:value" (weir adds a space to each) plus a
    # padding field swept so the rewritten head ends at every offset of a
    # libevent buffer block.
    for pad in range(0, 2200):
        s = socket.socket()
        s.settimeout(10)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        req = (b"GET / HTTP/1.0\r\n" + b"".join(b"h%d:v\r\n" % i for i in range(127)) +
               b"p:" + b"x" * pad + b"\r\n\r\n")
        s.sendall(req)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        if not data.startswith(b"HTTP/1.1 200"):
            sys.exit("pad %d: bad reply %r" % (pad, data[:80]))
    print("2200 padded heads answered 200")


def halfclose(port, version, n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /bytes/%d HTTP/%s\r\nHost: x\r\nX-Weir-Pool: baseline\r\n"
              b"Connection: close\r\n\r\n" % (n, version.encode()))
    s.shutdown(socket.SHUT_WR)      # a client that half-closes after its request
    time.sleep(1.0)                 # and reads late: weir's output is full by then
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    if len(body) != n:
        sys.exit("HTTP/%s half-close: got %d of %d body bytes" % (version, len(body), n))
    print("HTTP/%s half-close: all %d bytes" % (version, n))


def stall(port):
    # Announce 100 bytes, send 10, stop: the client is at fault, not the pool.
    s = socket.socket()
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nX-Weir-Pool: canary\r\n"
              b"Content-Length: 100\r\n\r\n0123456789")
    data = s.recv(4096)
    s.close()
    print(data.split(b"\r\n", 1)[0].decode("latin-1"))


def read_response(s, buf):
    """One response with a Content-Length body from S, BUF holding what was
    read of it already: (status line, body, what follows it)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            sys.exit("connection closed before a response head")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    n = [int(l.split(b":", 1)[1]) for l in lines if l.lower().startswith(b"content-length:")]
    if len(n) != 1:
        sys.exit("response without one Content-Length: %r" % head[:200])
    while len(rest) < n[0]:
        d = s.recv(65536)
        if not d:
            sys.exit("connection closed inside a body")
        rest += d
    return lines[0], rest[:n[0]], rest[n[0]:]


def dormant(port, n, idle_s):
    # Past IDLE_AWAKE_MS (100 ms) an idle connection gives its buffers back
    # and takes some again (another connection's, as often as not: N is more
    # than a worker keeps spare) at its next byte. Each answer must still be
    # its own request's, and the idle timeout must still run from the end
    # of the last response: neither cut at the first phase nor lengthened by
    # the second.
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(n)]

    def ask(i, s, paths):
        s.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: d\r\n\r\n" % p for p in paths))
        buf = b""
        for p in paths:
            status, body, buf = read_response(s, buf)
            if not status.startswith(b"HTTP/1.1 200") or p not in body:
                sys.exit("connection %d, %s: got %r %r" % (i, p.decode(), status, body[:200]))
        if buf:
            sys.exit("connection %d: %d bytes beyond its answers" % (i, len(buf)))

    for i, s in enumerate(conns):
        ask(i, s, [b"/dormant/%d/first" % i])
    time.sleep(1.6)                  # the first phase of the idle timeout is over
    answered = {}
    for i, s in enumerate(conns):
        ask(i, s, [b"/dormant/%d/second" % i, b"/dormant/%d/pipelined" % i])
        answered[s] = time.monotonic()
    sel = selectors.DefaultSelector()
    for s in conns:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    closed = {}
    deadline = time.monotonic() + idle_s + 10
    while len(closed) < n and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                d = s.recv(4096)
            except ConnectionError:
                d = b""
            if d:
                sys.exit("bytes from weir on an idle connection: %r" % d[:100])
            closed[s] = time.monotonic() - answered[s]
            sel.unregister(s)
    for s in conns:
        s.close()
    if len(closed) < n:
        sys.exit("%d of %d idle connections still open %d s after their answers"
                 % (n - len(closed), n, idle_s + 10))
    lo, hi = min(closed.values()), max(closed.values())
    if lo < idle_s - 0.3 or hi > idle_s + 0.7:
        sys.exit("idle connections closed %.2f to %.2f s after their answers, not ~%d s"
                 % (lo, hi, idle_s))
    print("%d connections answered before and after sleeping, closed %.2f-%.2f s after"
          % (n, lo, hi))


def main():
    cmd = sys.argv[1]
    if cmd == "head_sweep":
        head_sweep(int(sys.argv[2]), sys.argv[3])
    elif cmd == "halfclose":
        halfclose(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif cmd == "stall":
        stall(int(sys.argv[2]))
    elif cmd == "dormant":
        dormant(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit("regressions.py: unknown command " + cmd)


if __name__ == "__main__":
    main()
