#!/usr/bin/env python3
"""A bare TLS-to-file sink: accepts TLS connections and appends every byte received to one file,
parsing nothing (one thread per connection, 64 KiB reads, one O_APPEND write per read).

Used by bench/run as the target of the fwd-tls scenario (the forwarders send LF-framed lines,
so the file's line count is the message count) and as the `bare-sink` reference row (loggen's
octet-counted frames each end in LF as well). Prints "PORT\\n" on stdout once listening.

  tls_sink.py --cert CERT --key KEY --out FILE [--port 0]
"""

import argparse
import os
import socket
import ssl
import sys
import threading


def serve(conn, fd):
    buf = bytearray(1 << 16)
    mv = memoryview(buf)
    try:
        conn.do_handshake()
        while True:
            n = conn.recv_into(buf)
            if not n:
                break
            os.write(fd, mv[:n])
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.options |= getattr(ssl, "OP_NO_TICKET", 0)
    fd = os.open(a.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(128)
    sys.stdout.write("%d\n" % ls.getsockname()[1])
    sys.stdout.flush()
    while True:
        c, _ = ls.accept()
        c = ctx.wrap_socket(c, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=serve, args=(c, fd), daemon=True).start()


if __name__ == "__main__":
    main()
