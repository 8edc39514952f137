#!/usr/bin/env python3
"""The Python row of `make bench`: one PyTorch-trained LSTM-128 names
classifier answered by PyTorch and by recur through the Python package
(recur.from_torch of the very same module), string in, label out, one name
at a time and in batches of 256, in one run and one process.

    /usr/bin/python3 bench/python_vs_torch.py [--quick] [--threads 1,2]

The module: nn.Embedding(V, 64) -> nn.LSTM(64, 128) -> nn.Linear(128, C),
trained by PyTorch for --train-steps Adam steps (batches of 64) on the names
data ($RECUR_DATA), so the weights are a trained model's, not random ones.
Both sides then see the same shuffled names. Method as bench/README.md:
a warm-up, --trials trials of about --trial-time seconds, the median and
the spread over trials; latency is the median over trials of each trial's
median per call. Threads: torch.set_num_threads(n) and recur.set_threads(n)
(recur's runner is one per thread; one thread drives it here). Prints a
Markdown table, and the largest difference between the two sides'
log-probabilities (they compute the same function).
"""
import argparse
import math
import os
import random
import statistics
import sys
import time
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 short trials, 100 training steps")
    p.add_argument("--threads", default="1", help="thread counts, comma-separated [1]")
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--trial-time", type=float, default=0.3)
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--data", default=os.environ.get("RECUR_DATA") or
                   os.path.join(ROOT, "..", "shared", "data", "names"))
    a = p.parse_args()
    if a.quick:
        a.trials, a.trial_time, a.train_steps = 3, 0.15, 50
    a.threads = [int(t) for t in a.threads.split(",")]
    return a


def measure(call, trials, trial_s, per_call=False):
    """Median and spread over trials: calls/s, or (per_call) microseconds a call."""
    t0, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - t0 < 0.1:
        call()
        n += 1
    one = (time.perf_counter() - t0) / n
    reps = max(5, math.ceil(trial_s / one))
    out = []
    for _ in range(trials):
        if per_call:
            v = []
            for _ in range(reps):
                t = time.perf_counter()
                call()
                v.append((time.perf_counter() - t) * 1e6)
            out.append(statistics.median(v))
        else:
            t = time.perf_counter()
            for _ in range(reps):
                call()
            out.append(reps / (time.perf_counter() - t))
    return statistics.median(out), min(out), max(out)


def main():
    a = parse()
    try:
        import numpy as np
        import torch
        import torch.nn as nn
    except ImportError as e:
        print("bench/python_vs_torch.py: skipped: %s (needs NumPy and torch: Debian's "
              "python3-torch)" % e)
        return 0
    import recur
    if not os.path.isdir(a.data):
        print("bench/python_vs_torch.py: skipped: no names data at %s (set RECUR_DATA)" % a.data)
        return 0
    # The names, labels and vocabulary as recur reads them (NFC, sorted labels).
    pairs = []
    labels = sorted(f[:-4] for f in os.listdir(a.data) if f.endswith(".txt"))
    for li, l in enumerate(labels):
        with open(os.path.join(a.data, l + ".txt"), encoding="utf-8") as f:
            pairs += [(unicodedata.normalize("NFC", s.strip()), li) for s in f if s.strip()]
    random.Random(1).shuffle(pairs)
    names = [s for s, _ in pairs]
    symbols = sorted(set("".join(names)))
    ids = {ch: i + 2 for i, ch in enumerate(symbols)}
    V, C = len(symbols) + 2, len(labels)

    def encode(s):
        return torch.tensor([ids.get(ch, 0) for ch in unicodedata.normalize("NFC", s)])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm, self.fc = nn.Embedding(V, 64), nn.LSTM(64, 128), nn.Linear(128, C)

        def forward(self, tokens, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(self.emb(tokens), lengths,
                                                       enforce_sorted=False)
            _, (h, _) = self.lstm(packed)
            return torch.log_softmax(self.fc(h[-1]), 1)

    torch.manual_seed(1)
    torch.set_num_threads(max(a.threads))
    net = Net()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    t0 = time.perf_counter()
    for step in range(a.train_steps):
        chunk = pairs[(step * 64) % (len(pairs) - 64):][:64]
        seqs = [encode(s) for s, _ in chunk]
        out = net(nn.utils.rnn.pad_sequence(seqs), torch.tensor([len(s) for s in seqs]))
        loss = nn.functional.nll_loss(out, torch.tensor([l for _, l in chunk]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    train_s = time.perf_counter() - t0
    model = recur.from_torch(net, vocab=symbols, labels=labels)

    # Same function: the log-probabilities of 256 names on both sides.
    batch = names[:256]
    seqs = [encode(s) for s in batch]
    with torch.inference_mode():
        want = net(nn.utils.rnn.pad_sequence(seqs), torch.tensor([len(s) for s in seqs])).numpy()
    diff = float(np.abs(model.classify(batch) - want).max())
    hits = sum(int(r == l) for r, (_, l) in zip(want.argmax(1), pairs[:256]))

    print("| threads | measure | PyTorch | recur (Python) | speedup |")
    print("|---|---|---|---|---|")
    for n in a.threads:
        torch.set_num_threads(n)
        recur.set_threads(n)
        state = {"i": 0}

        def torch_one():
            s = names[state["i"] % len(names)]
            state["i"] += 1
            with torch.inference_mode():
                lp = net(encode(s).reshape(-1, 1), torch.tensor([len(s) or 1]))
            return labels[int(lp.argmax(1))]

        def recur_one():
            s = names[state["i"] % len(names)]
            state["i"] += 1
            return model.predict(s, top=1)[0][0]

        def batch_at(i):
            start = (i * 256) % (len(names) - 256)
            return names[start:start + 256]

        def torch_bulk():
            b = batch_at(state["i"])
            state["i"] += 1
            sq = [encode(s) for s in b]
            with torch.inference_mode():
                lp = net(nn.utils.rnn.pad_sequence(sq), torch.tensor([len(s) for s in sq]))
            return [labels[k] for k in lp.argmax(1).tolist()]

        def recur_bulk():
            b = batch_at(state["i"])
            state["i"] += 1
            lp = model.classify(b)
            return [labels[k] for k in lp.argmax(1).tolist()]

        rows = [("one name: latency (us, median)", torch_one, recur_one, True),
                ("batches of 256: names/s", torch_bulk, recur_bulk, False)]
        for what, tf, rf, per_call in rows:
            t = measure(tf, a.trials, a.trial_time, per_call)
            r = measure(rf, a.trials, a.trial_time, per_call)
            scale = 1 if per_call else 256
            sp = t[0] / r[0] if per_call else r[0] / t[0]
            fmt = "%.0f (%.0f-%.0f)"
            print("| %d | %s | %s | %s | %.1fx |" % (
                n, what, fmt % tuple(x * scale for x in t), fmt % tuple(x * scale for x in r), sp))
    print("\nLSTM-128, embedding 64, %d labels, %d symbols; trained by PyTorch for %d steps "
          "(%.1f s, %d/256 right on training names); recur.from_torch of that module: largest "
          "log-probability difference %.1e. torch %s, recur %s (%s)." % (
              C, V - 2, a.train_steps, train_s, hits, diff, torch.__version__,
              recur.library_version(), recur.library_path()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
