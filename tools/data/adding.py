#!/usr/bin/python3
"""The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le,
Jaitly & Hinton 2015) as .npz files for recur.

Each sequence has T steps of two inputs: a value drawn from U(0, 1) and a
marker, 1 at exactly two steps (one in the first half, one in the second)
and 0 elsewhere. The target is the sum of the two marked values: a
regression on the final state that needs memory over up to T steps.
Answering 1.0 always scores MSE 1/6 = 0.167 (the variance of a sum of two
uniforms): the baseline a model must beat.

Writes OUT/adding_T{T}_{train,test}.npz with features [N][T][2] float32 and
targets [N][1] float32, members aligned so that recur maps them (npz.py).
Deterministic in --seed. Example:
    /usr/bin/python3 tools/data/adding.py --out build/data --T 50 100 200
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from npz import save_aligned  # noqa: E402


def make(n, T, rng):
    x = np.zeros((n, T, 2), dtype=np.float32)
    x[:, :, 0] = rng.random((n, T), dtype=np.float32)
    a = rng.integers(0, T // 2, size=n)
    b = rng.integers(T // 2, T, size=n)
    rows = np.arange(n)
    x[rows, a, 1] = 1.0
    x[rows, b, 1] = 1.0
    y = (x[rows, a, 0] + x[rows, b, 0]).astype(np.float32).reshape(n, 1)
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="build/data")
    ap.add_argument("--T", type=int, nargs="+", default=[50, 100, 200])
    ap.add_argument("--train", type=int, default=10000, help="training sequences (default 10000)")
    ap.add_argument("--test", type=int, default=1000, help="test sequences (default 1000)")
    ap.add_argument("--seed", type=int, default=1997)
    a = ap.parse_args()
    if any(t < 2 for t in a.T) or a.train < 1 or a.test < 1:
        sys.exit("adding.py: T must be >= 2 and the counts >= 1")
    os.makedirs(a.out, exist_ok=True)
    for T in a.T:
        rng = np.random.default_rng([a.seed, T])
        for split, n in (("train", a.train), ("test", a.test)):
            x, y = make(n, T, rng)
            path = os.path.join(a.out, "adding_T%d_%s.npz" % (T, split))
            save_aligned(path, features=x, targets=y)
            base = float(np.mean((y - 1.0) ** 2))
            print("%s: %d sequences of %d steps; MSE of always 1.0: %.4f" % (path, n, T, base))


if __name__ == "__main__":
    main()
