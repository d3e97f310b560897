#!/usr/bin/python3
"""Write the seed corpus of fuzz_h2session (tests/fuzz/corpus/fuzz_h2session).

HTTP/2 frames are binary, so the seeds are written by this script rather than
by hand: each is the harness's flag byte and chunk byte (see the top of
fuzz_h2session.c), then the frames a client sends after the preface. HPACK
blocks use static-table entries and literals without Huffman coding or
indexing, so every block decodes on its own.

    /usr/bin/python3 tests/fuzz/h2session_seeds.py tests/fuzz/corpus/fuzz_h2session
"""
import os
import struct
import sys

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = \
    0, 1, 2, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 1, 4, 1

# flag byte: bits 0-1 max_streams 1/4/100/1000, bit 2 max_memory 64 KiB,
# bit 3 the owner answers, bit 4 shutdown, bit 5 expire stalled streams
STREAMS_1, STREAMS_4, STREAMS_100 = 0, 1, 2
SMALL_MEMORY, ANSWER, SHUTDOWN, EXPIRE = 4, 8, 16, 32


def frame(ftype, flags, stream, payload=b''):
    return struct.pack('>I', len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack('>I', stream & 0x7fffffff) + payload


def integer(value, prefix=7):
    """An HPACK integer (RFC 7541 5.1) with no flag bits."""
    top = (1 << prefix) - 1
    if value < top:
        return bytes([value])
    out = [top]
    value -= top
    while value >= 128:
        out.append(value % 128 | 128)
        value //= 128
    return bytes(out + [value])


def literal(name, value):
    """A literal field never indexed, with a new name (RFC 7541 6.2.3)."""
    return b'\x10' + integer(len(name)) + name + integer(len(value)) + value


AUTHORITY = b'\x11' + integer(11) + b'example.com'  # never indexed, name :authority
GET = bytes([0x82, 0x87, 0x84]) + AUTHORITY        # GET https /
POST = bytes([0x83, 0x87, 0x84]) + AUTHORITY       # POST https /
START = frame(SETTINGS, 0, 0) + frame(SETTINGS, ACK, 0)


def seed(flags, chunk, frames):
    return bytes([flags, chunk]) + frames


def big(names):
    return b''.join(literal(b'x-big-%d' % i, b'v' * 3000) for i in names)


SEEDS = {
    'get': seed(STREAMS_100 | ANSWER, 0, START + frame(HEADERS, END_STREAM | END_HEADERS, 1, GET)),
    'get-open': seed(STREAMS_100, 0, START + frame(HEADERS, END_STREAM | END_HEADERS, 1, GET) +
                     frame(HEADERS, END_STREAM | END_HEADERS, 3, GET)),
    'post-length': seed(STREAMS_100 | ANSWER, 7, START +
                        frame(HEADERS, END_HEADERS, 1, POST + literal(b'content-length', b'5')) +
                        frame(DATA, END_STREAM, 1, b'hello')),
    'post-short': seed(STREAMS_100 | ANSWER, 0, START +
                       frame(HEADERS, END_HEADERS, 1, POST + literal(b'content-length', b'9')) +
                       frame(DATA, END_STREAM, 1, b'hello')),
    'post-trailers': seed(STREAMS_100 | ANSWER, 0, START +
                          frame(HEADERS, END_HEADERS, 1, POST + literal(b'te', b'trailers')) +
                          frame(DATA, 0, 1, b'abc') +
                          frame(HEADERS, END_STREAM | END_HEADERS, 1,
                                literal(b'x-sum', b'1') + literal(b'content-length', b'3'))),
    'rapid-reset': seed(STREAMS_4, 0, START + b''.join(
        frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, GET) +
        frame(RST_STREAM, 0, 2 * i + 1, struct.pack('>I', 8)) for i in range(60))),
    'continuation': seed(STREAMS_100 | ANSWER, 0, START + frame(HEADERS, END_STREAM, 1, GET) + b''.join(
        frame(CONTINUATION, 0, 1, literal(b'x-a', b'a' * 40)) for _ in range(12))),
    'continuation-ok': seed(STREAMS_100 | ANSWER, 0, START + frame(HEADERS, END_STREAM, 1, GET) +
                            frame(CONTINUATION, 0, 1, literal(b'x-a', b'1')) +
                            frame(CONTINUATION, END_HEADERS, 1, literal(b'x-b', b'2'))),
    'ping-flood': seed(STREAMS_100 | ANSWER, 0, START + frame(PING, 0, 0, b'12345678') * 150),
    'settings-flood': seed(STREAMS_100 | ANSWER, 0, START +
                           frame(SETTINGS, 0, 0, struct.pack('>HI', 4, 1000)) * 150),
    'bad-fields': seed(STREAMS_100 | ANSWER, 0, START +
                       frame(HEADERS, END_STREAM | END_HEADERS, 1, GET + literal(b'connection', b'close')) +
                       frame(HEADERS, END_STREAM | END_HEADERS, 3, GET + literal(b'x-a', b'1\r\nx: 2')) +
                       frame(HEADERS, END_STREAM | END_HEADERS, 5, GET + literal(b'host', b'other.example')) +
                       frame(HEADERS, END_STREAM | END_HEADERS, 7, GET)),
    'window-stall': seed(STREAMS_100 | ANSWER | EXPIRE, 0,
                         frame(SETTINGS, 0, 0, struct.pack('>HI', 4, 0)) + frame(SETTINGS, ACK, 0) +
                         frame(HEADERS, END_STREAM | END_HEADERS, 1, GET) +
                         frame(WINDOW_UPDATE, 0, 0, struct.pack('>I', 1)) +
                         frame(WINDOW_UPDATE, 0, 1, struct.pack('>I', 3))),
    'too-many-streams': seed(STREAMS_4, 0, START + b''.join(
        frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, GET) for i in range(8))),
    'priority-goaway': seed(STREAMS_100 | ANSWER, 0, START +
                            frame(HEADERS, END_STREAM | END_HEADERS, 1, GET) +
                            frame(PRIORITY, 0, 3, struct.pack('>IB', 1, 16)) +
                            frame(GOAWAY, 0, 0, struct.pack('>II', 0, 0))),
    'small-memory': seed(STREAMS_100 | SMALL_MEMORY | ANSWER | SHUTDOWN, 0, START + b''.join(
        frame(HEADERS, END_HEADERS, 2 * i + 1, POST + literal(b'x-big', b'v' * 1000)) for i in range(40))),
    'large-fields': seed(STREAMS_100 | ANSWER, 0, START +
                         frame(HEADERS, END_STREAM, 1, GET + big(range(4))) +
                         frame(CONTINUATION, END_HEADERS, 1, big(range(4, 7))) +
                         frame(HEADERS, END_STREAM | END_HEADERS, 3, GET + big(range(4))) +
                         frame(HEADERS, END_STREAM | END_HEADERS, 5,
                               GET + b'\x10' + integer(3) + b'x-a' + integer(20000) + b'v' * 16000)),
    'connect': seed(STREAMS_100 | ANSWER, 0, START + frame(HEADERS, END_STREAM | END_HEADERS, 1,
                                                           b'\x02' + integer(7) + b'CONNECT' + AUTHORITY)),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else 'tests/fuzz/corpus/fuzz_h2session'
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
