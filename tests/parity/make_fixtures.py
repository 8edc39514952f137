#!/usr/bin/env python3
"""Generate the PyTorch reference fixtures in tests/fixtures/.

usage: /usr/bin/python3 tests/parity/make_fixtures.py [--out DIR]

Every weight and input is drawn as a float32 value; the PyTorch modules then
run in float64, so the stored expectations (rounded to float32) are exact
references for float32 code. Each fixture has its own fixed seed (from its
name), and the output is byte-for-byte reproducible. See README.md.
"""

import argparse
import os
import sys
import zlib

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_check import (Classifier, Generator, TaskModel, make_rnn,  # noqa: E402
                         write_safetensors)


def seed_for(name):
    return zlib.crc32(name.encode("ascii"))


def f32(t):
    return t.detach().to(torch.float32).numpy().copy()


def i32(values):
    return np.asarray(values, dtype=np.int32)


def draw_params(module, low, high):
    """float32 U(low, high) for every parameter, in state-dict order."""
    return {name: torch.empty(p.shape, dtype=torch.float32).uniform_(low, high)
            for name, p in module.named_parameters()}


def load_double(module, params):
    module.double()
    module.load_state_dict({k: v.double() for k, v in params.items()}, strict=True)


# ---------------------------------------------------------------------------
# Dense stacks: nn.RNN / nn.LSTM / nn.GRU on a packed, unsorted batch
# ---------------------------------------------------------------------------

STACK_I, STACK_H, STACK_T, STACK_B = 5, 4, 6, 4
STACK_LENGTHS = [6, 1, 4, 6]


def stack_fixture(cell, L, bi):
    name = "stack_%s_l%d_%s" % (cell, L, "bi" if bi else "uni")
    I, H, T, B = STACK_I, STACK_H, STACK_T, STACK_B
    D = 2 if bi else 1
    lstm = cell == "lstm"
    lengths = torch.tensor(STACK_LENGTHS, dtype=torch.int64)
    mask = (torch.arange(T)[:, None] < lengths[None, :]).to(torch.float32)[:, :, None]

    rnn = make_rnn(cell, I, H, L, bi)
    torch.manual_seed(seed_for(name))
    params = draw_params(rnn, -0.5, 0.5)
    x = torch.randn(T, B, I) * mask
    h0 = torch.randn(L * D, B, H) * 0.5
    c0 = torch.randn(L * D, B, H) * 0.5 if lstm else None
    dy = torch.randn(T, B, D * H) * mask
    dhn = torch.randn(L * D, B, H)
    dcn = torch.randn(L * D, B, H) if lstm else None

    load_double(rnn, params)
    xd = x.double().requires_grad_()
    h0d = h0.double().requires_grad_()
    c0d = c0.double().requires_grad_() if lstm else None
    packed = pack_padded_sequence(xd, lengths, enforce_sorted=False)
    out, state = rnn(packed, (h0d, c0d) if lstm else h0d)
    y, _ = pad_packed_sequence(out, total_length=T)
    hn, cn = state if lstm else (state, None)
    loss = (y * dy.double()).sum() + (hn * dhn.double()).sum()
    if lstm:
        loss = loss + (cn * dcn.double()).sum()
    loss.backward()

    t = {k: f32(v) for k, v in params.items()}
    t["x"] = f32(x)
    t["lengths"] = i32(STACK_LENGTHS)
    t["h0"] = f32(h0)
    if lstm:
        t["c0"] = f32(c0)
    t["dy"] = f32(dy)
    t["dhn"] = f32(dhn)
    if lstm:
        t["dcn"] = f32(dcn)
    t["y"] = f32(y)
    t["hn"] = f32(hn)
    if lstm:
        t["cn"] = f32(cn)
    for k, p in rnn.named_parameters():
        t["grad." + k] = f32(p.grad)
    t["dx"] = f32(xd.grad)
    t["dh0"] = f32(h0d.grad)
    if lstm:
        t["dc0"] = f32(c0d.grad)
    meta = {"cell": cell, "input_size": I, "hidden": H, "layers": L,
            "bidirectional": int(bi), "T": T, "B": B}
    return name, t, meta


# ---------------------------------------------------------------------------
# Whole models with their loss
# ---------------------------------------------------------------------------

VOCAB, LABELS, HIDDEN = 7, 3, 4
CLASSIFY_LENGTHS = [3, 1, 5, 2]
GENERATE_LENGTHS = [2, 4, 1]
GENERATE_LABELS = [0, 2, 1]


def offsets_of(lengths):
    return [0] + list(np.cumsum(lengths).tolist())


def model_tensors(model, params, tokens, offsets, labels, logprobs, loss):
    loss.backward()
    t = {k: f32(v) for k, v in params.items()}
    t["input.tokens"] = i32(tokens)
    t["input.offsets"] = i32(offsets)
    t["input.labels"] = i32(labels)
    t["expect.logprobs"] = f32(logprobs)
    t["expect.loss"] = f32(loss.reshape(1))
    for k, p in model.named_parameters():
        t["expect.grad." + k] = f32(p.grad)
    return t


def classify_fixture(cell, variant):
    name = "model_classify_%s_%s" % (cell, variant)
    if variant == "emb":
        E, L, bi = 3, 1, False
    elif variant == "onehot_bi2":
        E, L, bi = 0, 2, True
    else:
        raise ValueError(variant)
    model = Classifier(cell, VOCAB, LABELS, HIDDEN, L, bi, E)
    torch.manual_seed(seed_for(name))
    params = draw_params(model, -0.6, 0.6)
    offsets = offsets_of(CLASSIFY_LENGTHS)
    tokens = torch.randint(0, VOCAB, (offsets[-1],)).tolist()
    # A shuffle of 0, 1, 2, 0: every label occurs.
    labels = (torch.randperm(len(CLASSIFY_LENGTHS)) % LABELS).tolist()

    load_double(model, params)
    logprobs, loss = model.loss(tokens, offsets, labels)
    t = model_tensors(model, params, tokens, offsets, labels, logprobs, loss)
    meta = {"task": "classify", "cell": cell, "hidden": HIDDEN, "layers": L,
            "bidirectional": int(bi), "embed": E, "label_embed": 0,
            "vocab_size": VOCAB, "num_labels": LABELS}
    return name, t, meta


def generate_fixture(cell, onehot):
    name = "model_generate_%s%s" % (cell, "_onehot" if onehot else "")
    E, LE, L = (0, 0, 2) if onehot else (3, 2, 1)
    model = Generator(cell, VOCAB, LABELS, HIDDEN, L, E, LE)
    torch.manual_seed(seed_for(name))
    params = draw_params(model, -0.6, 0.6)
    offsets = offsets_of(GENERATE_LENGTHS)
    tokens = torch.randint(2, VOCAB, (offsets[-1],)).tolist()
    labels = list(GENERATE_LABELS)

    load_double(model, params)
    logprobs, loss = model.loss(tokens, offsets, labels)
    t = model_tensors(model, params, tokens, offsets, labels, logprobs, loss)
    meta = {"task": "generate", "cell": cell, "hidden": HIDDEN, "layers": L,
            "bidirectional": 0, "embed": E, "label_embed": LE,
            "vocab_size": VOCAB, "num_labels": LABELS}
    return name, t, meta


# ---------------------------------------------------------------------------
# Tasks of format 2: tagging and regression, dense input (issue 16)
# ---------------------------------------------------------------------------

TASK_LENGTHS = [3, 1, 4, 2]
TASK_F, TASK_K = 3, 2

# name: (cell, layers, bidirectional, dense, head, target, loss)
TASKS = {
    "task_tag_lstm_dense_bi2": ("lstm", 2, True, True, "steps", "class", "nll"),
    "task_tag_gru_tokens_bi": ("gru", 1, True, False, "steps", "class", "nll"),
    "task_regress_gru_dense_final_bi2": ("gru", 2, True, True, "final", "real", "mse"),
    "task_regress_lstm_dense_steps_l2": ("lstm", 2, False, True, "steps", "real", "mse"),
    "task_regress_rnn_tanh_dense_steps_huber_bi2": ("rnn_tanh", 2, True, True, "steps", "real", "huber"),
    "task_classify_lstm_dense": ("lstm", 1, False, True, "final", "class", "nll"),
}


def task_fixture(name):
    cell, L, bi, dense, head, target, loss = TASKS[name]
    E = 0 if dense else 3
    delta = 0.5
    model = TaskModel(cell, HIDDEN, L, bi, dense, TASK_F if dense else 0, VOCAB, E, head,
                      target, TASK_K if target == "real" else 0, LABELS, loss, delta)
    torch.manual_seed(seed_for(name))
    params = draw_params(model, -0.6, 0.6)
    offsets = offsets_of(TASK_LENGTHS)
    S, n = offsets[-1], len(TASK_LENGTHS)
    t = {}
    if dense:
        feats = torch.empty((S, TASK_F), dtype=torch.float32).uniform_(-2, 3)
        mean = torch.empty(TASK_F, dtype=torch.float32).uniform_(-1, 1)
        std = torch.empty(TASK_F, dtype=torch.float32).uniform_(0.5, 2)
        model.input_norm.mean.copy_(mean)
        model.input_norm.std.copy_(std)
        inputs = feats
    else:
        inputs = torch.randint(0, VOCAB, (S,))
    rows = S if head == "steps" else n
    if target == "real":
        truth = torch.empty((rows, TASK_K), dtype=torch.float32).uniform_(-1.5, 1.5)
    elif head == "steps":
        truth = torch.randint(0, LABELS, (S,))
        truth[2] = -1  # not scored (ignore_index)
    else:
        truth = torch.randperm(n) % LABELS
    model.double()
    model.load_state_dict({**{k: v.double() for k, v in params.items()},
                           **({"input_norm.mean": mean.double(), "input_norm.std": std.double()}
                              if dense else {})}, strict=True)
    x = inputs.double() if dense else inputs
    out, lossv = model.loss(x, offsets, truth.double() if target == "real" else truth)
    lossv.backward()
    t.update({k: f32(v) for k, v in params.items()})
    if dense:
        t["input_norm.mean"] = f32(mean)
        t["input_norm.std"] = f32(std)
        t["input.features"] = f32(feats)
    else:
        t["input.tokens"] = i32(inputs.tolist())
    t["input.offsets"] = i32(offsets)
    if target == "real":
        t["input.targets"] = f32(truth)
    elif head == "steps":
        t["input.step_labels"] = i32(truth.tolist())
    else:
        t["input.labels"] = i32(truth.tolist())
    t["expect.outputs"] = f32(out)
    t["expect.loss"] = f32(lossv.reshape(1))
    for k, p in model.named_parameters():
        t["expect.grad." + k] = f32(p.grad)
    meta = {"cell": cell, "hidden": HIDDEN, "layers": L, "bidirectional": int(bi),
            "input": "dense" if dense else "tokens", "input_size": TASK_F if dense else 0,
            "embed": E, "head": head, "target": target, "outputs": TASK_K if target == "real" else 0,
            "loss": loss, "huber_delta": delta, "vocab_size": VOCAB,
            "num_labels": 0 if target == "real" else LABELS}
    return name, t, meta


# ---------------------------------------------------------------------------
# Optimisers: torch.optim.SGD / Adam and clip_grad_norm_ over a few steps
# ---------------------------------------------------------------------------

def optim_fixture():
    """Three steps of each optimiser on one float32 vector with given grads.
    Runs in float32, as recur does: the comparison is bit-close, not exact."""
    name = "optim_steps"
    torch.manual_seed(seed_for(name))
    n, steps = 37, 3
    w0 = torch.empty(n, dtype=torch.float32).uniform_(-1, 1)
    grads = torch.randn(steps, n, dtype=torch.float32)
    t = {"w0": f32(w0), "grads": f32(grads)}
    configs = {
        "sgd": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01),
        "sgd_plain": lambda p: torch.optim.SGD([p], lr=0.1),
        "adam": lambda p: torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8,
                                           weight_decay=0.01),
    }
    for key, make in configs.items():
        p = torch.nn.Parameter(w0.clone())
        opt = make(p)
        for s in range(steps):
            p.grad = grads[s].clone()
            if key == "adam":
                torch.nn.utils.clip_grad_norm_([p], max_norm=2.0)
            opt.step()
            t["expect.%s.step%d" % (key, s + 1)] = f32(p)
    meta = {"n": n, "steps": steps, "clip_adam": "2.0"}
    return name, t, meta


def all_fixtures():
    for cell in ("rnn_tanh", "rnn_relu", "lstm", "gru"):
        for L in (1, 2):
            for bi in (False, True):
                yield lambda c=cell, n=L, b=bi: stack_fixture(c, n, b)
    for cell in ("lstm", "gru", "rnn_tanh"):
        for variant in ("emb", "onehot_bi2"):
            yield lambda c=cell, v=variant: classify_fixture(c, v)
    for cell in ("lstm", "gru", "rnn_tanh"):
        yield lambda c=cell: generate_fixture(c, False)
    yield lambda: generate_fixture("gru", True)
    yield optim_fixture
    for name in TASKS:
        yield lambda n=name: task_fixture(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "..", "fixtures"),
                    help="output folder (default: tests/fixtures)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for make in all_fixtures():
        name, tensors, meta = make()
        path = os.path.join(args.out, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        size = os.path.getsize(path)
        total += size
        print("%7d  %s" % (size, os.path.relpath(path)))
    print("%7d  total" % total)


if __name__ == "__main__":
    main()
