"""recur.Model: a model file's classifier or generator, with text in and out."""
import ctypes
import math
import random
import threading
import weakref
from ctypes import byref, c_char_p, c_float, c_size_t, c_void_p

from . import _lib, _np
from ._lib import ArgumentError, call

TASKS = ("classify", "generate", "tag", "regress")  # recur_task order
TEXT_MODES = ("unicode", "ascii")
BOUNDARY = 1
UNKNOWN = 0


def _b(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


class Runner:
    """One inference workspace over a model (librecur's recur_runner).

    A runner is used by one thread at a time; any number of runners may
    share a model. ``Model.classify`` and friends keep one runner per
    thread themselves, so most code never makes one by hand. A runner sees
    the model's weights as they were when it was made.
    """

    def __init__(self, model, max_batch=256):
        self._lib = _lib.lib()
        self.model = model
        self.max_batch = int(max_batch)
        h = c_void_p()
        call(self._lib.recur_runner_create, model._handle(), self.max_batch, byref(h))
        self._h = h

    def close(self):
        """Free the runner now (also done when it is garbage-collected)."""
        if getattr(self, "_h", None):
            self._lib.recur_runner_free(self._h)
            self._h = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check(self):
        if not self._h:
            raise ArgumentError("the runner is closed", "argument")

    def classify_into(self, items, out):
        """Log-probabilities of at most max_batch items into `out`, a
        writable buffer of len(items) * num_labels floats (ctypes address)."""
        self._check()
        n = len(items)
        if all(isinstance(t, (str, bytes)) for t in items):
            raw = [_b(t) for t in items]
            texts = (c_char_p * n)(*raw)
            lens = (c_size_t * n)(*[len(t) for t in raw])
            call(self._lib.recur_runner_classify, self._h, texts, lens, n, out)
            return
        ids, offsets = [], [0]
        for seq in items:
            if isinstance(seq, (str, bytes)):  # a batch mixing texts and ids
                seq = self.model.encode(seq)
            ids.extend(int(t) for t in seq)
            offsets.append(len(ids))
        tok = (ctypes.c_int32 * max(1, len(ids)))(*ids)
        off = (ctypes.c_int32 * (n + 1))(*offsets)
        call(self._lib.recur_runner_classify_ids, self._h, tok, off, n, out)

    def reset(self, label=0):
        """Start a sequence (step API; ``label`` conditions a generator)."""
        self._check()
        call(self._lib.recur_runner_reset, self._h, int(label))

    def step(self, token, out):
        """Feed one token id; `out` (ctypes float array) receives the
        head's log-softmax after it."""
        call(self._lib.recur_runner_step, self._h, int(token), out)


class Model:
    """A recur model (librecur's recur_model): embedding -> RNN/LSTM/GRU
    stack -> linear head, with its vocabulary and labels.

    Make one with ``Model.load(path)``, ``recur.fit(...)`` or
    ``recur.from_torch(module)``. It holds native memory: use it as a context
    manager or call ``close()`` when done (garbage collection frees it too).
    Methods may be called from several threads at once: each thread gets
    its own runner, and the GIL is released while librecur computes.
    """

    def __init__(self, handle):
        # Private: use Model.load, fit or from_torch.
        self._lib = _lib.lib()
        self._h = handle
        self._local = threading.local()
        self._runners = weakref.WeakSet()  # every runner, closed with the model
        self._runners_lock = threading.Lock()

    # -- life cycle -----------------------------------------------------
    @classmethod
    def load(cls, path):
        """Load a model file (safetensors with PyTorch names, docs/FORMAT.md).

        Raises FileError (cannot read), FormatError (malformed, with the
        file and tensor), or LibraryError (no or mismatched librecur.so).
        """
        lib = _lib.lib()
        h = c_void_p()
        call(lib.recur_model_load, _b(str(path)), byref(h))
        return cls(h)

    @classmethod
    def create(cls, task="classify", cell="lstm", hidden=128, layers=1, bidirectional=False,
               embed=64, label_embed=0, dropout=0.0, seed=0, vocab=None, labels=(),
               text_mode="unicode"):
        """A new model with freshly initialised weights (PyTorch's scheme).

        ``vocab``: the symbols of ids 2.. (one code point each; ids 0 and 1
        are the unknown symbol and the boundary), or None in ASCII mode.
        ``labels``: the class names (classify) or conditioning labels.
        """
        lib = _lib.lib()
        if task not in TASKS:
            raise ArgumentError("task must be one of %s, not %r" % (TASKS, task), "argument")
        if text_mode not in TEXT_MODES:
            raise ArgumentError("text_mode must be one of %s, not %r" % (TEXT_MODES, text_mode),
                                "argument")
        cell_id = lib.recur_cell_parse(_b(cell))
        if cell_id < 0:
            raise ArgumentError("unknown cell %r: rnn_tanh, rnn_relu, lstm or gru" % (cell,),
                                "argument")
        mode = TEXT_MODES.index(text_mode)
        v = c_void_p()
        if vocab is None:
            if mode == 0:
                raise ArgumentError("a unicode-mode model needs its vocab (symbols of ids 2..)",
                                    "argument")
            call(lib.recur_vocab_create, mode, byref(v))
        else:
            syms = [b"", b""] + [_b(s) for s in vocab]
            arr = (c_char_p * len(syms))(*syms)
            call(lib.recur_vocab_from_symbols, mode, arr, len(syms), byref(v))
        try:
            cfg = _lib.ModelConfig(TASKS.index(task), cell_id, int(hidden), int(layers),
                                   1 if bidirectional else 0, int(embed), int(label_embed),
                                   float(dropout), int(seed))
            lab = [_b(s) for s in labels]
            larr = (c_char_p * max(1, len(lab)))(*lab)
            h = c_void_p()
            call(lib.recur_model_create, byref(cfg), v, larr, len(lab), byref(h))
        finally:
            lib.recur_vocab_free(v)
        return cls(h)

    def _handle(self):
        if not self._h:
            raise ArgumentError("the model is closed", "argument")
        return self._h

    def close(self):
        """Free the model and its runners now. Do not call it while other
        threads still use the model."""
        if getattr(self, "_h", None):
            self._drop_runners()
            self._lib.recur_model_free(self._h)
            self._h = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def save(self, path):
        """Write the model file atomically (a temporary file, then rename)."""
        call(self._lib.recur_model_save, self._handle(), _b(str(path)))

    # -- what the model is ----------------------------------------------
    @property
    def labels(self):
        """The label names, index = class id."""
        h = self._handle()
        return [self._lib.recur_model_label_name(h, i).decode("utf-8")
                for i in range(self._lib.recur_model_num_labels(h))]

    @property
    def vocab(self):
        """The symbols of token ids 2.. (0: unknown, 1: boundary)."""
        v = self._lib.recur_model_vocab(self._handle())
        return [self._lib.recur_vocab_symbol(v, i).decode("utf-8")
                for i in range(2, self._lib.recur_vocab_size(v))]

    @property
    def config(self):
        """The architecture as a dict (the keys of Model.create)."""
        h = self._handle()
        c = self._lib.recur_model_get_config(h).contents
        v = self._lib.recur_model_vocab(h)  # None: a dense model saved without one
        return {"task": TASKS[c.task], "cell": self._lib.recur_cell_name(c.cell).decode(),
                "hidden": c.hidden, "layers": c.layers, "bidirectional": bool(c.bidirectional),
                "embed": c.embed, "label_embed": c.label_embed, "dropout": c.dropout,
                "seed": c.seed,
                "text_mode": TEXT_MODES[self._lib.recur_vocab_mode(v)] if v else None,
                "vocab_size": self._lib.recur_vocab_size(v) if v else 0,
                "num_labels": self._lib.recur_model_num_labels(h),
                "input": "dense" if c.input == 1 else "tokens", "input_size": c.input_size,
                "head": "steps" if c.head == 1 else "final", "outputs": c.outputs,
                "dtype": self.dtype}

    @property
    def input_norm(self):
        """A dense-input model's standardisation (mean, std), float32 arrays
        [input_size] (copies; the buffers "input_norm.mean" and
        "input_norm.std" of its file), or None for token input."""
        np = _np.need()
        h = self._handle()
        mean, std = self._lib.recur_model_input_mean(h), self._lib.recur_model_input_std(h)
        if not mean:
            return None
        F = self._lib.recur_model_get_config(h).contents.input_size
        return (np.ctypeslib.as_array(mean, shape=(F,)).copy(),
                np.ctypeslib.as_array(std, shape=(F,)).copy())

    @property
    def dtype(self):
        """The weights' precision: "f32", or "int8" / "bf16" for a quantized
        model (``quantize``, ``recur quantize``), which runs inference on
        the reduced weights and cannot be trained."""
        return self._lib.recur_dtype_name(self._lib.recur_model_dtype(self._handle())).decode()

    def quantize(self, dtype="int8"):
        """Round the recurrent and head weight matrices to "int8" (a scale
        per output row) or "bf16", in place, for faster inference; returns
        the model. Runners made before are dropped."""
        d = self._lib.recur_dtype_parse(_b(dtype))
        if d < 0:
            raise ArgumentError("dtype must be int8 or bf16, not %r" % (dtype,), "argument")
        call(self._lib.recur_model_quantize, self._handle(), d)
        self._drop_runners()
        return self

    def predict_dense(self, X, lengths=None):
        """A dense-input model's output on NumPy sequences (recur.dense):
        [N, outputs or classes] per sequence, or per step as X is given
        (padded [N, T, W] with ``lengths``, or a list of [T_i, W])."""
        from .dense import predict_dense
        return predict_dense(self, X, lengths)

    def evaluate(self, X, y, lengths=None):
        """A dense-input model's task scores on NumPy sequences and their
        targets, by the library's metrics (recur.dense.evaluate_dense): tag
        accuracy, exact match, P/R/F1; regression MSE, MAE, R^2; accuracy
        and macro recall for classifiers; and the mean loss."""
        from .dense import evaluate_dense
        return evaluate_dense(self, X, y, lengths)

    @property
    def num_weights(self):
        return self._lib.recur_model_num_weights(self._handle())

    def get_meta(self, key, default=None):
        """Free-form metadata saved with the model ("user." keys), or default."""
        v = self._lib.recur_model_get_meta(self._handle(), _b(key))
        return default if v is None else v.decode("utf-8")

    def set_meta(self, key, value):
        call(self._lib.recur_model_set_meta, self._handle(), _b(key), _b(value))

    def __repr__(self):
        if not self._h:
            return "<recur.Model (closed)>"
        c = self.config
        return "<recur.Model %s %s hidden=%d layers=%d%s labels=%d vocab=%d%s%s>" % (
            c["task"], c["cell"], c["hidden"], c["layers"],
            " bidirectional" if c["bidirectional"] else "", c["num_labels"], c["vocab_size"],
            " dense=%d" % c["input_size"] if c["input"] == "dense" else "",
            " " + c["dtype"] if c["dtype"] != "f32" else "")

    # -- weights --------------------------------------------------------
    def _params(self):
        h = self._handle()
        for i in range(self._lib.recur_model_param_count(h)):
            yield self._lib.recur_model_param(h, i)

    def state_dict(self):
        """The weights as {PyTorch state-dict name: float32 ndarray} (copies)."""
        np = _np.need()
        out = {}
        for p in self._params():
            shape = tuple(p.shape[:p.ndim])
            out[p.name.decode()] = np.ctypeslib.as_array(p.data, shape=shape).copy()
        return out

    def load_state_dict(self, tensors, strict=True):
        """Copy {name: array} into the weights (float32, shapes must match).

        With strict, every weight must be given and nothing else. Runners
        made before are dropped, so later calls see the new weights.
        """
        np = _np.need()
        names = set()
        for p in self._params():
            name = p.name.decode()
            names.add(name)
            if name not in tensors:
                if strict:
                    raise ArgumentError("load_state_dict: %s is missing" % name, "argument")
                continue
            shape = tuple(p.shape[:p.ndim])
            src = np.asarray(tensors[name], dtype=np.float32)
            if src.shape != shape:
                raise ArgumentError("load_state_dict: %s has shape %s, the model's is %s"
                                    % (name, list(src.shape), list(shape)), "argument")
            np.ctypeslib.as_array(p.data, shape=shape)[...] = src
        extra = sorted(set(tensors) - names)
        if strict and extra:
            raise ArgumentError("load_state_dict: unexpected %s" % ", ".join(extra), "argument")
        self._drop_runners()

    def to_torch(self):
        """The equivalent torch.nn.Module with these weights (docs/FORMAT.md,
        section 3): a classifier's forward(tokens [T, B] int64, lengths [B])
        gives the log-probabilities [B, C] that ``classify`` gives; a
        generator's forward(tokens [T, B], labels [B]) those of every step."""
        from .torch_io import model_to_torch
        return model_to_torch(self)

    # -- inference ------------------------------------------------------
    def runner(self, max_batch=256):
        """A new Runner of its own (for threads that manage theirs). It is
        closed with the model and by load_state_dict."""
        r = Runner(self, max_batch)
        with self._runners_lock:
            self._runners.add(r)
        return r

    def _runner(self):
        r = getattr(self._local, "runner", None)
        if r is None or r._h is None:
            r = Runner(self, 256)
            self._local.runner = r
            with self._runners_lock:
                self._runners.add(r)
        return r

    def _drop_runners(self):
        with self._runners_lock:
            for r in list(self._runners):
                r.close()
            self._runners = weakref.WeakSet()
        self._local = threading.local()

    def encode(self, text):
        """The token ids of a text (normalised as the model's text mode says)."""
        v = self._lib.recur_model_vocab(self._handle())
        raw = _b(text)
        cap = len(raw) + 1
        ids = (ctypes.c_int32 * cap)()
        n = c_size_t()
        call(self._lib.recur_vocab_encode, v, raw, len(raw), ids, cap, byref(n))
        return list(ids[:n.value])

    def _classify_rows(self, items):
        """Yield (start, ctypes float array of rows) per group of 256."""
        if self.config["task"] != "classify":
            raise ArgumentError("classify needs a classifier; this model generates", "argument")
        C = self._lib.recur_model_num_labels(self._handle())
        r = self._runner()
        for i in range(0, len(items), r.max_batch):
            part = items[i:i + r.max_batch]
            buf = (c_float * (len(part) * C))()
            r.classify_into(part, buf)
            yield i, part, buf, C

    def classify(self, texts):
        """Log-probabilities of every label: float32 ndarray [len(texts), num_labels].

        ``texts``: strings, or sequences of token ids (see ``encode``), or
        one string. Needs NumPy (``predict`` does not).
        """
        np = _np.need()
        if isinstance(texts, (str, bytes)):
            texts = [texts]
        items = list(texts)
        C = self._lib.recur_model_num_labels(self._handle())
        out = np.empty((len(items), C), dtype=np.float32)
        for i, part, buf, _ in self._classify_rows(items):
            out[i:i + len(part)] = np.frombuffer(buf, dtype=np.float32).reshape(len(part), C)
        return out

    def predict(self, texts, top=3):
        """The ``top`` most likely labels of each text: a list (one per text)
        of [(label, log-probability), ...], best first. One string gives
        one list."""
        single = isinstance(texts, (str, bytes))
        items = [texts] if single else list(texts)
        labels = self.labels
        top = max(1, min(int(top), len(labels)))
        res = []
        for _, part, buf, C in self._classify_rows(items):
            for k in range(len(part)):
                row = buf[k * C:(k + 1) * C]
                best = sorted(range(C), key=lambda c: -row[c])[:top]
                res.append([(labels[c], float(row[c])) for c in best])
        return res[0] if single else res

    def sample(self, label=None, n=1, temperature=1.0, top_k=0, start="", seed=None,
               max_length=32):
        """Names drawn from a generator (``train --generate``, task "generate").

        ``label``: a label name or id (None: the first label). Each name
        starts from the boundary symbol (then ``start``) and grows one
        symbol at a time through the step API; the next symbol is drawn
        from the model's distribution sharpened by ``temperature`` and cut
        to the ``top_k`` most likely (0: all); the unknown symbol is never
        drawn, nor the end before the first symbol. ``seed`` makes the draw
        repeatable (Python's random.Random; not the CLI's generator, so
        ``recur sample --seed`` draws other names). Returns a list of n str.
        """
        h = self._handle()
        if self.config["task"] != "generate":
            raise ArgumentError("sample needs a generation model (recur train --generate)",
                                "argument")
        if not temperature > 0:
            raise ArgumentError("temperature must be > 0, not %r" % (temperature,), "argument")
        if label is None:
            lab = 0
        elif isinstance(label, str):
            lab = self._lib.recur_model_label_find(h, _b(label))
            if lab < 0:
                raise ArgumentError("unknown label %r (the model has %s)"
                                    % (label, ", ".join(self.labels)), "argument")
        else:
            lab = int(label)
        prefix = self.encode(start) if start else []
        if UNKNOWN in prefix:
            raise ArgumentError("start %r holds a character the model never saw" % (start,),
                                "argument")
        v = self._lib.recur_model_vocab(h)
        V = self._lib.recur_vocab_size(v)
        syms = [""] * 2 + [self._lib.recur_vocab_symbol(v, i).decode() for i in range(2, V)]
        rng = random.Random(seed)
        r = self._runner()
        lp = (c_float * V)()
        names = []
        for _ in range(int(n)):
            r.reset(lab)
            r.step(BOUNDARY, lp)
            name = []
            for t in prefix:
                name.append(t)
                r.step(t, lp)
            while len(name) < max_length:
                t = _draw(lp, V, len(name), temperature, top_k, rng)
                if t == BOUNDARY:
                    break
                name.append(t)
                r.step(t, lp)
            names.append("".join(syms[t] for t in name))
        return names


def _draw(lp, V, length, temperature, top_k, rng):
    vals = lp[:V]
    top = max(vals)
    cut = sorted(vals, reverse=True)[top_k - 1] if 0 < top_k < V else -math.inf
    w = [0.0] * V
    for i, x in enumerate(vals):
        if i == UNKNOWN or (i == BOUNDARY and length == 0) or x < cut:
            continue
        w[i] = math.exp((x - top) / temperature)
    total = sum(w)
    if not total > 0:
        return BOUNDARY
    u = rng.random() * total
    last = BOUNDARY
    for i, x in enumerate(w):
        if x == 0:
            continue
        last = i
        if u < x:
            return i
        u -= x
    return last

