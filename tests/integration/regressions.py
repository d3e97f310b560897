#!/usr/bin/env python3
"""Clients for tests/integration/regressions.sh: each reproduces a bug that
review found, and exits non-zero with a message when it comes back.

  regressions.py head_sweep PORT SRC_IP       head rewrite must fit its buffer
  regressions.py halfclose PORT VERSION N     half-closed client gets it all
  regressions.py stall PORT                   a stalled upload is not a 504
"""
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


def main():
    cmd = sys.argv[1]
    if cmd == "head_sweep":
        head_sweep(int(sys.argv[2]), sys.argv[3])
    elif cmd == "halfclose":
        halfclose(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif cmd == "stall":
        stall(int(sys.argv[2]))
    else:
        sys.exit("regressions.py: unknown command " + cmd)


if __name__ == "__main__":
    main()
