#!/usr/bin/python3
"""A gRPC server and client for weir's integration tests, without generated
code: methods take and return raw bytes.

  grpc_peer.py serve PORT NAME      serve /weir.Test/Unary and /weir.Test/Stream
                                    on 127.0.0.1:PORT (h2c); a request whose
                                    bytes are b"fail" is answered UNAVAILABLE
                                    (14); the file NAME.fail, while it exists,
                                    makes every call fail so; a request
                                    of b"deadline" is answered with the
                                    seconds left of the call's deadline
                                    (grpc-timeout), or "none".
  grpc_peer.py unary ADDR N [PAYLOAD]    N unary calls; prints "ok=.. failed=.. by=<name>:<count>,..."
  grpc_peer.py deadline ADDR SECONDS   one unary call with that deadline;
                                   prints "deadline=<seconds the server saw left>"
  grpc_peer.py stream ADDR COUNT   one server-streaming call of COUNT messages;
                                   prints the count received and the status
"""
import os
import sys
import time
from concurrent import futures

import grpc


def serve(port, name):
    def failing(request):
        return request == b"fail" or os.path.exists(name + ".fail")

    def unary(request, context):
        if failing(request):
            context.abort(grpc.StatusCode.UNAVAILABLE, "told to fail")
        context.set_trailing_metadata((("x-server", name),))
        if request == b"deadline":
            left = context.time_remaining()
            return name.encode() + b":" + (b"none" if left is None else b"%.2f" % left)
        return name.encode() + b":" + request

    def stream(request, context):
        count = int(request or b"1")
        for i in range(count):
            yield b"%s:%d" % (name.encode(), i)
        if os.path.exists(name + ".fail"):
            context.abort(grpc.StatusCode.UNAVAILABLE, "told to fail")

    handler = grpc.method_handlers_generic_handler("weir.Test", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("serving", port, flush=True)
    server.wait_for_termination()


def unary_calls(addr, n, payload):
    ok = failed = 0
    by = {}
    codes = {}
    with grpc.insecure_channel(addr) as ch:
        call = ch.unary_unary("/weir.Test/Unary")
        for _ in range(n):
            try:
                reply, c = call.with_call(payload, timeout=10)
                ok += 1
                who = reply.split(b":", 1)[0].decode()
                by[who] = by.get(who, 0) + 1
            except grpc.RpcError as e:
                failed += 1
                codes[e.code().name] = codes.get(e.code().name, 0) + 1
    print("ok=%d failed=%d by=%s codes=%s" % (ok, failed,
          ",".join("%s:%d" % kv for kv in sorted(by.items())),
          ",".join("%s:%d" % kv for kv in sorted(codes.items()))))


def deadline_call(addr, seconds):
    with grpc.insecure_channel(addr) as ch:
        reply = ch.unary_unary("/weir.Test/Unary")(b"deadline", timeout=seconds)
    print("deadline=%s" % reply.split(b":", 1)[1].decode())


def stream_call(addr, count):
    got = 0
    status = "OK"
    with grpc.insecure_channel(addr) as ch:
        call = ch.unary_stream("/weir.Test/Stream")
        try:
            for _ in call(str(count).encode(), timeout=30):
                got += 1
        except grpc.RpcError as e:
            status = e.code().name
    print("received=%d status=%s" % (got, status))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "unary":
        unary_calls(sys.argv[2], int(sys.argv[3]), (sys.argv[4] if len(sys.argv) > 4 else "hi").encode())
    elif sys.argv[1] == "deadline":
        deadline_call(sys.argv[2], float(sys.argv[3]))
    elif sys.argv[1] == "stream":
        stream_call(sys.argv[2], int(sys.argv[3]))
