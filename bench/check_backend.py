#!/usr/bin/env python3
"""Many tiny HTTP servers in one process, for bench/health_cost.sh.

  check_backend.py FIRST_PORT COUNT [--close]

Listens on 127.0.0.1:FIRST_PORT .. FIRST_PORT+COUNT-1 (epoll, one thread),
reads each request head and answers "200 ok" on a keep-alive connection
(with --close: Connection: close, and closes).
Prints "ready" once every port listens. Runs until killed (at most 1 h).
"""
import select
import socket
import sys
import time

KEEP = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


def main():
    first, count = int(sys.argv[1]), int(sys.argv[2])
    close = "--close" in sys.argv[3:]
    ep = select.epoll()
    listeners, conns = {}, {}
    for port in range(first, first + count):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        s.setblocking(False)
        listeners[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLIN)
    print("ready", flush=True)
    end = time.monotonic() + 3600
    while time.monotonic() < end:
        for fd, _ in ep.poll(1.0):
            if fd in listeners:
                try:
                    c, _ = listeners[fd].accept()
                except OSError:
                    continue
                c.setblocking(False)
                conns[c.fileno()] = (c, b"")
                ep.register(c.fileno(), select.EPOLLIN)
                continue
            c, buf = conns[fd]
            try:
                data = c.recv(4096)
            except OSError:
                data = b""
            buf += data
            if data and not close and b"\r\n\r\n" in buf:
                try:
                    c.send(KEEP)
                    conns[fd] = (c, b"")
                    continue
                except OSError:
                    data = b""
            if data and b"\r\n\r\n" not in buf:
                conns[fd] = (c, buf)
                continue
            ep.unregister(fd)
            del conns[fd]
            if data:
                try:
                    c.send(CLOSE)
                except OSError:
                    pass
            c.close()


if __name__ == "__main__":
    main()
