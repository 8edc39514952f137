#!/usr/bin/python3
"""PyTorch side of `make bench`.

Run by build/bench/bench, once per thread count:

    /usr/bin/python3 bench/torch_ref.py --threads N SPEC.json

SPEC.json (written by build/bench/bench) holds the names data exactly as recur
sees it (shuffled order, token ids, labels, the vocabulary) and the jobs:
names training, single-name latency, bulk inference and kernel rows. The
thread count of every library is pinned before torch is imported. Output:
JSON lines on stdout, one {"info": ...} first and then one per job;
progress goes to stderr. The trial protocol is the one of bench/util.c:
warm-up of at least warm_s seconds (and two calls), then `trials` trials of
reps = ceil(trial_s / time of one call) calls.
"""
import json
import math
import os
import sys
import time


def parse_args(argv):
    threads, spec = None, None
    i = 0
    while i < len(argv):
        if argv[i] == "--threads" and i + 1 < len(argv):
            threads = int(argv[i + 1])
            i += 2
        else:
            spec = argv[i]
            i += 1
    if threads is None or spec is None:
        sys.exit("usage: torch_ref.py --threads N SPEC.json")
    return threads, spec


THREADS, SPEC_PATH = parse_args(sys.argv[1:])
# Before torch (and the OpenBLAS and OpenMP it loads) reads them.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(THREADS)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


T0 = time.perf_counter()


def log(msg):
    sys.stderr.write("[torch %5.1fs] %s\n" % (time.perf_counter() - T0, msg))
    sys.stderr.flush()


try:
    import unicodedata

    import torch
    import torch.nn as nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
except Exception as e:  # noqa: BLE001 - any import failure skips the side
    emit({"error": "import torch failed: %s: %s" % (type(e).__name__, e)})
    sys.exit(0)

torch.set_num_threads(THREADS)


def blas_info():
    """Thread count and core of the OpenBLAS loaded in this process."""
    import ctypes

    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if len(line.split()) >= 6 else ""
                if ("blas" in p) and p not in paths:
                    paths.append(p)
    except OSError:
        pass
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
            n = lib.openblas_get_num_threads()
            lib.openblas_get_corename.restype = ctypes.c_char_p
            core = lib.openblas_get_corename().decode()
            return {"lib": p, "threads": n, "core": core}
        except (OSError, AttributeError):
            continue
    return {"lib": ",".join(paths) or None, "threads": None, "core": None}


with open(SPEC_PATH) as f:
    SPEC = json.load(f)

TRIALS = SPEC["trials"]
TRIAL_S = SPEC["trial_s"]
WARM_S = SPEC["warm_s"]
E = SPEC["embed"]
TRAIN_BATCH = SPEC["train_batch"]
BULK_BATCH = SPEC["bulk_batch"]
KB, KI = SPEC["kernel_batch"], SPEC["kernel_input"]
NAMES = SPEC.get("names") or []
IDS = SPEC.get("ids") or []
LABEL = SPEC.get("label") or []
LABELS = SPEC.get("labels") or []
VOCAB = SPEC.get("vocab") or []
STOI = {s: i for i, s in enumerate(VOCAB) if i >= 2}
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}

torch.manual_seed(SPEC["seed"])


def make_rnn(cell, inp, hidden):
    if cell == "lstm":
        return nn.LSTM(inp, hidden)
    if cell == "gru":
        return nn.GRU(inp, hidden)
    return nn.RNN(inp, hidden, nonlinearity="relu" if cell == "rnn_relu" else "tanh")


class Classifier(nn.Module):
    """Embedding -> RNN/LSTM/GRU on packed batches -> linear on the final state."""

    def __init__(self, cell, vocab, hidden, classes):
        super().__init__()
        self.embed = nn.Embedding(vocab, E)
        self.rnn = make_rnn(cell, E, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x, lengths):
        # x: [T, B] token ids, padded; lengths: [B] int64 on the CPU.
        packed = pack_padded_sequence(self.embed(x), lengths, enforce_sorted=False)
        _, h = self.rnn(packed)
        if isinstance(h, tuple):
            h = h[0]
        return self.out(h[-1])

    def classify_one(self, ids):
        # A single name: [T] ids -> [T, 1, E], no packing needed.
        _, h = self.rnn(self.embed(ids).unsqueeze(1))
        if isinstance(h, tuple):
            h = h[0]
        return self.out(h[-1])


def encode(name):
    """String to ids: NFC (as recur's vocabulary does) and a dict lookup."""
    return torch.tensor([STOI.get(c, 0) for c in unicodedata.normalize("NFC", name)], dtype=torch.long)


def fwd_flops(cell, hidden, tokens, names):
    g = GATES[cell]
    return 2.0 * g * hidden * (E + hidden) * tokens + 2.0 * hidden * len(LABELS) * names


def measure(call, trial_s=None, max_reps=0):
    """The trial protocol; call() returns (units, flops) of one call."""
    trial_s = TRIAL_S if trial_s is None else trial_s
    t0 = time.perf_counter()
    calls, last = 0, 0.0
    while calls < 2 or time.perf_counter() - t0 < WARM_S:
        t = time.perf_counter()
        call()
        last = time.perf_counter() - t
        calls += 1
    reps = max(1, math.ceil(trial_s / max(last, 1e-9)))
    if max_reps > 0:
        reps = min(reps, max_reps)
    rates, gflops, units = [], [], 0.0
    for _ in range(TRIALS):
        units = flops = 0.0
        t = time.perf_counter()
        for _ in range(reps):
            u, f = call()
            units += u
            flops += f
        dt = time.perf_counter() - t
        rates.append(units / dt)
        gflops.append(flops / dt * 1e-9)
    return {"rates": rates, "gflops": gflops, "units": units, "reps": reps}


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def percentile(v, p):
    s = sorted(v)
    pos = p / 100.0 * (len(s) - 1)
    i = int(pos)
    if i >= len(s) - 1:
        return s[-1]
    f = pos - i
    return s[i] * (1 - f) + s[i + 1] * f


def train_job(job):
    cell, hidden = job["cell"], job["hidden"]
    model = Classifier(cell, len(VOCAB), hidden, len(LABELS))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    params = list(model.parameters())
    # Batches built once, as a DataLoader with a padding collate would
    # (recur's batches are built once too): same names, same order.
    batches = []
    for k in range(len(NAMES) // TRAIN_BATCH):
        sl = range(k * TRAIN_BATCH, (k + 1) * TRAIN_BATCH)
        seqs = [torch.tensor(IDS[i], dtype=torch.long) for i in sl]
        lengths = torch.tensor([len(IDS[i]) for i in sl], dtype=torch.long)
        y = torch.tensor([LABEL[i] for i in sl], dtype=torch.long)
        batches.append((pad_sequence(seqs), lengths, y, int(lengths.sum())))
    state = {"next": 0}

    def call():
        x, lengths, y, tokens = batches[state["next"]]
        state["next"] = (state["next"] + 1) % len(batches)
        loss = loss_fn(model(x, lengths), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 5.0)  # recur's default clip
        opt.step()
        return TRAIN_BATCH, 3.0 * fwd_flops(cell, hidden, tokens, TRAIN_BATCH)

    return measure(call)


def reduced(model, job):
    """recur's int8 rows against torch.ao.quantization.quantize_dynamic with
    qint8 weights (LSTM, GRU and Linear; the build's quantized engine), its
    bf16 rows against the whole module in bfloat16 (dynamic quantization
    has no bfloat16, and its float16 is not supported by the oneDNN engine);
    f32 rows unchanged."""
    dt = job.get("dtype", "f32")
    if dt == "f32":
        return model
    if dt == "bf16":
        return model.to(torch.bfloat16)
    return torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)


def latency_job(job):
    model = Classifier(job["cell"], len(VOCAB), job["hidden"], len(LABELS))
    model.eval()
    model = reduced(model, job)
    n = len(NAMES)
    state = {"next": 0}
    sink = None
    with torch.inference_mode():

        def one():
            name = NAMES[state["next"] % n]
            state["next"] += 1
            return LABELS[int(model.classify_one(encode(name)).argmax(1))]

        t0 = time.perf_counter()
        calls, total = 0, 0.0
        while calls < 20 or time.perf_counter() - t0 < WARM_S:
            t = time.perf_counter()
            sink = one()
            total += time.perf_counter() - t
            calls += 1
        reps = min(200000, max(SPEC["latency_min_calls"], math.ceil(TRIAL_S / (total / calls))))
        p50, p99 = [], []
        for _ in range(TRIALS):
            v = []
            for _ in range(reps):
                t = time.perf_counter()
                sink = one()
                v.append((time.perf_counter() - t) * 1e6)
            p50.append(percentile(v, 50))
            p99.append(percentile(v, 99))
    del sink
    return {"p50": p50, "p99": p99, "calls": reps}


def bulk_job(job):
    cell, hidden = job["cell"], job["hidden"]
    model = Classifier(cell, len(VOCAB), hidden, len(LABELS))
    model.eval()
    model = reduced(model, job)
    n = len(NAMES)
    stream = SPEC["bulk_names"]
    state = {"next": 0}
    with torch.inference_mode():

        def call():
            start = state["next"]
            state["next"] = (start + BULK_BATCH) % stream
            names = [NAMES[(start + i) % stream % n] for i in range(BULK_BATCH)]
            seqs = [encode(s) for s in names]
            lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
            logits = model(pad_sequence(seqs), lengths)
            out = [LABELS[i] for i in logits.argmax(1).tolist()]
            return len(out), fwd_flops(cell, hidden, int(lengths.sum()), BULK_BATCH)

        max_reps = (stream + BULK_BATCH - 1) // BULK_BATCH
        trial_s = 1e9 if SPEC["bulk_full"] else SPEC["bulk_trial_s"]
        return measure(call, trial_s, max_reps)


def kernel_job(job):
    cell, hidden, steps, fwdbwd = job["cell"], job["hidden"], job["steps"], job["fwdbwd"]
    rnn = make_rnn(cell, KI, hidden)
    x = torch.rand(steps, KB, KI) - 0.5
    dy = torch.rand(steps, KB, hidden) - 0.5
    flops = 2.0 * KB * GATES[cell] * hidden * (KI + hidden) * steps * (3 if fwdbwd else 1)

    if fwdbwd:

        def call():
            rnn.zero_grad(set_to_none=True)
            y, _ = rnn(x)
            y.backward(dy)
            return flops * 1e-9, flops

        return measure(call)

    def call_fwd():
        with torch.inference_mode():
            rnn(x)
        return flops * 1e-9, flops

    return measure(call_fwd)


TASK_B, TASK_F, TASK_CLS = 64, 16, 8


def task_job(job):
    """Dense-input training in steps/s, as bench/task.c: LSTM, F = 16,
    batch 64 of lengths 16 + (i * 7) % 33, standardised input, Adam and
    clip 5; regress: final state -> Linear(H, 1) -> MSELoss; tag: every
    valid step -> Linear(H, 8) -> CrossEntropyLoss."""
    from torch.nn.utils.rnn import pad_packed_sequence
    cell, hidden, tag = job["cell"], job["hidden"], job["steps"] == 1
    lengths = torch.tensor([16 + (i * 7) % 33 for i in range(TASK_B)], dtype=torch.long)
    T = int(lengths.max())
    g = torch.Generator().manual_seed(7)
    x = torch.rand((T, TASK_B, TASK_F), generator=g) * 4 - 1
    mask = torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)  # [T, B] valid steps
    x = x * mask.unsqueeze(2)
    mean, std = x[mask].mean(0), x[mask].std(0, unbiased=False)
    rnn = make_rnn(cell, TASK_F, hidden)
    out = nn.Linear(hidden, TASK_CLS if tag else 1)
    params = list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    labels = (torch.arange(T * TASK_B).reshape(T, TASK_B) % TASK_CLS)[mask]
    y = (torch.arange(TASK_B, dtype=torch.float32) / TASK_B).unsqueeze(1)
    steps = int(lengths.sum())

    def call():
        packed = pack_padded_sequence((x - mean) / std, lengths, enforce_sorted=False)
        ys, hn = rnn(packed)
        if tag:
            ys, _ = pad_packed_sequence(ys, total_length=T)
            loss = nn.functional.cross_entropy(out(ys[mask]), labels)
        else:
            h = hn[0] if isinstance(hn, tuple) else hn
            loss = nn.functional.mse_loss(out(h[-1]), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        return steps, 0.0

    return measure(call)


def cpu_capability():
    """The vector level of PyTorch's own kernels, as its build reports it."""
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage" in line:
            return line.split(":", 1)[1].strip()
    return None


def check_encoding():
    """How many names dict-lookup encoding maps differently from recur's."""
    bad = 0
    for name, ids in zip(NAMES, IDS):
        if encode(name).tolist() != ids:
            bad += 1
    return bad


def main():
    info = {
        "torch": torch.__version__,
        "threads": THREADS,
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE")},
        "openblas": blas_info(),
        "cpu_capability": cpu_capability(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "python": sys.version.split()[0],
        "encoding_mismatches": check_encoding() if NAMES else None,
    }
    emit({"info": info})
    runners = {"train": train_job, "latency": latency_job, "bulk": bulk_job, "kernel": kernel_job,
               "task": task_job}
    for job in SPEC["jobs"]:
        if job["threads"] != THREADS:
            continue
        try:
            res = runners[job["section"]](job)
        except Exception as e:  # noqa: BLE001 - report, go on with the next
            emit({"job": job["id"], "error": "%s: %s" % (type(e).__name__, e)})
            continue
        res["job"] = job["id"]
        emit(res)
        if "p50" in res:
            log("%s: median %.1f us, p99 %.1f us" % (job["id"], median(res["p50"]), median(res["p99"])))
        else:
            log("%s: %.1f (%.1f GFLOP/s)" % (job["id"], median(res["rates"]), median(res["gflops"])))


if __name__ == "__main__":
    main()
