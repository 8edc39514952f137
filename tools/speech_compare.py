#!/usr/bin/env python3
"""Spoken words on held-out voices: recur against two baselines, on the same features.

    /usr/bin/python3 tools/speech_compare.py DATA [--recur build/recur] [--epochs 15] [--templates 8] [--model M]

DATA is `make data-speech`'s folder (train/ and test/ hold disjoint voices).
Every system sees the same features: `recur features` (40 log-mel bands per
10 ms frame, docs/SPEECH.md), standardised with the training part's mean and
deviation.
  1. recur: `recur train DATA/train --test-dir DATA/test` (a bidirectional
     LSTM on the features, Adam 3e-3, batch 64, clip 5, the lr halved after
     2 epochs without a better validation loss, the best epoch on a
     validation tenth of the training files, the forget gates' input bias
     +2 over PyTorch's init: docs/SPEECH.md), scored on DATA/test.
  2. PyTorch: nn.LSTM of the same size and direction + nn.Linear on the final
     states, the same forget-gate bias (--forget-bias), CrossEntropyLoss,
     Adam, the same epochs, batch, learning rate, clipping and halving, the
     best epoch chosen on a validation tenth of the training voices' files
     (as recur does), scored on DATA/test.
  3. Nearest neighbour by dynamic time warping (Euclidean frame distance,
     steps (1,0) (0,1) (1,1), cost normalised by the path's two lengths)
     against --templates files per word drawn from training.
Prints one table and, with --json, the figures as JSON.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np


def files_of(part):
    words = sorted(d for d in os.listdir(part) if os.path.isdir(os.path.join(part, d)))
    out = []
    for wi, w in enumerate(words):
        for f in sorted(os.listdir(os.path.join(part, w))):
            if not f.startswith("."):
                out.append((os.path.join(part, w, f), wi))
    return words, out


def features(recur, files, work, tag):
    path = os.path.join(work, tag + ".npz")
    # Chunks keep the command line short.
    arrays = []
    for k in range(0, len(files), 500):
        p = os.path.join(work, "%s_%d.npz" % (tag, k))
        subprocess.run([recur, "features", "-o", p] + [f for f, _ in files[k:k + 500]], check=True)
        z = np.load(p)
        arrays += [z["arr_%d" % i] for i in range(len(z.files))]
    return arrays


def torch_lstm(train, ytr, valid, yva, test, yte, classes, a):
    import torch
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    F = train[0].shape[1]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(F, a.hidden, batch_first=True, bidirectional=not a.unidirectional)
            self.out = torch.nn.Linear((1 if a.unidirectional else 2) * a.hidden, classes)

        def forward(self, x, lengths):
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, (h, _) = self.rnn(packed)
            return self.out(torch.cat(list(h), dim=1))

    def batch(xs):
        lengths = torch.tensor([len(x) for x in xs])
        return torch.nn.utils.rnn.pad_sequence([torch.from_numpy(x) for x in xs], batch_first=True), lengths

    def accuracy(net, xs, ys):
        net.eval()
        right = 0
        with torch.no_grad():
            for k in range(0, len(xs), 256):
                x, l = batch(xs[k:k + 256])
                right += int((net(x, l).argmax(1).numpy() == np.array(ys[k:k + 256])).sum())
        net.train()
        return right / len(xs)

    def valid_loss(net, xs, ys):
        net.eval()
        total = 0.0
        with torch.no_grad():
            for k in range(0, len(xs), 256):
                x, l = batch(xs[k:k + 256])
                total += float(torch.nn.functional.cross_entropy(net(x, l), torch.tensor(ys[k:k + 256]),
                                                                 reduction="sum"))
        net.train()
        return total / len(xs)

    net = Net()
    with torch.no_grad():   # gates i, f, g, o: the forget slice of every b_ih, as recur train does
        for name, p in net.rnn.named_parameters():
            if name.startswith("bias_ih"):
                p[a.hidden:2 * a.hidden] += a.forget_bias
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=a.patience - 1, threshold=0) \
        if a.patience > 0 else None
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(a.seed)
    best, best_state = -1, None
    t0 = time.process_time()
    for epoch in range(a.epochs):
        order = rng.permutation(len(train))
        for k in range(0, len(order), a.batch):
            idx = order[k:k + a.batch]
            x, l = batch([train[i] for i in idx])
            opt.zero_grad()
            loss = loss_fn(net(x, l), torch.tensor([ytr[i] for i in idx]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
        v = accuracy(net, valid, yva)
        if sched:
            sched.step(valid_loss(net, valid, yva))
        if v > best:
            best, best_state = v, {k: t.clone() for k, t in net.state_dict().items()}
    net.load_state_dict(best_state)
    return accuracy(net, test, yte), time.process_time() - t0


def dtw_nn(train, ytr, test, yte, classes, per_word, seed, chunk=16):
    """1-NN by DTW, the recursion run along anti-diagonals (cells i + j = k
    depend only on diagonals k-1 and k-2), for many (query, template) pairs
    at once."""
    import torch
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(classes):
        idx = [i for i, y in enumerate(ytr) if y == c]
        chosen += list(rng.choice(idx, min(per_word, len(idx)), replace=False))
    labels = np.array([ytr[i] for i in chosen])
    K = len(chosen)
    M = max(len(train[i]) for i in chosen)
    T = torch.zeros(K, M, train[0].shape[1])
    for k, i in enumerate(chosen):
        T[k, :len(train[i])] = torch.from_numpy(train[i])
    tl = torch.tensor([len(train[i]) for i in chosen])
    inf = float("inf")
    right = 0
    for q0 in range(0, len(test), chunk):
        qs = test[q0:q0 + chunk]
        Q = len(qs)
        N = max(len(q) for q in qs)
        X = torch.zeros(Q, N, T.shape[2])
        for k, q in enumerate(qs):
            X[k, :len(q)] = torch.from_numpy(q)
        ql = torch.tensor([len(q) for q in qs])
        d = torch.cdist(X.unsqueeze(1).expand(Q, K, N, -1).reshape(Q * K, N, -1),
                        T.unsqueeze(0).expand(Q, K, M, -1).reshape(Q * K, M, -1))   # [P][N][M]
        P = Q * K
        qlen = ql.repeat_interleave(K)
        tlen = tl.repeat(Q)
        end = qlen + tlen                       # the diagonal of cell (qlen, tlen)
        cost = torch.full((P,), inf)
        # diag[k][i] = D[i][k - i] for i in 0..N (D 1-based, D[0][0] = 0).
        prev2 = torch.full((P, N + 1), inf)
        prev1 = torch.full((P, N + 1), inf)
        prev2[:, 0] = 0.0                       # k = 0: D[0][0]
        i = torch.arange(1, N + 1)
        for k in range(2, N + M + 1):
            j = k - i                           # column of row i on this diagonal
            ok = (j >= 1) & (j <= M)
            jj = j.clamp(1, M)
            step = d[:, i - 1, jj - 1]          # [P][N]
            best = torch.minimum(torch.minimum(prev1[:, :-1], prev1[:, 1:]), prev2[:, :-1])
            cur = torch.full((P, N + 1), inf)
            cur[:, 1:] = torch.where(ok, step + best, torch.tensor(inf))
            hit = end == k
            if hit.any():
                cost[hit] = cur[hit, qlen[hit]] / k
            prev2, prev1 = prev1, cur
        cost = cost.view(Q, K)
        pred = labels[cost.argmin(1).numpy()]
        right += int((pred == np.array(yte[q0:q0 + chunk])).sum())
    return right / len(test)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("--recur", default="build/recur")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--forget-bias", type=float, default=2.0, help="added to PyTorch's forget-gate b_ih (recur train's audio init)")
    ap.add_argument("--patience", type=int, default=2, help="halve the PyTorch lr after N epochs without a better valid loss")
    ap.add_argument("--templates", type=int, default=8, help="DTW templates per word")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--unidirectional", action="store_true", help="both LSTMs one direction (what listen reads per frame)")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-dtw", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--model", help="keep recur's model in this file (for recur predict and listen)")
    a = ap.parse_args()
    words, trf = files_of(os.path.join(a.data, "train"))
    _, tef = files_of(os.path.join(a.data, "test"))
    res = {"train_files": len(trf), "test_files": len(tef), "words": len(words)}
    with tempfile.TemporaryDirectory() as work:
        model = a.model or os.path.join(work, "speech.safetensors")
        t0 = time.time()
        cmd = [a.recur, "train", os.path.join(a.data, "train"), "--test-dir", os.path.join(a.data, "test"),
               "--hidden", str(a.hidden), "--epochs", str(a.epochs), "--batch", str(a.batch), "--lr", str(a.lr),
               "--seed", str(a.seed), "--threads", str(a.threads), "-o", model,
               "--unidirectional" if a.unidirectional else "--bidirectional"]
        c0 = os.times()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        c1 = os.times()
        res["recur_train_s"] = time.time() - t0
        res["recur_cpu_s"] = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
        res["recur_command"] = " ".join(cmd)
        res["recur"] = float(re.search(r"on the \d+ test sequences accuracy ([0-9.]+)%", out).group(1)) / 100
        tr = features(a.recur, trf, work, "train")
        te = features(a.recur, tef, work, "test")
    ytr, yte = [y for _, y in trf], [y for _, y in tef]
    allf = np.concatenate(tr)
    mu, sd = allf.mean(0), allf.std(0) + 1e-5
    tr = [((x - mu) / sd).astype(np.float32) for x in tr]
    te = [((x - mu) / sd).astype(np.float32) for x in te]
    rng = np.random.default_rng(a.seed)
    perm = rng.permutation(len(tr))
    nv = len(tr) // 10
    va_i, tr_i = perm[:nv], perm[nv:]
    if not a.skip_torch:
        acc, secs = torch_lstm([tr[i] for i in tr_i], [ytr[i] for i in tr_i], [tr[i] for i in va_i],
                               [ytr[i] for i in va_i], te, yte, len(words), a)
        res["torch"], res["torch_cpu_s"] = acc, secs
    if not a.skip_dtw:
        t0 = time.time()
        res["dtw"] = dtw_nn(tr, ytr, te, yte, len(words), a.templates, a.seed)
        res["dtw_s"] = time.time() - t0
    print("| system (held-out voices, %d test files, %d words) | accuracy | train CPU s |" % (len(tef), len(words)))
    print("|---|--:|--:|")
    print("| recur (%s LSTM-%d, %d epochs) | %.1f%% | %.0f |" % (
        "unidirectional" if a.unidirectional else "bidirectional", a.hidden, a.epochs, 100 * res["recur"],
        res["recur_cpu_s"]))
    if "torch" in res:
        print("| PyTorch, same model and training | %.1f%% | %.0f |" % (100 * res["torch"], res["torch_cpu_s"]))
    if "dtw" in res:
        print("| DTW nearest neighbour, %d templates per word | %.1f%% | - |" % (a.templates, 100 * res["dtw"]))
    if a.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
