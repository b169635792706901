"""The harness itself: a test whose peer `make test` installs fails when the peer is missing
(conftest.py, @pytest.mark.peers), it is not skipped. Runs a throw-away test file in a pytest
of its own, with a PATH where the peer cannot be found."""

import os
import subprocess
import sys
from pathlib import Path

from tlslogd import T

HERE = Path(__file__).resolve().parent


def run_inner(tmp_path, body, path):
    test = tmp_path / "test_inner.py"
    test.write_text("import pytest\n\n" + body)
    env = dict(os.environ, PATH=path, PYTHONPATH=str(HERE))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "conftest",
                           "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir",
                           str(tmp_path), str(test)],
                          cwd=str(tmp_path), env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=T(60))


def test_missing_peer_fails_the_test(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    r = run_inner(tmp_path, '@pytest.mark.peers("openssl", "logger")\n'
                            'def test_needs_them():\n    pass\n', str(empty))
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 1, out
    # pytest.fail in setup: reported as an error, the run fails (exit status 1).
    assert "1 error" in out and "skipped" not in out, out
    assert ("missing: the openssl command (Debian package openssl); util-linux logger "
            "(Debian package bsdutils); `make test` installs them") in out, out


def test_present_peer_runs_the_test(tmp_path):
    r = run_inner(tmp_path, '@pytest.mark.peers("openssl")\n'
                            'def test_needs_it():\n    pass\n', os.environ["PATH"])
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0 and "1 passed" in out, out
