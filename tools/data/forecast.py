#!/usr/bin/python3
"""Next-step forecasting windows from a real series shipped in Debian's
python3-statsmodels (co2: weekly CO2 at Mauna Loa, 1958-2001; or sunspots:
yearly sunspot activity, 1700-2008), as CSV for recur.

co2 has missing weeks: they are filled by linear interpolation between their
neighbours (as statsmodels' own examples do). Each window is --window
consecutive values (one row per step, a sequence id, the value, and the
next value after the window as the target, the same on every row of the
window: a per-sequence target). Windows start every --stride steps; the
last --test-share of the series (by time) gives the test windows, whose
inputs and targets all lie after every training target (no leakage). The
persistence baseline (tomorrow = today) is printed for the test windows.

Writes OUT/{series}_{train,test}.csv with the header id,step,value,target.
Example (the USAGE example):
    /usr/bin/python3 tools/data/forecast.py --series co2 --out build/data
    recur train build/data/co2_train.csv --task regress --id id --features value --targets target --per-sequence
"""
import argparse
import csv
import os
import sys

SERIES = {
    "co2": ("/usr/lib/python3/dist-packages/statsmodels/datasets/co2/co2.csv", "co2"),
    "sunspots": ("/usr/lib/python3/dist-packages/statsmodels/datasets/sunspots/sunspots.csv", "SUNACTIVITY"),
}


def read(series):
    path, col = SERIES[series]
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit("forecast.py: %s (install Debian's python3-statsmodels)" % e)
    vals = [float(r[col]) if r[col] not in ("", "NA", "nan") else None for r in rows]
    # Linear interpolation of missing values; leading/trailing gaps dropped.
    known = [i for i, v in enumerate(vals) if v is not None]
    out = []
    for i in range(known[0], known[-1] + 1):
        if vals[i] is not None:
            out.append(vals[i])
            continue
        lo = max(k for k in known if k < i)
        hi = min(k for k in known if k > i)
        out.append(vals[lo] + (vals[hi] - vals[lo]) * (i - lo) / (hi - lo))
    return out


def windows(vals, start, end, w, stride):
    """Windows whose inputs and target lie in vals[start:end]."""
    return [(i, vals[i:i + w], vals[i + w]) for i in range(start, end - w, stride)]


def write(path, wins):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "step", "value", "target"])
        for i, xs, y in wins:
            for t, x in enumerate(xs):
                out.writerow(["w%05d" % i, t, "%.6g" % x, "%.6g" % y])
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", choices=sorted(SERIES), default="co2")
    ap.add_argument("--out", default="build/data")
    ap.add_argument("--window", type=int, default=52)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--test-share", type=float, default=0.2)
    a = ap.parse_args()
    vals = read(a.series)
    if a.window < 1 or a.stride < 1 or not 0 < a.test_share < 1:
        sys.exit("forecast.py: --window and --stride must be >= 1, --test-share in (0, 1)")
    cut = int(len(vals) * (1 - a.test_share))
    train = windows(vals, 0, cut, a.window, a.stride)
    test = windows(vals, cut, len(vals), a.window, a.stride)
    if not train or not test:
        sys.exit("forecast.py: the series (%d values) is too short for windows of %d" % (len(vals), a.window))
    os.makedirs(a.out, exist_ok=True)
    for name, wins in (("train", train), ("test", test)):
        path = os.path.join(a.out, "%s_%s.csv" % (a.series, name))
        write(path, wins)
        print("%s: %d windows of %d steps" % (path, len(wins), a.window))
    mse = sum((xs[-1] - y) ** 2 for _, xs, y in test) / len(test)
    var = sum((y - sum(t for _, _, t in test) / len(test)) ** 2 for _, _, y in test) / len(test)
    print("persistence baseline (the last value) on the test windows: MSE %.4f (variance of the targets %.4f)"
          % (mse, var))


if __name__ == "__main__":
    main()
