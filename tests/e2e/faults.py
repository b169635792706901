"""Fault injection for the end-to-end tests (see /work/shared/notes/faults-and-new-peers.md):
a small tmpfs that fills up, remounted read-only and back, with a filler file that gives space
back when deleted.

    with Tmpfs(tmp_path / "fs", "1m") as fs:
        fs.fill(leave=200_000)   # a filler file so that about 200 kB stay free
        ...
        fs.unfill()              # space returns
        fs.readonly(True)        # EROFS from now on

Mounting needs root (or a user namespace); where the kernel refuses it the test is skipped
with the reason. Every mount is unmounted in __exit__ (lazily, so a daemon still holding a
file there cannot keep it).
"""

import os
import subprocess

import pytest


class Tmpfs:
    def __init__(self, path, size):
        self.path = path
        self.size = size
        self.mounted = False
        self.filler = path / ".filler"

    def __enter__(self):
        self.path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % self.size,
                            "tmpfs", str(self.path)], capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (%s): the full-disk case needs root"
                        % (r.stderr.strip() or r.returncode))
        self.mounted = True
        return self

    def __exit__(self, *exc):
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=20)
            self.mounted = False
        return False

    def free(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave=0):
        """Writes a filler file until about `leave` bytes stay free."""
        want = max(0, self.free() - leave)
        with open(self.filler, "ab") as f:
            chunk = b"\0" * 65536
            while want > 0:
                n = min(want, len(chunk))
                try:
                    f.write(chunk[:n])
                    f.flush()
                except OSError:
                    break
                want -= n

    def unfill(self):
        try:
            self.filler.unlink()
        except FileNotFoundError:
            pass

    def readonly(self, ro):
        r = subprocess.run(["mount", "-o", "remount,%s" % ("ro" if ro else "rw"), str(self.path)],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, "remount %s: %s" % (self.path, r.stderr)

    def resize(self, size):
        r = subprocess.run(["mount", "-o", "remount,size=%s" % size, str(self.path)],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, "remount %s size=%s: %s" % (self.path, size, r.stderr)
