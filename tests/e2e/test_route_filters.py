"""Filters on routes (`where:`): a mixed stream from rsyslog (omfwd over TLS) and util-linux
logger (a unix input) split into auth, web and rest files, checked line by line: each message
in every file whose route selects it, once, in the order it was sent, and nowhere else."""

import pytest

from peers import rsyslog as rs
from tlsconf import group, json_file, pki, server_tls, tls_input, wait_json  # noqa: F401
from tlslogd import config, poll, read_json_lines, unix_input, T
import sender

pytestmark = pytest.mark.peers("rsyslog", "logger")

FACILITY = {"user": 1, "mail": 2, "daemon": 3, "auth": 4, "authpriv": 10, "local7": 23}
SEVERITY = {"err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}

# (facility, severity, program, text)
KINDS = [
    ("auth", "warning", "sshd", "Failed password for root"),
    ("authpriv", "info", "sudo", "session opened for user root"),
    ("local7", "err", "nginx", "upstream timed out while reading"),
    ("local7", "info", "php-fpm7.4", "pool www ready"),
    ("local7", "debug", "php-fpm7.4", "debug noise nobody keeps"),
    ("user", "notice", "backup", "backup done"),
    ("daemon", "err", "systemd", "unit failed"),
    ("authpriv", "err", "nginx", "auth backend down"),
    ("mail", "warning", "postfix", "deferred"),
    ("user", "info", "app", "request timed out"),
]
NOT_AUTH = [n for n in range(24) if n not in (4, 10)]
WEB = ["nginx", "php-fpm*"]

ROUTES = [
    {"from": ["net", "local"], "to": "auth", "where": {"facility": ["auth", "authpriv"]}},
    {"from": ["net", "local"], "to": "web",
     "where": {"program": WEB, "not": {"severity": ["debug"]}}},
    # a second route to web, from the network only: either matching is enough, once
    {"from": "net", "to": "web", "where": {"message": "(?i)TIMED OUT"}},
    {"from": ["net", "local"], "to": "rest",
     "where": {"facility": NOT_AUTH, "not": {"program": WEB}}},
]


def expected(src, out):
    """The indexes of KINDS that src's input sends to output out, by the routes above."""
    got = []
    for i, (fac, sev, prog, text) in enumerate(KINDS):
        web_prog = prog == "nginx" or prog.startswith("php-fpm")
        ok = {
            "auth": fac in ("auth", "authpriv"),
            "web": (web_prog and sev != "debug") or (src == "net" and "timed out" in text),
            "rest": FACILITY[fac] in NOT_AUTH and not web_prog,
        }[out]
        if ok:
            got.append(i)
    return got


def test_where_splits_mixed_stream(daemon, tmp_path, pki, group):
    files = {o: tmp_path / ("%s.json" % o) for o in ("auth", "web", "rest")}
    sock = tmp_path / "local.sock"
    d = daemon(config([tls_input("net", framing="octet-counted", tls=server_tls(pki, auth="anon")),
                       unix_input("local", sock)],
                      [json_file(o, p) for o, p in files.items()], routes=ROUTES))
    r = rs.Rsyslog(tmp_path / "rs", "rs")
    tx = r.tls_sender(d.port("net"), driver="ossl", authmode="anon", ca=pki.ca.cert)
    group.add(r).start()
    rounds = 3
    for rnd in range(rounds):
        for i, (fac, sev, prog, text) in enumerate(KINDS):
            tx.feed.tag, tx.feed.pri = prog, FACILITY[fac] * 8 + SEVERITY[sev]
            tx.feed.send(["net-%d-%d %s" % (rnd, i, text)])
            sender.logger_unix(sock, "-t", prog, "-p", "%s.%s" % (fac, sev),
                               "local-%d-%d %s" % (rnd, i, text))
    want = {o: {src: [(rnd, i) for rnd in range(rounds) for i in expected(src, o)]
                for src in ("net", "local")} for o in files}
    for o, p in files.items():
        n = sum(len(v) for v in want[o].values())
        poll(lambda: p.exists() and len(read_json_lines(p)) >= n, T(20),
             "%d lines in %s" % (n, p.name))
    # Whatever would arrive late (a message routed nowhere must stay nowhere): rsyslog has
    # sent everything once its queue is empty, so stop it first, then the daemon.
    r.stop()
    assert d.stop() == 0
    for o, p in files.items():
        recs = read_json_lines(p)
        for src in ("net", "local"):
            mine = [j for j in recs if j["msg"].startswith(src + "-")]
            got = [tuple(int(x) for x in j["msg"].split(" ")[0].split("-")[1:]) for j in mine]
            assert got == want[o][src], (o, src, got, want[o][src])
            for j in mine:
                fac, sev, prog, text = KINDS[int(j["msg"].split(" ")[0].split("-")[2])]
                assert j["app_name"] == prog and j["msg"].endswith(text), j
        assert len(recs) == sum(len(v) for v in want[o].values()), (o, recs)
