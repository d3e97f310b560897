#!/usr/bin/env python3
"""Small HTTP/1.1 clients for the integration tests (stdlib only).

  client.py count PORT N [HEADER:VALUE ...]   N keep-alive GETs; prints
                                              "baseline=B canary=C other=O"
  client.py sticky PORT USERS                 one GET per user id (X-User-Id);
                                              prints "user-K POOL" lines
  client.py load PORT RPS SECONDS [USERS]      paced keep-alive GETs from 4
                                              threads for SECONDS (bounded),
                                              prints "baseline=B canary=C other=O
                                              errors=E"; with USERS, each request
                                              carries a random X-User-Id
  client.py impatient PORT RPS SECONDS TIMEOUT
                                              paced GETs, each on its own
                                              connection, given up (closed)
                                              after TIMEOUT seconds, as browsers
                                              and load balancers do; prints
                                              "answered=A gave_up=G"
  client.py raw PORT FILE                     send FILE's bytes as is, print
                                              everything until the peer closes
                                              (bounded by 10 s)
Pools are read from the X-Weir-Pool response header (split.expose_pool).
"""
import http.client
import socket
import sys
import time


def count(port, n, headers):
    hdrs = dict(h.split(":", 1) for h in headers)
    hdrs = {k.strip(): v.strip() for k, v in hdrs.items()}
    seen = {"baseline": 0, "canary": 0, "other": 0}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(n):
        try:
            conn.request("GET", "/count/%d" % i, headers=hdrs)
            resp = conn.getresponse()
            resp.read()
        except (http.client.HTTPException, OSError):
            # weir closed after an error answer: count it and reconnect.
            seen["other"] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        pool = resp.getheader("X-Weir-Pool", "other")
        seen[pool if pool in seen else "other"] += 1
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.close()
    print("baseline=%d canary=%d other=%d" % (seen["baseline"], seen["canary"], seen["other"]))


def sticky(port, users):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for u in range(users):
        conn.request("GET", "/u", headers={"X-User-Id": "user-%d" % u})
        resp = conn.getresponse()
        resp.read()
        print("user-%d %s" % (u, resp.getheader("X-Weir-Pool", "other")))
    conn.close()


def load(port, rps, seconds, users):
    import random
    import threading
    nthreads = 4
    seen = {"baseline": 0, "canary": 0, "other": 0, "errors": 0}
    lock = threading.Lock()
    start = time.monotonic()
    interval = nthreads / float(rps)

    def worker(k):
        rnd = random.Random(k)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        next_at = start + k * interval / nthreads
        while True:
            now = time.monotonic()
            if now - start >= seconds:
                break
            if next_at > now:
                time.sleep(next_at - now)
            next_at += interval
            hdrs = {"X-User-Id": "user-%d" % rnd.randrange(users)} if users else {}
            try:
                conn.request("GET", "/load", headers=hdrs)
                resp = conn.getresponse()
                resp.read()
                pool = resp.getheader("X-Weir-Pool", "other")
                bad = resp.status >= 500
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                pool, bad = "other", True
            with lock:
                seen[pool if pool in seen else "other"] += 1
                seen["errors"] += bad
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("baseline=%d canary=%d other=%d errors=%d" % (seen["baseline"], seen["canary"],
                                                        seen["other"], seen["errors"]))


def raw(port, path):
    data = open(path, "rb").read()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    out = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        out += chunk
    s.close()
    sys.stdout.buffer.write(out)


def impatient(port, rps, seconds, timeout):
    import threading
    seen = {"answered": 0, "gave_up": 0}
    lock = threading.Lock()
    live = threading.BoundedSemaphore(200)   # at most 200 requests waiting

    def one():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            try:
                conn.request("GET", "/impatient")
                conn.getresponse().read()
                key = "answered"
            except (http.client.HTTPException, OSError):
                key = "gave_up"
            conn.close()
            with lock:
                seen[key] += 1
        finally:
            live.release()

    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        next_at = start + n / float(rps)
        now = time.monotonic()
        if next_at > now:
            time.sleep(next_at - now)
        if not live.acquire(timeout=timeout + 1):
            continue
        threading.Thread(target=one, daemon=True).start()
        n += 1
    deadline = time.monotonic() + timeout + 2
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    print("answered=%d gave_up=%d" % (seen["answered"], seen["gave_up"]))


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "count":
        count(port, int(sys.argv[3]), sys.argv[4:])
    elif cmd == "sticky":
        sticky(port, int(sys.argv[3]))
    elif cmd == "load":
        load(port, float(sys.argv[3]), float(sys.argv[4]),
             int(sys.argv[5]) if len(sys.argv) > 5 else 0)
    elif cmd == "impatient":
        impatient(port, float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    elif cmd == "raw":
        raw(port, sys.argv[3])
    else:
        sys.exit("client.py: unknown command %s" % cmd)


if __name__ == "__main__":
    main()
