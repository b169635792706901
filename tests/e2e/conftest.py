"""Fixtures for the tlslogd end-to-end tests.

Run: TLSLOGD_BUILD=<build dir> TLSLOGD_SRC=<source root> /usr/bin/python3 -m pytest -q tests/e2e
"""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tlslogd  # noqa: E402
from tlslogd import Daemon  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "peers(*names): real peers the test needs; it fails "
                            "when one is missing (see pytest_runtest_setup)")
    config.addinivalue_line("markers", "serial: timing-sensitive or CPU-heavy; tests/e2e/run-suite "
                            "runs these alone, after the parallel ones")
    if not tlslogd.BUILD:
        raise pytest.UsageError("set TLSLOGD_BUILD to the build directory (binary at $TLSLOGD_BUILD/tlslogd)")
    if not os.access(tlslogd.BINARY, os.X_OK):
        raise pytest.UsageError("tlslogd binary not found at %s" % tlslogd.BINARY)


@pytest.fixture
def daemon(tmp_path):
    """Factory: daemon(conf_dict_or_text, name=..., **Daemon kwargs) -> started Daemon.
    Teardown stops every daemon it started (by PID), and fails the test if one exited
    non-zero or printed a sanitizer report."""
    started = []

    def make(conf, name=None, start=True, **kw):
        name = name or "tlslogd%d" % len(started)
        d = Daemon(tmp_path / name, conf, name=name, **kw)
        started.append(d)
        if start:
            d.start()
        return d

    yield make
    problems = []
    for d in started:
        try:
            if d.alive():
                rc = d.stop()
            else:
                d.kill()
                rc = d.proc.returncode if d.proc is not None else 0
        except AssertionError as e:
            problems.append(str(e))
            continue
        finally:
            d.kill()
        if d.proc is None:
            continue
        if rc != 0 and not getattr(d, "nonzero_exit_ok", False):
            problems.append("%s exited with %s; log:\n%s" % (d.name, rc, d.log_tail()))
        rep = d.sanitizer_reports()
        if rep:
            problems.append("%s: sanitizer report %s; log:\n%s" % (d.name, rep, d.log_tail(120)))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


# ---------------------------------------------------------------------------------------------
# Peers that `make test` installs (scripts/install-deps, scripts/install-peers). A test marked
# @pytest.mark.peers("rsyslog", ...) FAILS when one is missing: a run that tested nothing of
# rsyslog must not look green. Skips stay for what a machine may lack legitimately (no IPv6
# loopback, not root), each with its reason.

def _which(name):
    return lambda: shutil.which(name) is not None


def _peer_table():
    from peers import kafka, rsyslog, syslogng
    return {
        "kafka-mock": (kafka.available, "the Kafka mock cluster helper (build/tests/mock_cluster, "
                       "built with librdkafka-dev)"),
        "confluent-kafka": (kafka.confluent_available,
                            "python3-confluent-kafka (Debian package python3-confluent-kafka)"),
        "kcat": (kafka.kcat_available, "kcat (Debian package kcat)"),
        "rsyslog": (rsyslog.available, "rsyslogd with its TLS modules in .deps/rsyslog"),
        "rsyslog-relp": (rsyslog.relp_available, "rsyslog's RELP modules in .deps/rsyslog"),
        "rsyslog-kafka": (rsyslog.kafka_available,
                          "rsyslog's omkafka in .deps/rsyslog (Debian package rsyslog-kafka)"),
        "syslog-ng-kafka": (syslogng.kafka_available,
                            "syslog-ng's kafka-c() (Debian package syslog-ng-mod-rdkafka)"),
        "syslog-ng": (syslogng.available, "syslog-ng (Debian package syslog-ng-core)"),
        "loggen": (_which("loggen"), "loggen (Debian package syslog-ng-core)"),
        "openssl": (_which("openssl"), "the openssl command (Debian package openssl)"),
        "logger": (_which("logger"), "util-linux logger (Debian package bsdutils)"),
        "tshark": (_which("tshark"), "tshark (Debian package tshark)"),
        "groff": (_which("groff"), "groff (Debian package groff-base)"),
        "logrotate": (_which("logrotate"), "logrotate (Debian package logrotate)"),
        "prometheus": (lambda: shutil.which("prometheus") is not None and
                       shutil.which("promtool") is not None,
                       "prometheus and promtool (Debian package prometheus)"),
        "journal-remote": (lambda: os.access("/lib/systemd/systemd-journal-remote", os.X_OK),
                           "systemd-journal-remote (Debian package systemd-journal-remote)"),
    }


def pytest_runtest_setup(item):
    table = None
    for mark in item.iter_markers("peers"):
        table = table or _peer_table()
        missing = []
        for name in mark.args:
            assert name in table, "unknown peer %r in @pytest.mark.peers" % name
            if not table[name][0]():
                missing.append(table[name][1])
        if missing:
            pytest.fail("missing: %s; `make test` installs them (scripts/install-deps, "
                        "scripts/install-peers): run that, or install them by hand"
                        % "; ".join(missing), pytrace=False)
