#!/usr/bin/env python3
"""weir's resident memory with many idle connections and many slow readers.

  bench/memory.py [IDLE [SLOW [BODY]]]      defaults 10000 1000 512000

Starts the demo backend and weir (WEIR, DEMO_BACKEND: paths, default the
build directory this is run from) on 127.0.0.1 ports the kernel chose, with
limits.max_connections 20000 and timeouts long enough that nothing is cut
while measuring; with HAPROXY set (a path, e.g. /usr/sbin/haproxy), HAProxy
instead of weir, one thread, the same limits and timeouts. Then, printing
the proxy's VmRSS after each step:
  1. one request (warm-up);
  2. IDLE connections that send nothing;
  3. SLOW more that each request /bytes/BODY and never read. Their receive
     buffer is 4 KiB and their MSS 1024 bytes, which keeps weir's send
     queue to them at ~64 KiB (loopback's 64 KiB MSS would let the kernel
     autotune it to megabytes): past that, weir's own buffers fill up to
     its backpressure mark, and the rest of BODY waits in the backend's
     socket buffers (BODY bounds the kernel memory the run takes).
RSS is sampled every 0.5 s until it has not grown for 3 s (60 s at most).
The kernel's TCP memory (/proc/net/sockstat) is printed too: it is not
weir's RSS, but it is where a non-reading client's bytes mostly wait.
With REQUEST=1 each idle connection first makes one keep-alive request
(GET /bytes/16) and reads its response, as a browser's connection between
two page loads, before it goes quiet; with TLS=1 the proxy's listener is
HTTPS (a P-256 certificate made for the run, TLS 1.3, each proxy's default
TLS settings) and each idle connection finishes its handshake first. Slow
readers are plain, without TLS (SLOW must be 0 with TLS=1).
Everything is closed and stopped at the end. Needs RLIMIT_NOFILE of at
least IDLE + 2 * SLOW + 100 (hard limit; the soft one is raised here).
"""
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, limit=10):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("exited before 127.0.0.1:%d opened" % port)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("127.0.0.1:%d not accepting after %d s" % (port, limit))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tcp_mem_mb():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                w = line.split()
                return int(w[w.index("mem") + 1]) * 4096 // (1 << 20)
    return -1


def settle(pid, limit=60):
    """RSS once it has not grown for 3 s."""
    deadline = time.monotonic() + limit
    peak, since = rss_kb(pid), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < 3:
        time.sleep(0.5)
        r = rss_kb(pid)
        if r > peak:
            peak, since = r, time.monotonic()
    return peak


def report(step, pid, conns, base):
    r = settle(pid)
    per = (r - base) / conns if conns else 0
    print("%-34s VmRSS %8d kB   +%7.1f kB/conn over warm-up   kernel TCP %5d MB"
          % (step, r, per, tcp_mem_mb()), flush=True)
    return r


def make_cert(tmp):
    """A P-256 key and self-signed certificate for 127.0.0.1 in TMP."""
    key, crt = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(tmp, "both.pem"), "w") as out:
        for name in (crt, key):
            with open(name) as f:
                out.write(f.read())
    return key, crt


def read_response(s):
    """Read one response with a Content-Length body from S; return its head."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("the proxy closed a connection before answering")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("the proxy closed a connection in a response")
        body += chunk
    return head


def open_idle(port, ctx, request):
    """A connection that will stay quiet: over TLS when CTX (its handshake
    done), after one keep-alive request when REQUEST."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if ctx:
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    if request:
        s.sendall(b"GET /bytes/16 HTTP/1.1\r\nHost: m\r\n\r\n")
        if not read_response(s).startswith(b"HTTP/1.1 200"):
            sys.exit("the proxy did not answer 200")
    return s


def main():
    idle = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    slow = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    body = int(sys.argv[3]) if len(sys.argv) > 3 else 512000
    here = os.getcwd()
    weir = os.environ.get("WEIR", os.path.join(here, "src/weir"))
    demo = os.environ.get("DEMO_BACKEND", os.path.join(here, "contrib/weir-demo-backend"))
    tls = os.environ.get("TLS") == "1"
    request = os.environ.get("REQUEST") == "1"
    if tls and slow:
        sys.exit("TLS=1 measures idle connections only: give SLOW 0")
    need = idle + 2 * slow + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        sys.exit("RLIMIT_NOFILE hard limit %d < %d needed" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))  # inherited by weir

    be, px = free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="weir-memory.")
    conf = os.path.join(tmp, "weir.conf")
    key, crt = make_cert(tmp) if tls else (None, None)
    with open(conf, "w") as f:
        if tls:
            f.write('listen = ( { address = "127.0.0.1:%d"; tls = { certificate = "%s"; '
                    'key = "%s"; }; } );\n' % (px, crt, key))
        else:
            f.write('listen = ( "127.0.0.1:%d" );\n' % px)
        f.write('admin = { http = ""; socket = ""; };\n')
        f.write('pools = { baseline = { servers = ( "127.0.0.1:%d" ); };\n' % be)
        f.write('          canary = { servers = ( "127.0.0.1:%d" ); }; };\n' % be)
        f.write('split = { canary_weight = 0; };\n')
        f.write('timeouts = { idle = "300s"; request_header = "300s"; backend = "300s"; };\n')
        f.write('limits = { max_connections = %d; };\n' % (idle + slow + 100))
        f.write('state_file = ""; event_log = "";\n')
    haproxy = os.environ.get("HAPROXY")
    if haproxy:
        conf = os.path.join(tmp, "haproxy.cfg")
        with open(conf, "w") as f:
            # HAProxy wants two descriptors per connection of maxconn and
            # refuses to start without them: its maxconn is what the hard
            # limit allows (9,950 at 20,000), which IDLE + SLOW must fit.
            nofile = hard if hard != resource.RLIM_INFINITY else 2 * need + 100
            maxconn = min(idle + slow + 100, (nofile - 100) // 2)
            if idle + slow > maxconn:
                sys.exit("HAProxy: RLIMIT_NOFILE %d allows %d connections, fewer than %d"
                         % (nofile, maxconn, idle + slow))
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
            f.write("global\n  nbthread 1\n  maxconn %d\n  ulimit-n %d\n" % (maxconn, nofile))
            f.write("defaults\n  mode http\n  timeout connect 5s\n  timeout client 300s\n"
                    "  timeout server 300s\n  timeout http-request 300s\n"
                    "  timeout http-keep-alive 300s\n  option http-keep-alive\n")
            f.write("frontend fe\n  bind 127.0.0.1:%d%s\n  default_backend be\n"
                    % (px, " ssl crt %s alpn http/1.1" % os.path.join(tmp, "both.pem")
                       if tls else ""))
            f.write("backend be\n  server s 127.0.0.1:%d\n" % be)
    procs, socks = [], []
    try:
        procs.append(subprocess.Popen([demo, "--listen", "127.0.0.1:%d" % be],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(be, procs[-1])
        cmd = [haproxy, "-db", "-f", conf] if haproxy else [weir, "-c", conf]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        w = procs[-1]
        wait_port(px, w)
        print("%s, %d idle, %d slow readers of %d bytes"
              % (cmd[0], idle, slow, body), flush=True)

        s = socket.create_connection(("127.0.0.1", px), timeout=10)
        s.sendall(b"GET /bytes/1000 HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
        s.close()
        base = report("warm-up", w.pid, 0, 0)

        ctx = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(crt)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            open_idle(px, ctx, True).close()  # the TLS side's warm-up
            base = report("TLS warm-up", w.pid, 0, 0)
        for _ in range(idle):
            socks.append(open_idle(px, ctx, request))
        after_idle = report("+ %d idle%s%s" % (idle, " HTTPS" if tls else "",
                                              ", one request each" if request else ""),
                            w.pid, idle, base)
        if tls:
            return

        req = b"GET /bytes/%d HTTP/1.1\r\nHost: m\r\n\r\n" % body
        for _ in range(slow):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1024)
            s.settimeout(10)
            s.connect(("127.0.0.1", px))
            s.sendall(req)
            socks.append(s)
        r = report("+ %d slow readers" % slow, w.pid, 0, 0)
        print("%-34s %+8d kB   %7.1f kB per slow reader"
              % ("slow readers alone", r - after_idle, (r - after_idle) / slow if slow else 0))
    finally:
        for s in socks:
            s.close()
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
