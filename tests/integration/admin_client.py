"""Clients that misbehave towards the admin listener (admin_limits.sh).

  bigpost PORT PATH MIB   POST a body of MIB MiB without waiting for an answer
                          (no Expect), reading while sending; prints the status
                          of the answer (or "none") and the MiB sent
  raw PORT TEXT           send TEXT (Python escapes allowed: \\r\\n), print the
                          status of the answer, or "none"
  dribble PORT SECONDS    send a request head one byte every 0.5 s; print how
                          many seconds passed until the server closed ("open"
                          after SECONDS)
  hold PORT N SECONDS     open N connections, print how many were not refused
                          (503 or closed at once) and keep them open, silent,
                          for SECONDS
  busy PORT N SECONDS PERIOD
                          open N keep-alive connections, each sending a tiny
                          HEAD /healthz every PERIOD s for SECONDS; print how
                          many had their first request answered 200
  slowread PORT PATH KEEP SECONDS
                          GET PATH (keep-alive when KEEP is 1) with a tiny
                          receive buffer, reading 500 bytes every 2 s; print
                          the seconds until the server closed or reset, or
                          "open" after SECONDS
"""
import select
import socket
import sys
import time


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def status_of(data):
    line = data.split(b"\r\n", 1)[0].split()
    return line[1].decode() if len(line) >= 2 else "none"


def bigpost(port, path, mib):
    s = connect(port)
    total = mib * 1024 * 1024
    s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
               "Content-Length: %d\r\n\r\n" % (path, total)).encode())
    chunk = b"\0" * (1024 * 1024)
    sent, answer = 0, b""
    s.setblocking(False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        want_w = [s] if sent < total else []
        r, w, _ = select.select([s], want_w, [], 1.0)
        if r:
            try:
                data = s.recv(65536)
            except OSError:
                break
            if not data:
                break
            answer += data
            if b"\r\n\r\n" in answer:
                break
        if w:
            try:
                sent += s.send(chunk[: min(len(chunk), total - sent)])
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                want_w = []
                total = sent
    s.close()
    print(status_of(answer), sent // (1024 * 1024))


def raw(port, text):
    s = connect(port)
    s.sendall(text.encode().decode("unicode_escape").encode("latin-1"))
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            data = s.recv(65536)
            if not data:
                break
            answer += data
    except OSError:
        pass
    s.close()
    print(status_of(answer))


def dribble(port, seconds):
    s = connect(port)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000
    start = time.monotonic()
    i = 0
    s.settimeout(0.5)
    while time.monotonic() - start < seconds:
        try:
            if s.recv(1) == b"":
                print("%.1f" % (time.monotonic() - start))
                return
        except socket.timeout:
            pass
        except OSError:
            print("%.1f" % (time.monotonic() - start))
            return
        try:
            s.send(head[i % len(head):i % len(head) + 1])
        except OSError:
            print("%.1f" % (time.monotonic() - start))
            return
        i += 1
    print("open")


def hold(port, n, seconds):
    socks = [connect(port) for _ in range(n)]
    time.sleep(1)
    alive = 0
    for s in socks:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            alive += 1      # nothing said, not closed: it holds a slot
    print(alive, flush=True)
    time.sleep(seconds)
    for s in socks:
        s.close()


def busy(port, n, seconds, period):
    req = b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

    def ask(s):
        s.sendall(req)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = s.recv(4096)
            if not data:
                break
            answer += data
        return status_of(answer)

    socks, ok = [], 0
    for _ in range(n):
        s = connect(port)
        socks.append(s)
        try:
            ok += ask(s) == "200"
        except OSError:
            pass
    print(ok, flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(period)
        for i, s in enumerate(socks):
            if s is None:
                continue
            try:
                ask(s)
            except OSError:
                s.close()
                socks[i] = None
    for s in socks:
        if s is not None:
            s.close()


def slowread(port, path, keep, seconds):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    conn = b"" if keep else b"Connection: close\r\n"
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + conn + b"\r\n")
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        time.sleep(2)
        try:
            if s.recv(500) == b"":
                break
        except OSError:
            break
    else:
        print("open")
        return
    print("%.1f" % (time.monotonic() - start))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "bigpost":
        bigpost(int(args[0]), args[1], int(args[2]))
    elif cmd == "raw":
        raw(int(args[0]), args[1])
    elif cmd == "dribble":
        dribble(int(args[0]), float(args[1]))
    elif cmd == "hold":
        hold(int(args[0]), int(args[1]), float(args[2]))
    elif cmd == "busy":
        busy(int(args[0]), int(args[1]), float(args[2]), float(args[3]))
    elif cmd == "slowread":
        slowread(int(args[0]), args[1], args[2] == "1", float(args[3]))
    else:
        sys.exit("unknown command " + cmd)


main()
