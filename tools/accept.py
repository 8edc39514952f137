#!/usr/bin/python3
"""Acceptance on real and classic data: recur (the CLI) beside PyTorch.

Builds the data with the committed scripts under tools/data (from Debian's
wfrench and python3-statsmodels, and the adding problem from a seed), then
for each task trains recur through `recur train` / `recur eval` and a
PyTorch model written the way a competent user would (nn.Embedding /
nn.LSTM / nn.Linear on packed batches, CrossEntropyLoss or MSELoss, Adam,
clip_grad_norm_, the best epoch on a validation tenth kept) with the same
architecture, data, epochs, batch, learning rate and clip, one after the
other in this one run, at --threads threads each:

  french   accent restoration, tagging: the word without its diacritics in,
           per character the original character out (split by distinct
           word); character and word accuracy against copying the input
  co2      next-step forecast of weekly CO2 at Mauna Loa from windows of 52
           weeks; test MSE against persistence (next = last)
  adding   the adding problem (Hochreiter & Schmidhuber 1997) at T = 50,
           100 (and 200 in the full run); test MSE against always 1.0

Prints one table and with --json FILE writes every figure. --quick is the
CI run (small data, few epochs, under 2 minutes): it checks that both sides
run and that the results are sane, and exits 1 when they are not. Without
torch the PyTorch columns are skipped with a message (the recur side still
runs). Times are wall-clock and CPU seconds of each side's whole run
(training, the validation after each epoch, the test); on a shared machine
the CPU seconds are the figure to compare.

    /usr/bin/python3 tools/accept.py [--quick] [--json FILE] [--recur build/recur]
    make accept            # the full run; make accept-quick: the CI one
"""
import argparse
import csv
import json
import math
import os
import random
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA_TOOLS = os.path.join(HERE, "data")


def log(msg):
    sys.stderr.write("[accept %6.1fs] %s\n" % (time.perf_counter() - T0, msg))
    sys.stderr.flush()


T0 = time.perf_counter()


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, quiet=True):
    """Run a command; its output, or exit with its error."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-3000:] + p.stderr[-3000:])
        sys.exit("accept: %s exited %d" % (" ".join(cmd), p.returncode))
    return p.stdout


# --------------------------------------------------------------------------
# The recur side: the CLI, timed as a child process
# --------------------------------------------------------------------------


def recur_train_eval(a, name, train_args, test_path):
    """recur train ... then recur eval MODEL TEST --json; (metrics, wall, cpu)."""
    model = os.path.join(a.out, name + ".safetensors")
    cmd = [a.recur, "train"] + train_args + ["-o", model, "--threads", str(a.threads), "--quiet"]
    log("recur: " + " ".join(cmd))
    w0, c0 = time.perf_counter(), children_cpu()
    run(cmd)
    ev = json.loads(run([a.recur, "eval", model, test_path, "--json"]))
    return ev, time.perf_counter() - w0, children_cpu() - c0


# --------------------------------------------------------------------------
# The PyTorch side
# --------------------------------------------------------------------------

torch = nn = None


def load_torch(threads):
    global torch, nn
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        import torch as t
        import torch.nn as n
    except Exception as e:  # noqa: BLE001 - any import failure skips the side
        return "import torch failed: %s: %s" % (type(e).__name__, e)
    torch, nn = t, n
    torch.set_num_threads(threads)
    return None


def make_rnn(cell, inp, hidden, bidirectional=False):
    kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
    return kind(inp, hidden, batch_first=True, bidirectional=bidirectional)


def torch_fit(model, batches_of, n_train, epochs, lr, clip, loss_of, score_of, seed, higher_better):
    """Adam, the given clip, a seeded shuffle per epoch; after each epoch the
    validation score; the weights of the best epoch are restored."""
    import copy

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best, best_state = None, None
    g = random.Random(seed)
    for epoch in range(epochs):
        model.train()
        order = list(range(n_train))
        g.shuffle(order)
        for b in batches_of(order):
            opt.zero_grad()
            loss = loss_of(model, b)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
        model.eval()
        with torch.no_grad():
            sc = score_of(model)
        if best is None or (sc > best if higher_better else sc < best):
            best, best_state = sc, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return best


def valid_split(n, share, seed):
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    k = max(1, round(n * share))
    return sorted(idx[k:]), sorted(idx[:k])


def standardiser(seqs):
    """Mean and population std per feature over every step (recur's input_norm)."""
    x = torch.cat([torch.as_tensor(s) for s in seqs], 0).double()
    mean, std = x.mean(0), x.std(0, unbiased=False)
    std[std < 1e-12] = 1
    return mean.float(), std.float()


def torch_french(a, train_rows, test_rows, cfg):
    """Embedding -> bidirectional LSTM on packed batches -> Linear per step."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

    w0, c0 = time.perf_counter(), time.process_time()
    torch.manual_seed(a.seed)
    chars = sorted({c for t, _ in train_rows for c in t})
    stoi = {c: i + 2 for i, c in enumerate(chars)}  # 0 padding, 1 unknown
    tags = sorted({c for _, g in train_rows for c in g})
    ttoi = {c: i for i, c in enumerate(tags)}

    def enc(rows):
        return [(torch.tensor([stoi.get(c, 1) for c in t]), torch.tensor([ttoi.get(c, -100) for c in g]))
                for t, g in rows]

    data = enc(train_rows)
    tr, va = valid_split(len(data), 0.1, a.seed)

    class TaggerNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(len(chars) + 2, cfg["embed"])
            self.rnn = make_rnn(cfg["cell"], cfg["embed"], cfg["hidden"], bidirectional=True)
            self.out = nn.Linear(2 * cfg["hidden"], len(tags))

        def forward(self, x, lengths):
            packed = pack_padded_sequence(self.embed(x), lengths, batch_first=True, enforce_sorted=False)
            y, _ = self.rnn(packed)
            y, _ = pad_packed_sequence(y, batch_first=True)
            return self.out(y)

    model = TaggerNet()
    ce = nn.CrossEntropyLoss(ignore_index=-100)

    def collate(items):
        xs, ys = zip(*items)
        lengths = torch.tensor([len(x) for x in xs])
        return pad_sequence(xs, batch_first=True), pad_sequence(ys, batch_first=True, padding_value=-100), lengths

    def batches_of(order):
        for k in range(0, len(order), cfg["batch"]):
            yield collate([data[tr[i]] for i in order[k:k + cfg["batch"]]])

    def loss_of(m, b):
        x, y, lengths = b
        logits = m(x, lengths)
        return ce(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def accuracy(items):
        steps = correct = exact = 0
        for k in range(0, len(items), 512):
            x, y, lengths = collate(items[k:k + 512])
            pred = model(x, lengths).argmax(-1)
            ok = (pred == y) | (y == -100)
            scored = y != -100
            steps += int(scored.sum())
            correct += int(((pred == y) & scored).sum())
            exact += int(ok.all(1).sum())
        return correct / max(steps, 1), exact / max(len(items), 1)

    torch_fit(model, batches_of, len(tr), cfg["epochs"], cfg["lr"], cfg["clip"], loss_of,
              lambda m: accuracy([data[i] for i in va])[0], a.seed, True)
    with torch.no_grad():
        char_acc, word_acc = accuracy(enc(test_rows))
    return {"char_accuracy": char_acc, "word_accuracy": word_acc,
            "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0}


def torch_regress(a, xs_train, y_train, xs_test, y_test, cfg):
    """(dense) RNN on packed batches -> Linear on the final state, MSE."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

    w0, c0 = time.perf_counter(), time.process_time()
    torch.manual_seed(a.seed)
    tr, va = valid_split(len(xs_train), 0.1, a.seed)
    mean, std = standardiser([xs_train[i] for i in tr])

    class Regressor(nn.Module):
        def __init__(self, F):
            super().__init__()
            self.rnn = make_rnn(cfg["cell"], F, cfg["hidden"])
            self.out = nn.Linear(cfg["hidden"], 1)

        def forward(self, x, lengths):
            packed = pack_padded_sequence((x - mean) / std, lengths, batch_first=True, enforce_sorted=False)
            _, h = self.rnn(packed)
            if isinstance(h, tuple):
                h = h[0]
            return self.out(h[-1]).squeeze(-1)

    model = Regressor(xs_train[0].shape[1])
    mse = nn.MSELoss()

    def collate(idx, xs, ys):
        seq = [torch.as_tensor(xs[i]) for i in idx]
        return pad_sequence(seq, batch_first=True), torch.tensor([len(s) for s in seq]), \
            torch.tensor([ys[i] for i in idx], dtype=torch.float32)

    def batches_of(order):
        for k in range(0, len(order), cfg["batch"]):
            yield collate([tr[i] for i in order[k:k + cfg["batch"]]], xs_train, y_train)

    def loss_of(m, b):
        x, lengths, y = b
        return mse(m(x, lengths), y)

    def score(idx, xs, ys):
        sse = 0.0
        for k in range(0, len(idx), 512):
            x, lengths, y = collate(idx[k:k + 512], xs, ys)
            sse += float(((model(x, lengths) - y) ** 2).sum())
        return sse / len(idx)

    torch_fit(model, batches_of, len(tr), cfg["epochs"], cfg["lr"], cfg["clip"], loss_of,
              lambda m: score(va, xs_train, y_train), a.seed, False)
    with torch.no_grad():
        test_mse = score(list(range(len(xs_test))), xs_test, y_test)
    return {"mse": test_mse, "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0}


# --------------------------------------------------------------------------
# The tasks
# --------------------------------------------------------------------------


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [(r["text"], r["tags"]) for r in map(json.loads, f)]


def task_french(a, cfg):
    d = os.path.join(a.out, "data")
    cmd = [sys.executable, os.path.join(DATA_TOOLS, "french_accents.py"), "--out", d]
    if cfg["limit"]:
        cmd += ["--limit", str(cfg["limit"])]
    run(cmd)
    train, test = os.path.join(d, "french_train.jsonl"), os.path.join(d, "french_test.jsonl")
    test_rows = read_jsonl(test)
    chars = sum(len(g) for _, g in test_rows)
    base_char = sum(c == t for s, g in test_rows for c, t in zip(s, g)) / chars
    base_word = sum(s == "".join(g) for s, g in test_rows) / len(test_rows)
    with open(train, encoding="utf-8") as f:
        n_train = sum(1 for _ in f)
    res = {"task": "french", "train_words": n_train, "test_words": len(test_rows), "settings": cfg,
           "baseline": {"name": "copy the input", "char_accuracy": base_char, "word_accuracy": base_word}}
    ev, wall, cpu = recur_train_eval(a, "french", [
        train, "--task", "tag", "--tokens", "char", "--test-dir", test, "--valid-split", "0.1",
        "--cell", cfg["cell"], "--hidden", str(cfg["hidden"]), "--embed", str(cfg["embed"]), "--bidirectional",
        "--epochs", str(cfg["epochs"]), "--batch", str(cfg["batch"]), "--lr", str(cfg["lr"]),
        "--clip", str(cfg["clip"]), "--patience", "0", "--seed", str(a.seed)], test)
    res["recur"] = {"char_accuracy": ev["step_accuracy"], "word_accuracy": ev["exact_match"],
                    "unknown_tags": ev.get("unknown_tags", 0), "wall_s": wall, "cpu_s": cpu}
    if torch:
        log("torch: french")
        res["torch"] = torch_french(a, read_jsonl(train), test_rows, cfg)
    return res


def co2_windows(src, dst):
    """forecast.py's windows as translation-free inputs: per step the value
    minus the window's last value ("rel") and the change from the step
    before ("diff", 0 at the first), the target the next value minus the
    last ("delta"). A forecast is last + delta, so the MSE of delta is the
    MSE of the forecast; persistence is delta = 0. (Raw levels would ask
    the model to extrapolate: the test years lie above every training
    level.)"""
    wins = {}
    with open(src, newline="") as f:
        for r in csv.DictReader(f):
            wins.setdefault(r["id"], []).append((float(r["value"]), float(r["target"])))
    xs, ys = [], []
    with open(dst + ".tmp", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "rel", "diff", "delta"])
        for wid, rows in wins.items():
            vals = [v for v, _ in rows]
            last, delta = vals[-1], rows[0][1] - vals[-1]
            x = [[v - last, v - (vals[t - 1] if t else v)] for t, v in enumerate(vals)]
            for rel, diff in x:
                out.writerow([wid, "%.6g" % rel, "%.6g" % diff, "%.6g" % delta])
            xs.append(x)
            ys.append(float("%.6g" % delta))
    os.replace(dst + ".tmp", dst)
    return xs, ys


def task_co2(a, cfg):
    d = os.path.join(a.out, "data")
    run([sys.executable, os.path.join(DATA_TOOLS, "forecast.py"), "--series", "co2", "--out", d])
    paths = {}
    sets = {}
    for split in ("train", "test"):
        paths[split] = os.path.join(d, "co2_delta_%s.csv" % split)
        sets[split] = co2_windows(os.path.join(d, "co2_%s.csv" % split), paths[split])
    xt, yt = sets["test"]
    res = {"task": "co2", "windows": {"train": len(sets["train"][0]), "test": len(xt)}, "settings": cfg,
           "baseline": {"name": "persistence", "mse": sum(y * y for y in yt) / len(yt)}}
    ev, wall, cpu = recur_train_eval(a, "co2", [
        paths["train"], "--task", "regress", "--id-col", "id", "--feature-cols", "rel,diff", "--target-cols",
        "delta", "--per-sequence", "--test-dir", paths["test"], "--valid-split", "0.1",
        "--cell", cfg["cell"], "--hidden", str(cfg["hidden"]), "--epochs", str(cfg["epochs"]),
        "--batch", str(cfg["batch"]), "--lr", str(cfg["lr"]), "--clip", str(cfg["clip"]), "--patience", "0",
        "--seed", str(a.seed)], paths["test"])
    res["recur"] = {"mse": ev["mse"], "mae": ev.get("mae"), "r2": ev.get("r2"), "wall_s": wall, "cpu_s": cpu}
    if torch:
        log("torch: co2")
        xs, ys = sets["train"]
        res["torch"] = torch_regress(a, [torch.tensor(x, dtype=torch.float32) for x in xs], ys,
                                     [torch.tensor(x, dtype=torch.float32) for x in xt], yt, cfg)
    return res


def task_adding(a, cfg, T):
    import numpy as np

    d = os.path.join(a.out, "data")
    run([sys.executable, os.path.join(DATA_TOOLS, "adding.py"), "--out", d, "--T", str(T),
         "--train", str(cfg["train"]), "--test", str(cfg["test"])])
    train, test = os.path.join(d, "adding_T%d_train.npz" % T), os.path.join(d, "adding_T%d_test.npz" % T)
    te = np.load(test)
    yt = te["targets"][:, 0].astype(np.float64)
    res = {"task": "adding", "T": T, "settings": cfg,
           "baseline": {"name": "always 1.0", "mse": float(np.mean((yt - 1.0) ** 2))}}
    ev, wall, cpu = recur_train_eval(a, "adding_T%d" % T, [
        train, "--task", "regress", "--test-dir", test, "--valid-split", "0.1",
        "--cell", cfg["cell"], "--hidden", str(cfg["hidden"]), "--epochs", str(cfg["epochs"]),
        "--batch", str(cfg["batch"]), "--lr", str(cfg["lr"]), "--clip", str(cfg["clip"]), "--patience", "0",
        "--seed", str(a.seed)], test)
    res["recur"] = {"mse": ev["mse"], "mae": ev.get("mae"), "wall_s": wall, "cpu_s": cpu}
    if torch:
        log("torch: adding T=%d" % T)
        tr = np.load(train)
        xs = [torch.from_numpy(x) for x in tr["features"]]
        res["torch"] = torch_regress(a, xs, tr["targets"][:, 0].tolist(),
                                     [torch.from_numpy(x) for x in te["features"]], yt.tolist(), cfg)
    return res


# --------------------------------------------------------------------------
# Settings, the table, the checks
# --------------------------------------------------------------------------

FULL = {
    "french": {"limit": 100000, "cell": "lstm", "hidden": 128, "embed": 32, "epochs": 3, "batch": 64, "lr": 0.003,
               "clip": 5},
    "co2": {"cell": "lstm", "hidden": 64, "epochs": 40, "batch": 32, "lr": 0.003, "clip": 1},
    "adding": {"cell": "lstm", "hidden": 64, "epochs": 5, "batch": 32, "lr": 0.003, "clip": 1, "train": 10000,
               "test": 1000, "T": [50, 100, 200]},
}
QUICK = {
    "french": dict(FULL["french"], limit=6000, hidden=64, epochs=2),
    "co2": dict(FULL["co2"], hidden=32, epochs=10),
    "adding": dict(FULL["adding"], train=3000, test=500, epochs=6, T=[50]),
}


def fmt_pct(v):
    return "%6.2f%%" % (100 * v) if isinstance(v, (int, float)) and math.isfinite(v) else "      -"


def fmt_mse(v):
    return "%8.4f" % v if isinstance(v, (int, float)) and math.isfinite(v) else "       -"


def fmt_time(side):
    if not side:
        return "-"
    return "%.1f s wall, %.1f s CPU" % (side["wall_s"], side["cpu_s"])


def print_table(results, a, torch_note):
    print("recur beside PyTorch (%s), %d thread%s each, seed %d%s" % (
        "quick" if a.quick else "full", a.threads, "s" if a.threads > 1 else "", a.seed,
        "" if not torch_note else "; " + torch_note))
    print()
    print("%-26s %-22s %10s %10s %10s   %-26s %s" % ("task", "metric", "baseline", "recur", "PyTorch",
                                                    "recur time", "PyTorch time"))
    for r in results:
        t = r.get("torch") or {}
        if r["task"] == "french":
            rows = [("character accuracy", "char_accuracy"), ("word accuracy", "word_accuracy")]
            for k, (label, key) in enumerate(rows):
                name = "french accents (%s)" % r["settings"]["cell"] if k == 0 else ""
                print("%-26s %-22s %10s %10s %10s   %-26s %s" % (
                    name, label, fmt_pct(r["baseline"][key]), fmt_pct(r["recur"][key]), fmt_pct(t.get(key)),
                    fmt_time(r["recur"]) if k == 0 else "", fmt_time(t) if k == 0 else ""))
            continue
        name = "co2 next week (%s)" % r["settings"]["cell"] if r["task"] == "co2" else \
            "adding T=%d (%s)" % (r["T"], r["settings"]["cell"])
        print("%-26s %-22s %10s %10s %10s   %-26s %s" % (
            name, "test MSE", fmt_mse(r["baseline"]["mse"]), fmt_mse(r["recur"]["mse"]), fmt_mse(t.get("mse")),
            fmt_time(r["recur"]), fmt_time(t)))
    print()
    print("baselines: french copies the input; co2 predicts the last value (persistence); adding answers 1.0")
    for r in results:
        s = r["settings"]
        what = {"french": "french: embed %d, " % s.get("embed", 0), "co2": "co2: ", "adding": "adding: "}[r["task"]]
        if r["task"] == "adding" and r["T"] != s["T"][0]:
            continue
        extra = " bidirectional," if r["task"] == "french" else ""
        print("  %s%s hidden %d,%s %d epochs, batch %d, Adam lr %g, clip %g; best epoch on a validation tenth" % (
            what, s["cell"], s["hidden"], extra, s["epochs"], s["batch"], s["lr"], s["clip"]))


def check(results, have_torch):
    """The quick run's sanity floors: every figure there and finite, and the
    results that hold even on small data (the learnt models beat their
    baselines where it is clear-cut)."""
    bad = []
    for r in results:
        sides = ["recur"] + (["torch"] if have_torch else [])
        for side in sides:
            for k, v in r[side].items():
                if isinstance(v, float) and not math.isfinite(v):
                    bad.append("%s %s: %s is %r" % (r["task"], side, k, v))
            if r["task"] == "adding" and not r[side]["mse"] < 0.5 * r["baseline"]["mse"]:
                bad.append("adding T=%d %s: MSE %.4f, not below half the baseline %.4f" % (
                    r["T"], side, r[side]["mse"], r["baseline"]["mse"]))
            if r["task"] == "co2" and not r[side]["mse"] < r["baseline"]["mse"]:
                bad.append("co2 %s: MSE %.4f, not below persistence %.4f" % (side, r[side]["mse"],
                                                                            r["baseline"]["mse"]))
            if r["task"] == "french" and not r[side]["char_accuracy"] > 0.9:
                bad.append("french %s: character accuracy %.3f" % (side, r[side]["char_accuracy"]))
    return bad


def missing_sources():
    """Tasks whose Debian package is not installed, and why."""
    out = {}
    if not os.path.exists("/usr/share/dict/french"):
        out["french"] = "no /usr/share/dict/french (apt-get install wfrench)"
    if not os.path.exists("/usr/lib/python3/dist-packages/statsmodels/datasets/co2/co2.csv"):
        out["co2"] = "no statsmodels co2 series (apt-get install python3-statsmodels)"
    try:
        import numpy  # noqa: F401
    except ImportError:
        out["adding"] = "no numpy (apt-get install python3-numpy)"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the CI run: small data, few epochs")
    ap.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    ap.add_argument("--recur", default=os.path.join(ROOT, "build", "recur"))
    ap.add_argument("--out", default=None, help="data and models (default build/accept or build/accept-quick)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="french,co2,adding", help="tasks to run, comma-separated")
    ap.add_argument("--no-torch", action="store_true", help="the recur side only")
    ap.add_argument("--french-words", type=int, default=None,
                    help="words of wfrench to use, 0 = all (full run: 100000, quick: 6000)")
    a = ap.parse_args()
    a.out = a.out or os.path.join(ROOT, "build", "accept-quick" if a.quick else "accept")
    os.makedirs(os.path.join(a.out, "data"), exist_ok=True)
    if not os.access(a.recur, os.X_OK):
        sys.exit("accept: %s is not there (make all first)" % a.recur)
    note = "PyTorch left out (--no-torch)" if a.no_torch else load_torch(a.threads)
    if note:
        print("accept: %s; the PyTorch columns are skipped" % note, file=sys.stderr)
    cfg = QUICK if a.quick else FULL
    if a.french_words is not None:
        cfg["french"] = dict(cfg["french"], limit=a.french_words)
    only = set(a.only.split(","))
    results, skipped = [], []
    for task, why in missing_sources().items():
        if task in only:
            print("accept: %s skipped: %s" % (task, why), file=sys.stderr)
            skipped.append({"task": task, "why": why})
            only.discard(task)
    if "french" in only:
        results.append(task_french(a, cfg["french"]))
    if "co2" in only:
        results.append(task_co2(a, cfg["co2"]))
    if "adding" in only:
        for T in cfg["adding"]["T"]:
            results.append(task_adding(a, cfg["adding"], T))
    if not results:
        print("accept: nothing to run (every task skipped)", file=sys.stderr)
        return
    print_table(results, a, note)
    doc = {"quick": a.quick, "threads": a.threads, "seed": a.seed, "torch": None if note else torch.__version__,
           "results": results, "skipped": skipped, "seconds": time.perf_counter() - T0}
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(a.json + ".tmp", a.json)
    if a.quick:
        bad = check(results, not note)
        for b in bad:
            print("accept: FAILED: " + b, file=sys.stderr)
        if bad:
            sys.exit(1)
        print("accept: the quick run's checks passed (%.0f s)" % (time.perf_counter() - T0), file=sys.stderr)


if __name__ == "__main__":
    main()
