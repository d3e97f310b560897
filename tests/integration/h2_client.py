#!/usr/bin/python3
"""h2_client.py: a hostile HTTP/2 client for h2.sh.

Frames are made with hyperframe and header blocks by hand (HPACK literals
without indexing, no Huffman), so it can send what a well-behaved library
refuses to: connection-specific fields, upper-case names, CR/LF/NUL in
values, a body shorter than its content-length, floods. hpack decodes the
answers. Plain TCP to 127.0.0.1 (h2c with prior knowledge).

  h2_client.py refuse PORT CASE
      a request (CASE, see CASES: bad ones, and two good ones as controls)
      on stream 1, then a good GET with "x-weir-pool: baseline" on stream 3
      of the same connection; prints
      "first=rst:0x1 next=status:200 name=base1 goaway=none"
  h2_client.py rapid-reset PORT N
      N pairs of HEADERS (a GET, END_STREAM) + RST_STREAM (CANCEL)
  h2_client.py continuation PORT N
      HEADERS without END_HEADERS, then N CONTINUATION frames
  h2_client.py stall PORT N
      SETTINGS_INITIAL_WINDOW_SIZE 0, then GET /bytes/N and never a
      WINDOW_UPDATE: waits (up to 30 s) for weir to reset the stream;
      prints "first=rst:0x8 status=200 data=0 seconds=2.1"
  h2_client.py no-end PORT N
      POST /no-end with content-length N and N bytes of DATA, never an
      END_STREAM; waits (up to 30 s) for the response's end and then for
      weir to close the stream; then a GET /after-no-end on the same
      connection; prints "response=ended:200 then=rst:0x0 after=2.0
      next=200" (after: seconds from the response's end to the reset)
  h2_client.py early-refusal PORT N
      POST /early-refusal with content-length 5 and N more fields (over
      weir's field limit when N is large), no END_STREAM and no DATA: weir
      refuses it before its end; waits (up to 10 s) for the reset and
      prints "status=431 ended=yes rst=0x0" (the response first, whole,
      then RST_STREAM NO_ERROR, RFC 9113 8.1)
  h2_client.py ping-flood PORT N
  h2_client.py settings-flood PORT N
      the floods print "sent=K goaway=0xb closed=yes ..."

Needs Debian's python3-hyperframe and python3-hpack (python3-h2 pulls them
in): run it with /usr/bin/python3. Every wait is bounded. Exit status 0
when the exchange ran (whatever weir answered), 1 when the connection could
not be made, 2 on a usage error.
"""
import json
import select
import socket
import sys
import time

import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
WAIT = 10.0                     # seconds for any one answer
CANCEL = 0x8

# CASE: (method, extra fields, request body or None)
CASES = {
    "good": ("GET", [(b"x-fine", b"1")], None),
    "good-length": ("POST", [(b"content-length", b"5")], b"12345"),
    "connection": ("GET", [(b"connection", b"keep-alive")], None),
    "keep-alive": ("GET", [(b"keep-alive", b"timeout=5")], None),
    "proxy-connection": ("GET", [(b"proxy-connection", b"keep-alive")], None),
    "transfer-encoding": ("POST", [(b"transfer-encoding", b"chunked")], b"5\r\nhello\r\n0\r\n\r\n"),
    "upgrade": ("GET", [(b"upgrade", b"websocket")], None),
    "te": ("GET", [(b"te", b"gzip")], None),
    "uppercase": ("GET", [(b"X-Upper", b"1")], None),
    "cr": ("GET", [(b"x-a", b"1\rx")], None),
    "lf": ("GET", [(b"x-a", b"1\nx-injected: 2")], None),
    "crlf": ("GET", [(b"x-a", b"1\r\nx-injected: 2")], None),
    "nul": ("GET", [(b"x-a", b"a\x00b")], None),
    "content-length": ("POST", [(b"content-length", b"10")], b"12345"),
    "content-length-late": ("POST", [(b"content-length", b"10")], b"12345"),
}
# Cases whose DATA follows the HEADERS after a pause (0.3 s), so that weir has
# routed the request before it finds the body short; the others go in one
# write.
LATE = {"content-length-late"}


def hpack_int(value, prefix_bits, flags=0):
    """An HPACK integer (RFC 7541 5.1) with a PREFIX_BITS prefix."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([flags | value])
    out = bytearray([flags | top])
    value -= top
    while value >= 0x80:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value):
    """A literal field without indexing, new name, raw octets (RFC 7541
    6.2.2): no table state, and no check of what the bytes are."""
    return (b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value)


def request_block(port, method, path, extra=()):
    fields = [(b":method", method.encode()), (b":scheme", b"http"),
              (b":authority", b"127.0.0.1:%d" % port), (b":path", path.encode())]
    return b"".join(literal(n, v) for n, v in fields + list(extra))


def headers_frame(sid, block, end_stream=True, end_headers=True):
    f = HeadersFrame(sid, data=block)
    if end_headers:
        f.flags.add("END_HEADERS")
    if end_stream:
        f.flags.add("END_STREAM")
    return f.serialize()


class Stream:
    def __init__(self):
        self.status = None
        self.fields = []
        self.body = bytearray()
        self.ended = False      # END_STREAM from weir
        self.rst = None         # RST_STREAM error code from weir

    def closed(self):
        return self.ended or self.rst is not None

    def outcome(self):
        if self.rst is not None:
            return "rst:0x%x" % self.rst
        if self.status is not None:
            return "status:%s" % self.status
        return "none"


class Conn:
    """One client connection: the preface and SETTINGS are sent at once,
    weir's SETTINGS acknowledged when they come."""

    def __init__(self, port, settings=None):
        self.t0 = time.monotonic()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buf = bytearray()
        self.dec = hpack.Decoder()
        self.streams = {}
        self.block = None       # (stream id, bytes so far) of an open header block
        self.goaway = None      # (error code, last stream id)
        self.closed = False     # EOF or reset from weir
        self.send_failed = False
        self.got_settings = False
        self.frames_in = 0
        self.sendall(PREFACE + SettingsFrame(0, settings=settings).serialize())

    def sendall(self, data):
        """Send DATA; False (and no exception) once weir stopped taking it."""
        if self.send_failed or self.closed:
            return False
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.send_failed = True
            return False

    def stream(self, sid):
        return self.streams.setdefault(sid, Stream())

    def pump(self, timeout):
        """Read and handle whatever arrives within TIMEOUT seconds (0: only
        what is there now). False once the connection is closed."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = max(0.0, deadline - time.monotonic())
            try:
                ready, _, _ = select.select([self.sock], [], [], left)
            except (OSError, ValueError):
                self.closed = True
                break
            if not ready:
                break
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                break
            self.buf += data
            self.parse()
        return not self.closed

    def wait(self, done, timeout=WAIT):
        """Pump until DONE() holds, the connection closes or TIMEOUT."""
        deadline = time.monotonic() + timeout
        while not done() and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.pump(min(left, 0.2))
        return done()

    def parse(self):
        while len(self.buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(bytes(self.buf[:9])))
            if len(self.buf) < 9 + length:
                return
            frame.parse_body(memoryview(bytes(self.buf[9:9 + length])))
            del self.buf[:9 + length]
            self.frames_in += 1
            self.handle(frame)

    def handle(self, f):
        if isinstance(f, SettingsFrame):
            if "ACK" not in f.flags:
                self.got_settings = True
                self.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(f, PingFrame):
            if "ACK" not in f.flags:
                self.sendall(PingFrame(0, opaque_data=f.opaque_data, flags=["ACK"]).serialize())
        elif isinstance(f, GoAwayFrame):
            self.goaway = (f.error_code, f.last_stream_id)
            self.goaway_at = time.monotonic()
        elif isinstance(f, RstStreamFrame):
            self.stream(f.stream_id).rst = f.error_code
        elif isinstance(f, HeadersFrame):
            self.block = (f.stream_id, bytearray(f.data))
            if "END_STREAM" in f.flags:
                self.stream(f.stream_id).ended = True
            if "END_HEADERS" in f.flags:
                self.end_block()
        elif isinstance(f, ContinuationFrame):
            if self.block and self.block[0] == f.stream_id:
                self.block[1].extend(f.data)
                if "END_HEADERS" in f.flags:
                    self.end_block()
        elif isinstance(f, DataFrame):
            st = self.stream(f.stream_id)
            st.body += f.data
            if "END_STREAM" in f.flags:
                st.ended = True

    def end_block(self):
        sid, block = self.block
        self.block = None
        st = self.stream(sid)
        fields = self.dec.decode(bytes(block), raw=True)
        st.fields += fields
        for name, value in fields:
            if name == b":status" and (st.status is None or st.status < 200):
                st.status = int(value)

    def handshake(self):
        return self.wait(lambda: self.got_settings)

    def goaway_text(self):
        return "none" if self.goaway is None else "0x%x" % self.goaway[0]

    def goaway_detail(self):
        """For a diagnosis: the GOAWAY's last stream and when it came."""
        if self.goaway is None:
            return ""
        return " (last stream %d, %.2f s after connecting)" % (self.goaway[1], self.goaway_at - self.t0)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def backend_name(st):
    try:
        return json.loads(bytes(st.body).decode()).get("name", "?")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return "?"


def cmd_refuse(port, case):
    method, extra, body = CASES[case]
    c = Conn(port)
    if not c.handshake():
        print("first=none next=none name=? goaway=%s handshake=failed" % c.goaway_text())
        return 0
    head = headers_frame(1, request_block(port, method, "/hostile/" + case, extra), end_stream=body is None)
    data = b"" if body is None else DataFrame(1, data=body, flags=["END_STREAM"]).serialize()
    if case in LATE:
        c.sendall(head)
        c.pump(0.3)
        c.sendall(data)
    else:
        c.sendall(head + data)
    bad = c.stream(1)
    c.wait(bad.closed)
    c.sendall(headers_frame(3, request_block(port, "GET", "/after/" + case,
                                             [(b"x-weir-pool", b"baseline")])))
    good = c.stream(3)
    c.wait(good.closed)
    # a GOAWAY may trail the answers: a short look
    c.pump(0.2)
    print("first=%s next=%s name=%s goaway=%s%s" % (bad.outcome(), good.outcome(), backend_name(good),
                                                  c.goaway_text(), c.goaway_detail()))
    c.close()
    return 0


def flood(port, n, batch, make):
    """Send N frames made by MAKE(i) in batches, reading between them; stop
    at a GOAWAY or when weir stops reading. Then wait for the GOAWAY and
    the close."""
    c = Conn(port)
    c.sent = 0
    c.shook = c.handshake()
    if not c.shook:
        return c
    sent = 0
    while sent < n and c.goaway is None and not c.closed:
        k = min(batch, n - sent)
        if not c.sendall(b"".join(make(sent + i) for i in range(k))):
            break
        sent += k
        c.pump(0)
    c.wait(lambda: c.goaway is not None)
    c.wait(lambda: False, timeout=WAIT if c.goaway is not None else 0)  # then EOF
    c.sent = sent
    return c


def report(c, extra=""):
    print("sent=%d goaway=%s closed=%s%s%s" % (c.sent, c.goaway_text(), "yes" if c.closed else "no", extra,
                                               "" if c.shook else " handshake=failed"))


def cmd_rapid_reset(port, n):
    block = request_block(port, "GET", "/rapid-reset")

    def pair(i):
        sid = 1 + 2 * i
        return headers_frame(sid, block) + RstStreamFrame(sid, error_code=CANCEL).serialize()
    c = flood(port, n, 20, pair)
    answered = sum(1 for st in c.streams.values() if st.status is not None)
    report(c, " answered=%d last_stream=%d" % (answered, c.goaway[1] if c.goaway else -1))
    c.close()
    return 0


def cmd_continuation(port, n):
    block = request_block(port, "GET", "/continuation")

    def frame(i):
        if i == 0:
            return headers_frame(1, block, end_stream=True, end_headers=False)
        f = ContinuationFrame(1, data=literal(b"x-c%d" % i, b"v" * 16))
        if i == n:
            f.flags.add("END_HEADERS")
        return f.serialize()
    c = flood(port, n + 1, 10, frame)
    st = c.streams.get(1)
    report(c, " stream1=%s" % (st.outcome() if st else "none"))
    c.close()
    return 0


def cmd_stall(port, n):
    c = Conn(port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    c.handshake()
    t0 = time.monotonic()
    c.sendall(headers_frame(1, request_block(port, "GET", "/bytes/%d" % n)))
    st = c.stream(1)
    c.wait(st.closed, timeout=30)
    print("first=%s status=%s data=%d seconds=%.1f" % ("rst:0x%x" % st.rst if st.rst is not None else
                                                       ("ended" if st.ended else "open"),
                                                       st.status, len(st.body), time.monotonic() - t0))
    c.close()
    return 0


def cmd_no_end(port, n):
    c = Conn(port)
    c.handshake()
    c.sendall(headers_frame(1, request_block(port, "POST", "/no-end", [(b"content-length", b"%d" % n)]),
                            end_stream=False))
    c.sendall(DataFrame(1, data=b"n" * n).serialize())
    st = c.stream(1)
    c.wait(lambda: st.ended or st.rst is not None, timeout=30)
    response = ("ended:%s" % st.status) if st.ended else st.outcome()
    t_end = time.monotonic()
    c.wait(lambda: st.rst is not None, timeout=30)
    after = time.monotonic() - t_end
    c.sendall(headers_frame(3, request_block(port, "GET", "/after-no-end")))
    nxt = c.stream(3)
    c.wait(nxt.closed)
    print("response=%s then=%s after=%.1f next=%s" % (response, st.outcome() if st.rst is not None else "open",
                                                       after, nxt.status))
    c.close()
    return 0


def cmd_early_refusal(port, n):
    c = Conn(port)
    c.handshake()
    fields = [(b"content-length", b"5")] + [(b"x-field-%d" % i, b"1") for i in range(n)]
    c.sendall(headers_frame(1, request_block(port, "POST", "/early-refusal", fields), end_stream=False))
    st = c.stream(1)
    c.wait(lambda: st.rst is not None, timeout=10)
    print("status=%s ended=%s rst=%s" % (st.status, "yes" if st.ended else "no",
                                         "none" if st.rst is None else "0x%x" % st.rst))
    c.close()
    return 0


def cmd_ping_flood(port, n):
    c = flood(port, n, 50, lambda i: PingFrame(0, opaque_data=b"%08d" % (i % 10 ** 8)).serialize())
    report(c)
    c.close()
    return 0


def cmd_settings_flood(port, n):
    c = flood(port, n, 50, lambda i: SettingsFrame(0, settings={SettingsFrame.ENABLE_PUSH: 0}).serialize())
    report(c)
    c.close()
    return 0


def main(argv):
    usage = ("usage: h2_client.py refuse PORT CASE | "
             "{rapid-reset,continuation,ping-flood,settings-flood,stall,no-end,early-refusal} PORT N")
    if len(argv) != 4:
        print(usage, file=sys.stderr)
        return 2
    cmd, port, arg = argv[1], int(argv[2]), argv[3]
    try:
        if cmd == "refuse":
            if arg not in CASES:
                print("unknown case %r (known: %s)" % (arg, " ".join(sorted(CASES))), file=sys.stderr)
                return 2
            return cmd_refuse(port, arg)
        handlers = {"rapid-reset": cmd_rapid_reset, "stall": cmd_stall, "continuation": cmd_continuation,
                    "ping-flood": cmd_ping_flood, "settings-flood": cmd_settings_flood, "no-end": cmd_no_end,
                    "early-refusal": cmd_early_refusal}
        if cmd not in handlers:
            print(usage, file=sys.stderr)
            return 2
        return handlers[cmd](port, int(arg))
    except (ConnectionRefusedError, socket.timeout) as e:
        print("h2_client.py: cannot talk to 127.0.0.1:%d: %s" % (port, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
