"""openssl s_server as a TLS syslog sink and s_client as a one-shot TLS sender.

    srv = SServer(workdir, cert=s.cert, key=s.key, ca=pki.ca.cert, require_cert=True,
                  naccept=1, tls="1.3").start()          # stdout (received bytes) -> srv.out_path
    srv.data(); srv.wait_data(b"...", timeout); srv.stop()
    r = s_client(port, octet_frame("<13>1 - - - - - - hello"), ca=pki.ca.cert, cert=c.cert,
                 key=c.key, servername="server.test", tls="1.2")  # -> SClientResult(.rc .ok ...)

s_client runs with -quiet -no_ign_eof: it sends stdin, then at EOF sends close_notify and exits.
"""

import subprocess
from pathlib import Path

from .ports import free_port, wait_listening
from .procs import Proc, T, wait_for

OPENSSL = "openssl"
_TLS = {"1": "-tls1", "1.0": "-tls1", "1.1": "-tls1_1", "1.2": "-tls1_2", "1.3": "-tls1_3"}


def _tls_args(tls):
    if tls is None:
        return []
    if tls not in _TLS:
        raise ValueError("tls must be one of %s" % sorted(_TLS))
    return [_TLS[tls]]


class SServer:
    """openssl s_server -quiet on 127.0.0.1:port: what clients send is written raw to out_path;
    diagnostics go to log_path. require_cert=True -> -Verify (client certificate mandatory),
    verify=N -> -verify N (asked, optional). Stopped by PID."""

    def __init__(self, workdir, cert, key, port=None, ca=None, chain=None, require_cert=False,
                 verify=None, naccept=None, tls=None, address="127.0.0.1", crl=None, extra=(),
                 name="s_server"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = port or free_port(address)
        self.out_path = self.dir / (name + ".out")
        self.log_path = self.dir / (name + ".log")
        host = "[%s]" % address if ":" in address else address
        argv = [OPENSSL, "s_server", "-quiet", "-accept", "%s:%d" % (host, self.port),
                "-cert", cert, "-key", key]
        if chain:
            argv += ["-cert_chain", chain]
        if ca:
            argv += ["-CAfile", ca]
        if require_cert:
            argv += ["-Verify", str(require_cert if isinstance(require_cert, int)
                                    and not isinstance(require_cert, bool) else 5),
                     "-verify_return_error"]
        elif verify is not None:
            argv += ["-verify", str(verify)]
        if crl:
            argv += ["-CRL", crl, "-crl_check"]
        if naccept:
            argv += ["-naccept", str(naccept)]
        argv += _tls_args(tls) + list(extra)
        self.argv = [str(a) for a in argv]
        self.proc = None

    def start(self, timeout=None):
        # stdin must stay open: at stdin EOF s_server stops writing what it receives
        self.proc = Proc(self.argv, self.log_path, stdout_path=self.out_path, name=self.name,
                         hold_stdin=True).start()
        wait_listening(self.port, timeout or T(10), proc=self.proc)
        return self

    def data(self):
        try:
            return self.out_path.read_bytes()
        except FileNotFoundError:
            return b""

    def wait_data(self, pred, timeout=None):
        """pred: bytes that must appear in the output, or a callable(data) -> bool."""
        check = pred if callable(pred) else (lambda d: pred in d)
        return wait_for(lambda: check(self.data()) and self.data(), timeout or T(10),
                        "s_server output (%d bytes so far)" % len(self.data()))

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def log(self):
        return self.proc.log() if self.proc else ""

    def stop(self, timeout=None):
        return self.proc.stop(timeout) if self.proc else None

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class SClientResult:
    def __init__(self, argv, rc, stdout, stderr):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr

    @property
    def ok(self):
        return self.rc == 0

    def __repr__(self):
        return "<SClientResult rc=%s stderr=%r>" % (self.rc, self.stderr[-300:])


def s_client_argv(port, host="127.0.0.1", ca=None, cert=None, key=None, servername=None,
                  tls=None, verify_return_error=True, verify_hostname=None, extra=(),
                  cert_chain=None):
    h = "[%s]" % host if ":" in host else host
    argv = [OPENSSL, "s_client", "-quiet", "-no_ign_eof", "-connect", "%s:%d" % (h, port)]
    if ca:
        argv += ["-CAfile", ca]
    if cert:
        argv += ["-cert", cert]
    if key:
        argv += ["-key", key]
    if cert_chain:  # -cert reads only the first certificate of a file
        argv += ["-cert_chain", cert_chain]
    if servername:
        argv += ["-servername", servername]
    else:
        argv += ["-noservername"]
    if verify_hostname:
        argv += ["-verify_hostname", verify_hostname]
    if verify_return_error:
        argv += ["-verify_return_error"]
    return [str(a) for a in argv + _tls_args(tls) + list(extra)]


def s_client(port, data=b"", host="127.0.0.1", ca=None, cert=None, key=None, servername=None,
             tls=None, verify_return_error=True, verify_hostname=None, extra=(), timeout=None,
             cert_chain=None):
    """Connects, sends data, closes cleanly (close_notify at stdin EOF). Bounded. Returns
    SClientResult (rc 0 = handshake done and data sent). cert_chain: intermediates to send
    (e.g. leaf.chain). servername=None sends no SNI.
    Under TLS 1.3 a server that rejects the client certificate does so after the client's
    handshake completed: rc is 0 and the data is lost -- judge by the receiving end, or use
    tls="1.2" where the rejection fails the handshake (rc 1)."""
    argv = s_client_argv(port, host, ca, cert, key, servername, tls, verify_return_error,
                         verify_hostname, extra, cert_chain)
    if isinstance(data, str):
        data = data.encode()
    try:
        r = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout or T(15))
        return SClientResult(argv, r.returncode, r.stdout, r.stderr.decode(errors="replace"))
    except subprocess.TimeoutExpired as e:
        return SClientResult(argv, None, e.stdout or b"", "TIMEOUT\n" + (e.stderr or b"").decode(
            errors="replace"))
