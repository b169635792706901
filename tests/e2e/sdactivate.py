#!/usr/bin/python3
"""A small socket-activation launcher, as systemd starts a service of a .socket unit:

    sdactivate.py [--dgram PATH]... -- PROGRAM ARGS...

creates and binds each unix datagram socket (a stale file at PATH is replaced), passes them
as descriptors 3, 4, ... with LISTEN_FDS=N, LISTEN_PID=<this PID> and LISTEN_FDNAMES (the
paths' base names), then execs PROGRAM: the PID stays the same, so LISTEN_PID names it, and
whoever started the launcher can stop the program by that PID."""

import os
import socket
import sys


def main(argv):
    if "--" not in argv:
        sys.exit("usage: sdactivate.py [--dgram PATH]... -- PROGRAM ARGS...")
    sep = argv.index("--")
    opts, cmd = argv[:sep], argv[sep + 1:]
    paths = []
    while opts:
        if opts[0] != "--dgram" or len(opts) < 2:
            sys.exit("sdactivate.py: unknown option %r" % opts[0])
        paths.append(opts[1])
        opts = opts[2:]
    socks = []
    for p in paths:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(p):
            os.unlink(p)
        s.bind(p)
        os.chmod(p, 0o666)
        socks.append(s)
    for i, s in enumerate(socks):
        fd = 3 + i
        if s.fileno() != fd:
            os.dup2(s.fileno(), fd)  # dup2 clears close-on-exec on the copy
        else:
            os.set_inheritable(fd, True)
    os.environ["LISTEN_FDS"] = str(len(socks))
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ["LISTEN_FDNAMES"] = ":".join(os.path.basename(p) for p in paths)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
