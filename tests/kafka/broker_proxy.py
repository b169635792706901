#!/usr/bin/python3
"""A TLS and SASL front for librdkafka's mock cluster, which speaks plaintext only: the e2e
tests of the kafka output's tls: and sasl: keys (tests/e2e/peers/kafka.py, BrokerProxy).

    broker_proxy.py --netns PID --map PORT=HOST:PORT ... [--cert C --key K [--ca CA]]
                    [--user NAME:PASSWORD ...] [--mechanisms PLAIN,SCRAM-SHA-512] --ready FILE

Each --map listens on 127.0.0.1:PORT and relays to HOST:PORT. The mock tells its clients to
reach broker i at 127.0.0.1:PORT_i (its own ports), so the proxy's listening sockets live in
the network namespace of process PID (the tlslogd under test, started in a namespace of its
own) on those very ports, while it connects to the mock from its own namespace: the client
sees a cluster that speaks TLS (and SASL) on the addresses the mock advertises.

With --cert and --key the client side is TLS (the server side of the handshake is Python's ssl,
that is OpenSSL); with --ca too, clients must present a certificate that CA signed. With
--user, every connection must authenticate with SASL first, as a Kafka broker does: the proxy
adds SaslHandshake (ApiKey 17) and SaslAuthenticate (ApiKey 36) to the mock's ApiVersions
answer, answers those two requests itself (PLAIN, or SCRAM-SHA-256/512 as in RFC 5802 and RFC
7677), and relays bytes untouched once the client proved who it is. A wrong
password gets SASL_AUTHENTICATION_FAILED (58) and the connection is closed, as Kafka does.

The ready FILE is written once every port listens. It exits on SIGTERM or at EOF on stdin.
Needs root (setns). Loopback only.
"""

import argparse
import base64
import ctypes
import hashlib
import hmac
import os
import select
import signal
import socket
import ssl
import struct
import sys
import threading

CLONE_NEWNET = 0x40000000
API_SASL_HANDSHAKE = 17
API_SASL_AUTHENTICATE = 36
API_VERSIONS = 18
ERR_UNSUPPORTED_SASL_MECHANISM = 33
ERR_ILLEGAL_SASL_STATE = 34
ERR_SASL_AUTHENTICATION_FAILED = 58
SCRAM_ITERATIONS = 4096

_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


# ---- Kafka framing ---------------------------------------------------------------------------

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_frame(s):
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    if size < 0 or size > 100 << 20:
        raise EOFError
    return recv_exact(s, size)


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def uvarint(b, off):
    v, shift = 0, 0
    while True:
        c = b[off]
        off += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, off
        shift += 7


def put_uvarint(v):
    out = b""
    while True:
        c = v & 0x7F
        v >>= 7
        out += bytes([c | (0x80 if v else 0)])
        if not v:
            return out


def request_header(req):
    """(api_key, api_version, correlation_id, offset of the body) of a request; ApiVersions v3+
    and the other flexible versions carry a tagged-field section after the client id."""
    key, ver, corr = struct.unpack_from(">hhi", req, 0)
    (n,) = struct.unpack_from(">h", req, 8)
    off = 10 + max(n, 0)
    if key == API_VERSIONS and ver >= 3:
        ntags, off = uvarint(req, off)
        for _ in range(ntags):
            _, off = uvarint(req, off)
            size, off = uvarint(req, off)
            off += size
    return key, ver, corr, off


def add_sasl_apis(resp, ver):
    """The mock's ApiVersions response body with SaslHandshake 0..1 and SaslAuthenticate 0..1
    added (replacing any it listed)."""
    (err,) = struct.unpack_from(">h", resp, 4)
    off = 6
    entries = []
    if ver >= 3:
        n, off = uvarint(resp, off)
        n -= 1
    else:
        (n,) = struct.unpack_from(">i", resp, off)
        off += 4
    for _ in range(max(n, 0)):
        start = off
        key = struct.unpack_from(">h", resp, off)[0]
        off += 6
        if ver >= 3:
            ntags, off = uvarint(resp, off)
            for _ in range(ntags):
                _, off = uvarint(resp, off)
                size, off = uvarint(resp, off)
                off += size
        if key not in (API_SASL_HANDSHAKE, API_SASL_AUTHENTICATE):
            entries.append(resp[start:off])
    tail = resp[off:]
    tag = b"\x00" if ver >= 3 else b""
    for key in (API_SASL_HANDSHAKE, API_SASL_AUTHENTICATE):
        entries.append(struct.pack(">hhh", key, 0, 1) + tag)
    count = put_uvarint(len(entries) + 1) if ver >= 3 else struct.pack(">i", len(entries))
    return resp[:4] + struct.pack(">h", err) + count + b"".join(entries) + tail


# ---- SASL ------------------------------------------------------------------------------------

class Scram:
    """The server side of SCRAM-SHA-256/512 (RFC 5802, RFC 7677), one exchange."""

    def __init__(self, users, hash_name):
        self.users = users
        self.h = hash_name
        self.state = "first"

    def _hmac(self, key, msg):
        return hmac.new(key, msg, self.h).digest()

    def step(self, data):
        """(error or None, reply bytes, done)."""
        text = data.decode()
        if self.state == "first":
            if not text.startswith("n,,"):
                return "bad client-first message", b"", True
            self.client_first_bare = text[3:]
            attrs = dict(a.split("=", 1) for a in self.client_first_bare.split(","))
            self.user = attrs.get("n", "")
            if self.user not in self.users:
                return "unknown user", b"", True
            self.nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
            self.salt = os.urandom(16)
            self.server_first = "r=%s,s=%s,i=%d" % (self.nonce, base64.b64encode(
                self.salt).decode(), SCRAM_ITERATIONS)
            self.state = "final"
            return None, self.server_first.encode(), False
        attrs = dict(a.split("=", 1) for a in text.split(","))
        without_proof = text[:text.rindex(",p=")]
        # librdkafka sends its own nonce again before the server's (which starts with it);
        # Kafka's broker accepts that (the nonce ends with the server's): so do we.
        if not attrs.get("r", "").endswith(self.nonce):
            return "nonce mismatch", b"", True
        salted = hashlib.pbkdf2_hmac(self.h, self.users[self.user].encode(), self.salt,
                                     SCRAM_ITERATIONS)
        auth = ",".join((self.client_first_bare, self.server_first, without_proof)).encode()
        client_key = self._hmac(salted, b"Client Key")
        stored = hashlib.new(self.h, client_key).digest()
        sig = self._hmac(stored, auth)
        proof = base64.b64decode(attrs.get("p", ""))
        if len(proof) != len(sig) or hashlib.new(
                self.h, bytes(a ^ b for a, b in zip(proof, sig))).digest() != stored:
            return "Authentication failed: Invalid username or password", b"", True
        server_sig = self._hmac(self._hmac(salted, b"Server Key"), auth)
        return None, b"v=" + base64.b64encode(server_sig), True


def sasl_reply(corr, ver, error, message, auth):
    body = struct.pack(">h", error)
    body += kstr(message) if message is not None else struct.pack(">h", -1)
    body += struct.pack(">i", len(auth)) + auth
    if ver >= 1:
        body += struct.pack(">q", 0)
    return frame(struct.pack(">i", corr) + body)


def authenticate(client, broker, users, mechanisms):
    """Runs the client's requests up to a successful SASL exchange; False when it failed (the
    client was told). ApiVersions goes to the mock, with the SASL APIs added."""
    mech = None
    scram = None
    while True:
        req = read_frame(client)
        key, ver, corr, off = request_header(req)
        if key == API_VERSIONS:
            broker.sendall(frame(req))
            resp = read_frame(broker)
            client.sendall(frame(add_sasl_apis(resp, ver)))
        elif key == API_SASL_HANDSHAKE:
            (n,) = struct.unpack_from(">h", req, off)
            mech = req[off + 2:off + 2 + n].decode()
            err = 0 if mech in mechanisms else ERR_UNSUPPORTED_SASL_MECHANISM
            body = struct.pack(">hi", err, len(mechanisms)) + b"".join(kstr(m) for m in mechanisms)
            client.sendall(frame(struct.pack(">i", corr) + body))
            if err:
                return False
            if mech.startswith("SCRAM-"):
                scram = Scram(users, "sha256" if mech == "SCRAM-SHA-256" else "sha512")
        elif key == API_SASL_AUTHENTICATE and mech:
            (n,) = struct.unpack_from(">i", req, off)
            data = req[off + 4:off + 4 + n]
            if scram:
                error, auth, done = scram.step(data)
            else:
                parts = data.split(b"\0")
                ok = len(parts) == 3 and users.get(parts[1].decode()) == parts[2].decode()
                error = None if ok else "Authentication failed: Invalid username or password"
                auth, done = b"", True
            client.sendall(sasl_reply(corr, ver, ERR_SASL_AUTHENTICATION_FAILED if error else 0,
                                      error, auth))
            if error:
                return False
            if done:
                return True
        else:
            client.sendall(frame(struct.pack(">i", corr) + struct.pack(">h",
                                                                       ERR_ILLEGAL_SASL_STATE)))
            return False


# ---- relaying --------------------------------------------------------------------------------

def relay(client, broker):
    """Both directions, one thread (an SSL object must not be used by two threads at once)."""
    socks = [client, broker]
    while True:
        ready = []
        if isinstance(client, ssl.SSLSocket) and client.pending():
            ready = [client]
        else:
            ready, _, _ = select.select(socks, [], [], 1.0)
        for s in ready:
            other = broker if s is client else client
            data = s.recv(65536)
            if not data:
                return
            other.sendall(data)


def serve(conn, target, tls_ctx, users, mechanisms, log):
    broker = None
    try:
        if tls_ctx is not None:
            conn = tls_ctx.wrap_socket(conn, server_side=True)
        broker = socket.create_connection(target, timeout=10)
        broker.settimeout(None)
        if users and not authenticate(conn, broker, users, mechanisms):
            log("sasl: authentication failed on a connection to %s:%d" % target)
            return
        relay(conn, broker)
    except (OSError, EOFError, ssl.SSLError, ValueError, struct.error) as e:
        log("connection to %s:%d: %s" % (target + (e,)))
    finally:
        for s in (conn, broker):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--netns", type=int, help="listen in the network namespace of this PID")
    ap.add_argument("--map", action="append", required=True, help="PORT=HOST:PORT")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ca", help="require a client certificate signed by this CA")
    ap.add_argument("--user", action="append", default=[], help="NAME:PASSWORD")
    ap.add_argument("--mechanisms", default="PLAIN,SCRAM-SHA-256,SCRAM-SHA-512")
    ap.add_argument("--ready", required=True)
    a = ap.parse_args()

    def log(msg):
        sys.stderr.write("broker_proxy: %s\n" % msg)
        sys.stderr.flush()

    tls_ctx = None
    if a.cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(a.cert, a.key)
        if a.ca:
            tls_ctx.verify_mode = ssl.CERT_REQUIRED
            tls_ctx.load_verify_locations(a.ca)
    users = dict(u.split(":", 1) for u in a.user)
    mechanisms = a.mechanisms.split(",")

    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    listeners = {}
    if a.netns:
        target_ns = os.open("/proc/%d/ns/net" % a.netns, os.O_RDONLY)
        setns(target_ns)
    try:
        for m in a.map:
            port, target = m.split("=", 1)
            host, tport = target.rsplit(":", 1)
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", int(port)))
            ls.listen(64)
            listeners[ls] = (host, int(tport))
    finally:
        if a.netns:
            setns(own)  # the connections to the mock are made from here
    tmp = a.ready + ".tmp"
    with open(tmp, "w") as f:
        f.write("ready\n")
    os.rename(tmp, a.ready)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        ready, _, _ = select.select(list(listeners) + [sys.stdin], [], [], 0.5)
        for s in ready:
            if s is sys.stdin:
                if not os.read(sys.stdin.fileno(), 4096):
                    stop.set()
                continue
            conn, _ = s.accept()
            threading.Thread(target=serve, args=(conn, listeners[s], tls_ctx, users,
                                                 mechanisms, log), daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
