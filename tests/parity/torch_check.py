#!/usr/bin/env python3
"""Check a recur model file against PyTorch.

usage: torch_check.py MODEL.safetensors EXPECT.safetensors

MODEL is a model file written by recur (PyTorch state-dict names, metadata
"task", "cell", "hidden", "layers", "bidirectional", "embed", "label_embed",
"labels" and "vocab"; format 2 adds "input", "input_size", "head",
"target", "outputs", "loss", "huber_delta"; tensors named "optim.*" are
ignored). EXPECT holds "input.tokens", "input.offsets", "input.labels" and
"expect.logprobs"; for tag, regress and dense-input models "input.tokens"
or "input.features" [S, F], "input.offsets" and "expect.outputs". The
script builds the matching PyTorch module, loads the weights with
load_state_dict(strict=True), runs it in float32 on the inputs and compares
the log-probabilities (or outputs) with the expected ones.

Prints one line with the largest absolute difference. Exit status: 0 when
it is at most 1e-4, 1 when it is larger (or the weights do not fit the
module), 2 on a usage, file or format error.

Also a module: make_fixtures.py imports the safetensors reader/writer and
the Classifier/Generator definitions from here.
"""

import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

TOLERANCE = 1e-4

# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------

_DTYPES = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
}


class FormatError(Exception):
    pass


def write_safetensors(path, tensors, metadata=None):
    """Write tensors (name -> numpy array of float32 or int32, in order) to path.

    The data section holds the tensors in the order given, without gaps; the
    JSON header is padded with spaces to a multiple of 8 bytes."""
    header = {}
    chunks = []
    offset = 0
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        if arr.dtype == np.float32:
            dtype = "F32"
        elif arr.dtype == np.int32:
            dtype = "I32"
        else:
            raise ValueError("%s: unsupported dtype %s" % (name, arr.dtype))
        data = np.ascontiguousarray(arr, dtype=_DTYPES[dtype]).tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": [int(d) for d in arr.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def read_safetensors(path):
    """Return (tensors, metadata): name -> numpy array, str -> str.

    Strict: the tensors must tile the data section exactly."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise FormatError("%s: shorter than 8 bytes" % path)
    (n,) = struct.unpack_from("<Q", blob, 0)
    if n > len(blob) - 8:
        raise FormatError("%s: header length %d past the end of the file" % (path, n))
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError("%s: bad JSON header: %s" % (path, e))
    if not isinstance(header, dict):
        raise FormatError("%s: header is not a JSON object" % path)
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise FormatError("%s: __metadata__ must map strings to strings" % path)
    tensors = {}
    spans = []
    for name, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = [int(d) for d in info["shape"]]
            begin, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise FormatError("%s: bad entry for tensor %r" % (path, name))
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if any(d < 0 for d in shape) or not 0 <= begin <= end <= len(data) \
                or end - begin != count * dtype.itemsize:
            raise FormatError("%s: tensor %r: offsets %d..%d do not fit shape %s"
                              % (path, name, begin, end, shape))
        tensors[name] = np.frombuffer(data, dtype=dtype, count=count,
                                      offset=begin).reshape(shape)
        spans.append((begin, end, name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise FormatError("%s: tensor %r starts at %d, expected %d (gap or overlap)"
                              % (path, name, begin, pos))
        pos = end
    if pos != len(data):
        raise FormatError("%s: data section is %d bytes, tensors cover %d"
                          % (path, len(data), pos))
    return tensors, metadata


# ---------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


def make_rnn(cell, input_size, hidden, layers, bidirectional):
    kw = dict(input_size=input_size, hidden_size=hidden, num_layers=layers,
              bidirectional=bool(bidirectional), batch_first=False, dropout=0.0)
    if cell == "rnn_tanh":
        return nn.RNN(nonlinearity="tanh", **kw)
    if cell == "rnn_relu":
        return nn.RNN(nonlinearity="relu", **kw)
    if cell == "lstm":
        return nn.LSTM(**kw)
    if cell == "gru":
        return nn.GRU(**kw)
    raise ValueError("unknown cell %r" % (cell,))


def _lengths(offsets):
    offsets = torch.as_tensor(offsets, dtype=torch.int64)
    return offsets[1:] - offsets[:-1]


def _pad(seqs, fill=0):
    """List of 1-D int64 tensors -> [T, n] int64, padded with fill."""
    T = max(len(s) for s in seqs)
    out = torch.full((T, len(seqs)), fill, dtype=torch.int64)
    for b, s in enumerate(seqs):
        out[:len(s), b] = s
    return out


class Classifier(nn.Module):
    """tokens -> embedding or one-hot -> rnn -> final state(s) of the last
    layer -> linear -> log_softmax (one label per sequence)."""

    def __init__(self, cell, vocab_size, num_labels, hidden, layers=1,
                 bidirectional=False, embed=0):
        super().__init__()
        self.vocab_size = vocab_size
        self.bidirectional = bool(bidirectional)
        if embed > 0:
            self.embed = nn.Embedding(vocab_size, embed)
        else:
            self.embed = None
        in_size = embed if embed > 0 else vocab_size
        D = 2 if bidirectional else 1
        self.rnn = make_rnn(cell, in_size, hidden, layers, bidirectional)
        self.out = nn.Linear(D * hidden, num_labels)

    def _symbols(self, ids):
        if self.embed is not None:
            return self.embed(ids)
        return F.one_hot(ids, self.vocab_size).to(self.out.weight.dtype)

    def forward(self, tokens, offsets):
        """tokens: concatenated ids; offsets [n+1]. Returns log-probs [n, C]."""
        tokens = torch.as_tensor(tokens, dtype=torch.int64)
        offsets = torch.as_tensor(offsets, dtype=torch.int64)
        lengths = _lengths(offsets)
        seqs = [tokens[offsets[b]:offsets[b + 1]] for b in range(len(lengths))]
        x = self._symbols(_pad(seqs))
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        _, hn = self.rnn(packed)
        if isinstance(hn, tuple):
            hn = hn[0]
        if self.bidirectional:
            h = torch.cat((hn[-2], hn[-1]), dim=1)
        else:
            h = hn[-1]
        return F.log_softmax(self.out(h), dim=1)

    def loss(self, tokens, offsets, labels):
        logprobs = self.forward(tokens, offsets)
        labels = torch.as_tensor(labels, dtype=torch.int64)
        return logprobs, F.nll_loss(logprobs, labels)


class Generator(nn.Module):
    """Next-symbol model conditioned on a label. For a sequence s_0..s_{n-1}
    with label l the inputs are [1, s_0, ..., s_{n-1}] (1 = boundary), the
    targets [s_0, ..., s_{n-1}, 1]; the input vector at each step is
    cat(symbol vector, label vector)."""

    BOUNDARY = 1

    def __init__(self, cell, vocab_size, num_labels, hidden, layers=1,
                 embed=0, label_embed=0):
        super().__init__()
        self.vocab_size = vocab_size
        self.num_labels = num_labels
        self.embed = nn.Embedding(vocab_size, embed) if embed > 0 else None
        self.label_embed = (nn.Embedding(num_labels, label_embed)
                            if label_embed > 0 else None)
        in_size = (embed if embed > 0 else vocab_size) + \
                  (label_embed if label_embed > 0 else num_labels)
        self.rnn = make_rnn(cell, in_size, hidden, layers, False)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, tokens, offsets, labels):
        """Returns (log-probs [sum(len+1), V] in sequence order, targets)."""
        tokens = torch.as_tensor(tokens, dtype=torch.int64)
        offsets = torch.as_tensor(offsets, dtype=torch.int64)
        labels = torch.as_tensor(labels, dtype=torch.int64)
        lengths = _lengths(offsets) + 1
        bound = torch.tensor([self.BOUNDARY], dtype=torch.int64)
        seqs = [tokens[offsets[b]:offsets[b + 1]] for b in range(len(lengths))]
        inputs = _pad([torch.cat((bound, s)) for s in seqs])
        targets = torch.cat([torch.cat((s, bound)) for s in seqs])
        dtype = self.out.weight.dtype
        if self.embed is not None:
            sym = self.embed(inputs)
        else:
            sym = F.one_hot(inputs, self.vocab_size).to(dtype)
        if self.label_embed is not None:
            lab = self.label_embed(labels)
        else:
            lab = F.one_hot(labels, self.num_labels).to(dtype)
        lab = lab.unsqueeze(0).expand(inputs.shape[0], -1, -1)
        x = torch.cat((sym, lab), dim=2)
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        y, _ = self.rnn(packed)
        y, _ = pad_packed_sequence(y, total_length=inputs.shape[0])
        steps = torch.cat([y[:int(lengths[b]), b] for b in range(len(lengths))])
        return F.log_softmax(self.out(steps), dim=1), targets

    def loss(self, tokens, offsets, labels):
        logprobs, targets = self.forward(tokens, offsets, labels)
        return logprobs, F.nll_loss(logprobs, targets)


class InputNorm(nn.Module):
    """The dense input's standardisation: buffers, not parameters, so that
    load_state_dict takes input_norm.mean / input_norm.std."""

    def __init__(self, features):
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def forward(self, x):
        return (x - self.mean) / self.std


class TaskModel(nn.Module):
    """recur's format-2 models (docs/FORMAT.md 2.6, 2.7): input tokens
    (embedding or one-hot) or dense features (standardised by input_norm),
    head on the final state(s) or on every step, target a class or K reals,
    loss CrossEntropy (nll of log_softmax), MSELoss or HuberLoss, each with
    reduction "mean" over the valid (unpadded) steps."""

    def __init__(self, cell, hidden, layers=1, bidirectional=False, dense=False,
                 input_size=0, vocab_size=0, embed=0, head="final", target="class",
                 outputs=0, num_labels=0, loss="nll", huber_delta=1.0):
        super().__init__()
        self.dense, self.vocab_size = dense, vocab_size
        self.bidirectional = bool(bidirectional)
        self.head, self.target, self.loss_kind = head, target, loss
        self.huber_delta = huber_delta
        self.embed = nn.Embedding(vocab_size, embed) if not dense and embed > 0 else None
        if dense:
            self.input_norm = InputNorm(input_size)
            in_size = input_size
        else:
            in_size = embed if embed > 0 else vocab_size
        D = 2 if bidirectional else 1
        self.rnn = make_rnn(cell, in_size, hidden, layers, bidirectional)
        self.out = nn.Linear(D * hidden, outputs if target == "real" else num_labels)

    def forward(self, inputs, offsets):
        """inputs: token ids [S] or features [S, F]; offsets [n+1]. Returns
        the head's rows: [n, C] (final) or [S, C] (steps, in offsets order);
        log-probabilities for classes, values for real targets."""
        offsets = torch.as_tensor(offsets, dtype=torch.int64)
        lengths = _lengths(offsets)
        n = len(lengths)
        if self.dense:
            x = self.input_norm(torch.as_tensor(inputs, dtype=self.out.weight.dtype))
            T = int(lengths.max())
            pad = torch.zeros((T, n, x.shape[1]), dtype=x.dtype)
            for b in range(n):
                pad[:int(lengths[b]), b] = x[offsets[b]:offsets[b + 1]]
        else:
            tokens = torch.as_tensor(inputs, dtype=torch.int64)
            ids = _pad([tokens[offsets[b]:offsets[b + 1]] for b in range(n)])
            pad = (self.embed(ids) if self.embed is not None
                   else F.one_hot(ids, self.vocab_size).to(self.out.weight.dtype))
        packed = pack_padded_sequence(pad, lengths, enforce_sorted=False)
        y, hn = self.rnn(packed)
        if self.head == "steps":
            y, _ = pad_packed_sequence(y)
            h = torch.cat([y[:int(lengths[b]), b] for b in range(n)])
        else:
            if isinstance(hn, tuple):
                hn = hn[0]
            h = torch.cat((hn[-2], hn[-1]), dim=1) if self.bidirectional else hn[-1]
        z = self.out(h)
        return z if self.target == "real" else F.log_softmax(z, dim=1)

    def loss(self, inputs, offsets, truth):
        """truth: labels [n] or step labels [S] (-1: not scored), or targets
        [rows, K]. Returns (outputs, mean loss)."""
        out = self.forward(inputs, offsets)
        if self.target != "real":
            return out, F.nll_loss(out, torch.as_tensor(truth, dtype=torch.int64), ignore_index=-1)
        t = torch.as_tensor(truth, dtype=out.dtype).reshape(out.shape)
        if self.loss_kind == "huber":
            return out, F.huber_loss(out, t, delta=self.huber_delta)
        return out, F.mse_loss(out, t)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _meta_int(meta, key, default=None):
    if key not in meta:
        if default is None:
            raise FormatError("metadata lacks %r" % key)
        return default
    try:
        return int(meta[key])
    except ValueError:
        raise FormatError("metadata %r = %r is not an integer" % (key, meta[key]))


def _meta_list(meta, key, count_key):
    """Length of the JSON array meta[key], else int(meta[count_key])."""
    if key in meta:
        try:
            items = json.loads(meta[key])
        except ValueError:
            raise FormatError("metadata %r is not JSON" % key)
        if not isinstance(items, list):
            raise FormatError("metadata %r is not a JSON array" % key)
        return len(items)
    if count_key in meta:
        return None
    raise FormatError("metadata lacks %r" % key)


def build_model(meta):
    """The PyTorch module described by a recur model file's metadata."""
    task = meta.get("task")
    cell = meta.get("cell")
    if cell not in CELLS:
        raise FormatError("metadata cell %r is not one of %s" % (cell, ", ".join(CELLS)))
    dense = meta.get("input") == "dense"
    n_vocab = _meta_list(meta, "vocab", "vocab_size") if not dense or "vocab" in meta else None
    V = 2 + n_vocab if n_vocab is not None else _meta_int(meta, "vocab_size", 0 if dense else None)
    n_labels = _meta_list(meta, "labels", "num_labels")
    C = n_labels if n_labels is not None else _meta_int(meta, "num_labels")
    hidden = _meta_int(meta, "hidden")
    layers = _meta_int(meta, "layers")
    bidirectional = _meta_int(meta, "bidirectional", 0)
    embed = _meta_int(meta, "embed", 0)
    label_embed = _meta_int(meta, "label_embed", 0)
    if hidden < 1 or layers < 1 or embed < 0 or label_embed < 0 or (V < 3 and not dense) \
            or (C < 1 and task != "regress"):
        raise FormatError("metadata sizes out of range")
    if meta.get("input") == "dense" or task in ("tag", "regress"):
        dense = meta.get("input") == "dense"
        delta = float(meta.get("huber_delta", "1"))
        return TaskModel(cell, hidden, layers, bidirectional, dense,
                         _meta_int(meta, "input_size", 0), V, embed, meta.get("head", "final"),
                         meta.get("target", "class"), _meta_int(meta, "outputs", 0), C,
                         meta.get("loss", "nll"), delta)
    if task == "classify":
        return Classifier(cell, V, C, hidden, layers, bidirectional, embed)
    if task == "generate":
        if bidirectional:
            raise FormatError("a generate model cannot be bidirectional")
        return Generator(cell, V, C, hidden, layers, embed, label_embed)
    raise FormatError("metadata task %r is not classify or generate" % (task,))


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: torch_check.py MODEL.safetensors EXPECT.safetensors\n")
        return 2
    try:
        weights, meta = read_safetensors(argv[1])
        expect, _ = read_safetensors(argv[2])
        model = build_model(meta)
        task_model = isinstance(model, TaskModel)
        keys = (("input.features" if model.dense else "input.tokens", "input.offsets", "expect.outputs")
                if task_model else ("input.tokens", "input.offsets", "input.labels", "expect.logprobs"))
        for key in keys:
            if key not in expect:
                raise FormatError("%s: no tensor %r" % (argv[2], key))
        if task_model:
            tokens = torch.from_numpy(expect[keys[0]].astype(np.float32 if model.dense else np.int64))
            labels = None
        else:
            tokens = torch.from_numpy(expect["input.tokens"].astype(np.int64))
            labels = torch.from_numpy(expect["input.labels"].astype(np.int64))
        offsets = torch.from_numpy(expect["input.offsets"].astype(np.int64))
        want = torch.from_numpy(expect[keys[-1]].astype(np.float32))
    except (OSError, FormatError) as e:
        sys.stderr.write("torch_check: %s\n" % e)
        return 2

    state = {k: torch.from_numpy(v.astype(np.float32))
             for k, v in weights.items() if not k.startswith("optim.")}
    model = model.float().eval()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        print("torch_check: weights do not fit the PyTorch module: %s"
              % " ".join(str(e).split()))
        return 1
    try:
        with torch.no_grad():
            if isinstance(model, (Classifier, TaskModel)):
                got = model(tokens, offsets)
            else:
                got, _ = model(tokens, offsets, labels)
    except (RuntimeError, IndexError, ValueError) as e:
        sys.stderr.write("torch_check: cannot run the inputs: %s\n" % e)
        return 2
    if tuple(got.shape) != tuple(want.shape):
        print("torch_check: logprobs shape %s, expected %s"
              % (list(got.shape), list(want.shape)))
        return 1
    diff = float((got - want).abs().max()) if want.numel() else 0.0
    ok = diff <= TOLERANCE
    print("torch_check: max abs diff %.3g over %d logprobs (tolerance %g): %s"
          % (diff, want.numel(), TOLERANCE, "ok" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
