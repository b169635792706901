#!/usr/bin/env python3
"""The layers of src/ hold: every #include "dir/file.h" of a file in src/<folder>/ names its
own layer or one below it, and the layers form no cycle.

The layer map is the build's own (CMakeLists.txt, tl_layer(): written to build/layers.txt as
"layer: folders: layers it links"), so the check and the link order cannot disagree.

    check_layers.py BUILD/layers.txt SRC_DIR      exit 1 and one line per violation
    check_layers.py --self-test                   proves the check catches what it should
"""

import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)


def read_map(path):
    layers = {}
    folder_layer = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        name, folders, deps = (part.strip() for part in line.split(":"))
        layers[name] = deps.split()
        for f in folders.split():
            folder_layer[f] = name
    return layers, folder_layer


def below(layers, name):
    """Every layer name links, directly or not; raises on a cycle."""
    seen = set()
    stack = [(name, (name,))]
    while stack:
        cur, path = stack.pop()
        for d in layers.get(cur, []):
            if d == name:
                raise ValueError("layer cycle: %s" % " -> ".join(path + (d,)))
            if d not in seen:
                seen.add(d)
                stack.append((d, path + (d,)))
    return seen


def check(map_path, src):
    layers, folder_layer = read_map(map_path)
    problems = []
    try:
        reach = {n: below(layers, n) for n in layers}
    except ValueError as e:
        return [str(e)]
    for n, deps in layers.items():
        for d in deps:
            if d not in layers:
                problems.append("layer %s links %s, which is not a layer" % (n, d))
    for folder in sorted(os.listdir(src)):
        fdir = os.path.join(src, folder)
        if not os.path.isdir(fdir):
            continue
        own = folder_layer.get(folder)
        if own is None:
            problems.append("src/%s/ belongs to no layer (add it to a tl_layer() in "
                            "CMakeLists.txt)" % folder)
            continue
        for fname in sorted(os.listdir(fdir)):
            if not fname.endswith((".c", ".h")):
                continue
            text = open(os.path.join(fdir, fname), errors="replace").read()
            for m in INCLUDE.finditer(text):
                target = m.group(1)
                tl = folder_layer.get(target)
                line = text.count("\n", 0, m.start()) + 1
                if tl is None:
                    problems.append("src/%s/%s:%d includes %s/, which belongs to no layer"
                                    % (folder, fname, line, target))
                elif tl != own and tl not in reach[own]:
                    problems.append("src/%s/%s:%d: layer %s includes %s (layer %s), which is "
                                    "not below it (it links: %s)"
                                    % (folder, fname, line, own, m.group(0).split('"')[1], tl,
                                       ", ".join(sorted(reach[own])) or "nothing"))
    return problems


def self_test():
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "src")
        for f in ("core", "conf", "daemon"):
            os.makedirs(os.path.join(src, f))
        m = os.path.join(d, "layers.txt")
        open(m, "w").write("core: core: \nconf: conf: core\ndaemon: daemon: conf core\n")
        open(os.path.join(src, "core", "a.h"), "w").write('#include "core/b.h"\n')
        open(os.path.join(src, "conf", "c.c"), "w").write('#include "core/a.h"\n')
        open(os.path.join(src, "daemon", "d.c"), "w").write('#include "conf/c.h"\n')
        assert check(m, src) == [], check(m, src)
        # an include that points up
        open(os.path.join(src, "core", "bad.c"), "w").write('#include "conf/conf.h"\n')
        p = check(m, src)
        assert len(p) == 1 and "src/core/bad.c:1: layer core includes conf/conf.h" in p[0], p
        os.remove(os.path.join(src, "core", "bad.c"))
        # a cycle in the map
        open(m, "w").write("core: core: conf\nconf: conf: core\ndaemon: daemon: conf\n")
        p = check(m, src)
        assert p and "layer cycle" in p[0], p
        # a folder outside every layer
        open(m, "w").write("core: core: \nconf: conf: core\n")
        p = check(m, src)
        assert any("src/daemon/ belongs to no layer" in x for x in p), p
    print("check_layers: self-test passed")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(sys.argv[1], sys.argv[2])
    for p in problems:
        print(p)
    if problems:
        print("check_layers: %d include(s) against the layers" % len(problems))
        return 1
    print("check_layers: every include points down a layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
