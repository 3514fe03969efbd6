#!/usr/bin/env python3
"""Minimises a fuzz corpus to a few inputs that cover its edges.

    fuzz/minimise.py [--max N] TARGET DIR...

`cargo fuzz cmin` keeps every input that adds a libFuzzer *feature* (an
edge at a hit-count bucket, a compared value): after 8-minute runs, 1,215
files for `datagram`, 831 for `stream`, 2,846 for `sequence`. This keeps a greedy cover of the *edges* (libFuzzer's `cov`)
instead. It runs the built target once over the hand-made seeds
(fuzz/seeds/TARGET/) and the inputs in DIR... with `-set_cover_merge=1
-merge_control_file`, which records every feature of every input; an
8-bit-counter feature is `edge * 8 + bucket`. The seeds' edges count as
covered; then the input with the most new edges (the smaller on ties) is
kept until every edge is covered, or N inputs (default 60) are kept (the
last edges take an input or two each: a corpus that keeps them all holds
hundreds of files). The kept inputs are written to
fuzz/corpus/TARGET/, named by their SHA-1 as libFuzzer names inputs.

Build the targets first (`cargo +nightly fuzz build -s none`).
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

FUZZ = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(FUZZ, "target", "x86_64-unknown-linux-gnu", "release")


def edges(target, seeds, dirs):
    """The edges the seeds cover, and each other input's path and edges."""
    with tempfile.TemporaryDirectory() as tmp:
        control = os.path.join(tmp, "control")
        first = os.path.join(tmp, "seeds")
        shutil.copytree(seeds, first)
        run = subprocess.run(
            [os.path.join(BIN, target), "-set_cover_merge=1", "-merge_control_file=" + control]
            + [first]
            + dirs,
            check=True,
            capture_output=True,
            text=True,
        )
        # "INFO: Loaded 1 PC tables (12629 PCs): ..."
        pcs = next(
            int(line.split("(")[1].split()[0])
            for line in run.stderr.splitlines()
            if "PC tables" in line
        )
        with open(control) as f:
            lines = f.read().splitlines()
    n, from_seeds = int(lines[0]), int(lines[1])
    paths = lines[2 : 2 + n]
    cov = [set() for _ in range(n)]
    for line in lines[2 + n :]:
        parts = line.split()
        if parts and parts[0] == "FT":
            cov[int(parts[1])] = {f // 8 for f in map(int, parts[2:]) if f < pcs * 8}
    seeded = set().union(*cov[:from_seeds])
    return seeded, [(paths[i], cov[i]) for i in range(from_seeds, n)]


def main():
    args = sys.argv[1:]
    most = 60
    if args[0] == "--max":
        most, args = int(args[1]), args[2:]
    target, dirs = args[0], args[1:]
    seeds = os.path.join(FUZZ, "seeds", target)
    covered, found = edges(target, seeds, dirs)
    from_seeds = len(covered)
    everything = covered.union(*(e for _, e in found))
    chosen = []
    while covered != everything and len(chosen) < most:
        path, new = max(found, key=lambda x: (len(x[1] - covered), -os.path.getsize(x[0])))
        chosen.append(path)
        covered |= new
    corpus = os.path.join(FUZZ, "corpus", target)
    shutil.rmtree(corpus, ignore_errors=True)
    os.makedirs(corpus)
    size = 0
    for path in chosen:
        with open(path, "rb") as f:
            data = f.read()
        size += len(data)
        with open(os.path.join(corpus, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    print(
        f"{target}: {len(found)} inputs and the seeds cover {len(everything)} edges, "
        f"the seeds {from_seeds}; kept {len(chosen)} inputs ({size} bytes) "
        f"in fuzz/corpus/{target}, which with the seeds cover {len(covered)}"
    )


if __name__ == "__main__":
    main()
