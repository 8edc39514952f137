"""Dense sequences from NumPy: models that read F floats per step (tagging,
regression, classification of feature sequences), trained by librecur's
driver (recur_fit), run by its runners (recur_runner_predict) and scored by
its metrics (recur_tag_metrics, recur_regress_metrics, recur_evaluate).

Sequences are given as a padded float array X [N, T, F] with ``lengths``
[N] (None: all T steps), as a list of [T_i, F] arrays, or as one [T, F]
array (one sequence). The whole set becomes one recur_batch (features
[steps, F] and offsets [N + 1]), the form the library takes data in.
"""
import ctypes
from ctypes import POINTER, Structure, byref, c_double, c_float, c_int, c_int32, c_size_t, c_void_p

from . import _lib, _np
from ._lib import ArgumentError, call
from .fit import _OPTIMS, _SELECT, _drive
from .model import TASKS, Model, _b

_HEADS = ("final", "steps")
_LOSSES = {"mse": 2, "huber": 3, "nll": 1}
DENSE = 1  # RECUR_INPUT_DENSE
HEAD_STEPS = 1
TARGET_REAL = 2


class TagMetrics(Structure):
    _fields_ = [("num_labels", c_int), ("steps", c_size_t), ("correct", c_size_t),
                ("sequences", c_size_t), ("exact", c_size_t), ("confusion", POINTER(c_size_t))]


class RegressMetrics(Structure):
    _fields_ = [("outputs", c_int), ("rows", c_size_t), ("sse", c_double), ("sae", c_double),
                ("mean", POINTER(c_double)), ("m2", POINTER(c_double)),
                ("out_sse", POINTER(c_double))]


_P, _E = c_void_p, POINTER(_lib.Error)
_PROTOTYPES = {
    "recur_model_config_default": (None, [POINTER(_lib.ModelConfig)]),
    "recur_model_config_task": (None, [POINTER(_lib.ModelConfig), c_int]),
    "recur_model_output_size": (c_int, [_P]),
    "recur_model_fit_input_norm": (c_int, [_P, POINTER(_lib.Batch), POINTER(c_size_t), c_size_t,
                                           _E]),
    "recur_runner_predict": (c_int, [_P, POINTER(_lib.Batch), POINTER(c_float), _E]),
    "recur_runner_rows": (c_size_t, [_P, POINTER(_lib.Batch)]),
    "recur_evaluate": (c_int, [_P, POINTER(_lib.Batch), POINTER(c_size_t), c_size_t, c_int, _P,
                               POINTER(_lib.Metrics), _E]),
    "recur_metrics_accuracy": (c_double, [POINTER(_lib.Metrics)]),
    "recur_metrics_macro_recall": (c_double, [POINTER(_lib.Metrics)]),
    "recur_metrics_loss": (c_double, [POINTER(_lib.Metrics)]),
    "recur_metrics_free": (None, [POINTER(_lib.Metrics)]),
    "recur_tag_metrics_init": (c_int, [POINTER(TagMetrics), c_int, _E]),
    "recur_tag_metrics_add": (c_int, [POINTER(TagMetrics), POINTER(_lib.Batch), POINTER(c_float),
                                      _E]),
    "recur_tag_metrics_accuracy": (c_double, [POINTER(TagMetrics)]),
    "recur_tag_metrics_exact_match": (c_double, [POINTER(TagMetrics)]),
    "recur_tag_metrics_class": (None, [POINTER(TagMetrics), c_int, POINTER(c_double),
                                       POINTER(c_double), POINTER(c_double)]),
    "recur_tag_metrics_free": (None, [POINTER(TagMetrics)]),
    "recur_regress_metrics_init": (c_int, [POINTER(RegressMetrics), c_int, _E]),
    "recur_regress_metrics_add": (None, [POINTER(RegressMetrics), POINTER(c_float),
                                         POINTER(c_float), c_size_t]),
    "recur_regress_metrics_mse": (c_double, [POINTER(RegressMetrics)]),
    "recur_regress_metrics_mae": (c_double, [POINTER(RegressMetrics)]),
    "recur_regress_metrics_r2": (c_double, [POINTER(RegressMetrics)]),
    "recur_regress_metrics_free": (None, [POINTER(RegressMetrics)]),
}
_ready = False


def _lib_dense():
    """librecur with the prototypes this module calls."""
    global _ready
    lib = _lib.lib()
    if not _ready:
        for name, (res, args) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        _ready = True
    return lib


class Sequences:
    """Dense sequences as the library takes them: features [S, F] float32
    and offsets [N + 1] int32 (kept alive with the arrays they point to)."""

    def __init__(self, X, lengths=None):
        np = _np.need()
        self.padded = False
        if isinstance(X, (list, tuple)):
            seqs = [np.asarray(x, dtype=np.float32) for x in X]
            if any(s.ndim != 2 for s in seqs):
                raise ArgumentError("each sequence must be a [T, F] array", "argument")
            self.lengths = np.array([len(s) for s in seqs], dtype=np.int64)
            feats = np.concatenate(seqs) if seqs else np.zeros((0, 1), np.float32)
        else:
            X = np.asarray(X, dtype=np.float32)
            if X.ndim == 2:
                X = X[None]
            if X.ndim != 3:
                raise ArgumentError("X must be [N, T, F], [T, F] or a list of [T, F] arrays, "
                                    "not of shape %s" % (list(X.shape),), "argument")
            self.padded, self.T = True, X.shape[1]
            if lengths is None:
                self.lengths = np.full(X.shape[0], X.shape[1], dtype=np.int64)
            else:
                self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
                if len(self.lengths) != X.shape[0]:
                    raise ArgumentError("%d lengths for %d sequences" % (len(self.lengths),
                                                                           X.shape[0]), "argument")
                if ((self.lengths < 1) | (self.lengths > X.shape[1])).any():
                    raise ArgumentError("lengths must lie in 1..%d" % X.shape[1], "argument")
            mask = np.arange(X.shape[1])[None, :] < self.lengths[:, None]
            feats = X[mask]
        if len(self.lengths) == 0:
            raise ArgumentError("no sequences", "argument")
        if (self.lengths < 1).any():
            raise ArgumentError("every sequence needs at least one step", "argument")
        self.n, self.F = len(self.lengths), feats.shape[1]
        self.features = np.ascontiguousarray(feats, dtype=np.float32)
        self.offsets = np.zeros(self.n + 1, dtype=np.int32)
        np.cumsum(self.lengths, out=self.offsets[1:])
        self.steps = int(self.offsets[-1])

    def batch(self, labels=None, step_labels=None, targets=None):
        f = _lib.Batch()
        f.n = self.n
        f.offsets = self.offsets.ctypes.data_as(POINTER(c_int32))
        f.features = self.features.ctypes.data_as(POINTER(c_float))
        self._keep = [x for x in (labels, step_labels, targets) if x is not None]
        if labels is not None:
            f.labels = labels.ctypes.data_as(POINTER(c_int32))
        if step_labels is not None:
            f.step_labels = step_labels.ctypes.data_as(POINTER(c_int32))
        if targets is not None:
            f.targets = targets.ctypes.data_as(POINTER(c_float))
        return f

    def per_step(self, y, dtype):
        """Per-step values [N, T(, K)] padded, or a list of [T_i(, K)], as [S(, K)]."""
        np = _np.need()
        if isinstance(y, (list, tuple)):
            parts = [np.asarray(v, dtype=dtype) for v in y]
            if [len(p) for p in parts] != list(self.lengths):
                raise ArgumentError("per-step targets must have one entry per step", "argument")
            return np.ascontiguousarray(np.concatenate(parts))
        y = np.asarray(y, dtype=dtype)
        if y.ndim < 2 or y.shape[0] != self.n:
            raise ArgumentError("per-step targets must be [N, T, ...] or a list", "argument")
        mask = np.arange(y.shape[1])[None, :] < self.lengths[:, None]
        return np.ascontiguousarray(y[mask])

    def unpad(self, rows):
        """Rows [S, W] (one per step) back into the caller's form."""
        np = _np.need()
        if not self.padded:
            return [rows[self.offsets[i]:self.offsets[i + 1]] for i in range(self.n)]
        out = np.zeros((self.n, self.T, rows.shape[1]), dtype=rows.dtype)
        mask = np.arange(self.T)[None, :] < self.lengths[:, None]
        out[mask] = rows
        return out


def _targets(model_or_task, seqs, y, head, outputs=None):
    """(labels, step_labels, targets) arrays for a task and its y."""
    np = _np.need()
    task = model_or_task
    if task == "classify":
        return np.ascontiguousarray(np.asarray(y, dtype=np.int32).reshape(-1)), None, None
    if task == "tag":
        return None, seqs.per_step(y, np.int32), None
    if head == "steps":
        t = seqs.per_step(y, np.float32)
    else:
        t = np.asarray(y, dtype=np.float32)
        if t.shape[0] != seqs.n:
            raise ArgumentError("%d targets for %d sequences" % (t.shape[0], seqs.n), "argument")
    t = t.reshape(t.shape[0], -1)
    if outputs is not None and t.shape[1] != outputs:
        raise ArgumentError("targets of %d values, the model has %d outputs"
                            % (t.shape[1], outputs), "argument")
    return None, None, np.ascontiguousarray(t)


def fit_dense(X, y, task="regress", lengths=None, valid=0.1, head=None, loss=None,
              huber_delta=1.0, labels=None, epochs=10, batch=64, lr=1e-3, optim="adam", clip=5.0,
              weight_decay=0.0, momentum=0.0, bucket=50, patience=2, select="auto", seed=1,
              threads=1, model_path=None, checkpoint_path=None, progress=False, on_epoch=None,
              cell="lstm", hidden=128, layers=1, bidirectional=False, dropout=0.0):
    """Train a dense-input model; returns ``(model, history)`` as ``fit``.

    ``task``: "regress" (``y`` [N, K] or [N] per sequence, or per step with
    ``head="steps"``: [N, T, K], [N, T] or a list of [T_i, K]), "tag" (``y``
    [N, T] ints per step, or a list; a label < 0 is not scored) or
    "classify" (``y`` [N] ints). ``labels``: class names (default "0",
    "1", ...). ``loss``: "mse" (default) or "huber" for regression.
    ``valid``: the fraction held out for validation (seeded), or a tuple
    (X, y) or (X, y, lengths) of validation data. The input statistics
    (mean, std per feature) are fitted on the training part and saved in
    the model, which standardises its input itself. Other options are
    ``fit``'s and ``Model.create``'s.
    """
    np = _np.need()
    lib = _lib_dense()
    if task not in ("regress", "tag", "classify"):
        raise ArgumentError("fit_dense trains regress, tag or classify, not %r" % (task,),
                            "argument")
    head = head or ("steps" if task == "tag" else "final")
    if head not in _HEADS or (task == "tag" and head != "steps") or \
            (task == "classify" and head != "final"):
        raise ArgumentError("head %r does not fit task %s" % (head, task), "argument")
    if optim not in _OPTIMS or select not in _SELECT:
        raise ArgumentError("optim must be adam or sgd, select auto, accuracy or loss",
                            "argument")
    seqs = Sequences(X, lengths)
    lab, step_lab, tgt = _targets(task, seqs, y, head)
    n_train_all = seqs.n
    if isinstance(valid, tuple):
        vx, vy = valid[0], valid[1]
        vs = Sequences(vx, valid[2] if len(valid) > 2 else None)
        vlab, vstep, vtgt = _targets(task, vs, vy, head)
        if vs.F != seqs.F:
            raise ArgumentError("validation data have %d features, training %d" % (vs.F, seqs.F),
                                "argument")
        seqs.features = np.ascontiguousarray(np.concatenate([seqs.features, vs.features]))
        seqs.offsets = np.concatenate([seqs.offsets, vs.offsets[1:] + seqs.offsets[-1]]
                                      ).astype(np.int32)
        seqs.lengths = np.concatenate([seqs.lengths, vs.lengths])
        seqs.n += vs.n
        cat = lambda a, b: None if a is None else np.ascontiguousarray(np.concatenate([a, b]))
        lab, step_lab, tgt = cat(lab, vlab), cat(step_lab, vstep), cat(tgt, vtgt)
        train_idx = np.arange(n_train_all)
        valid_idx = np.arange(n_train_all, seqs.n)
    else:
        if not 0 < float(valid) < 1:
            raise ArgumentError("valid must be a fraction in (0, 1) or (X, y[, lengths])",
                                "argument")
        perm = np.random.default_rng(seed).permutation(seqs.n)
        k = min(max(int(round(valid * seqs.n)), 1), seqs.n - 1)
        valid_idx, train_idx = np.sort(perm[:k]), np.sort(perm[k:])
    if task != "regress":
        C = int(max(x.max() for x in (lab, step_lab) if x is not None)) + 1
        names = list(labels) if labels is not None else [str(i) for i in range(C)]
        if len(names) < C:
            raise ArgumentError("%d labels named, the data use %d" % (len(names), C), "argument")
    else:
        names = []
    cfg = _lib.ModelConfig()
    lib.recur_model_config_default(byref(cfg))
    lib.recur_model_config_task(byref(cfg), TASKS.index(task))
    cfg.input, cfg.input_size = DENSE, seqs.F
    cfg.head = HEAD_STEPS if head == "steps" else 0
    cell_id = lib.recur_cell_parse(_b(cell))
    if cell_id < 0:
        raise ArgumentError("unknown cell %r" % (cell,), "argument")
    cfg.cell, cfg.hidden, cfg.layers = cell_id, int(hidden), int(layers)
    cfg.bidirectional, cfg.dropout, cfg.seed = int(bool(bidirectional)), float(dropout), int(seed)
    if task == "regress":
        cfg.target, cfg.outputs = TARGET_REAL, tgt.shape[1]
        cfg.loss = _LOSSES[loss or "mse"]
        cfg.huber_delta = float(huber_delta)
    larr = (ctypes.c_char_p * max(1, len(names)))(*[_b(s) for s in names])
    h = c_void_p()
    call(lib.recur_model_create, byref(cfg), None, larr, len(names), byref(h))
    model = Model(h)
    try:
        b = seqs.batch(lab, step_lab, tgt)
        tr = (c_size_t * len(train_idx))(*[int(i) for i in train_idx])
        call(lib.recur_model_fit_input_norm, model._handle(), byref(b), tr, len(train_idx))
        return _drive(model, b, train_idx, valid_idx, optim=optim, lr=lr, clip=clip,
                      weight_decay=weight_decay, momentum=momentum, threads=threads, seed=seed,
                      epochs=epochs, batch=batch, bucket=bucket, balance=0.0, token_dropout=0.0,
                      patience=patience, select=select, model_path=model_path,
                      checkpoint_path=checkpoint_path, progress=progress, on_epoch=on_epoch)
    except BaseException:
        model.close()
        raise


def _rows(model, seqs):
    """The head's rows for every sequence (runner batches of 256): [N, W]
    for a head on the final state, [S, W] for one on every step."""
    np = _np.need()
    lib = _lib_dense()
    h = model._handle()
    c = lib.recur_model_get_config(h).contents
    if c.input != DENSE:
        raise ArgumentError("this model reads token ids: use predict or classify", "argument")
    if seqs.F != c.input_size:
        raise ArgumentError("sequences of %d features, the model reads %d"
                            % (seqs.F, c.input_size), "argument")
    W = lib.recur_model_output_size(h)
    steps = c.head == HEAD_STEPS
    out = np.empty((seqs.steps if steps else seqs.n, W), dtype=np.float32)
    r = model._runner()
    for i in range(0, seqs.n, r.max_batch):
        j = min(seqs.n, i + r.max_batch)
        off = np.ascontiguousarray(seqs.offsets[i:j + 1] - seqs.offsets[i], dtype=np.int32)
        f = _lib.Batch()
        f.n = j - i
        f.offsets = off.ctypes.data_as(POINTER(c_int32))
        part = seqs.features[seqs.offsets[i]:seqs.offsets[j]]
        f.features = part.ctypes.data_as(POINTER(c_float))
        dst = out[seqs.offsets[i]:seqs.offsets[j]] if steps else out[i:j]
        call(lib.recur_runner_predict, r._h, byref(f), dst.ctypes.data_as(POINTER(c_float)))
    return out, steps


def predict_dense(model, X, lengths=None):
    """The model's output on dense sequences: per sequence [N, W] (head on
    the final state), or per step (head on every step) in X's form: padded
    [N, T, W] (zeros past each length) or a list of [T_i, W]. W: the
    outputs (regression values) or the classes (log-probabilities)."""
    seqs = Sequences(X, lengths)
    rows, steps = _rows(model, seqs)
    return seqs.unpad(rows) if steps else rows


def evaluate_dense(model, X, y, lengths=None):
    """The task's scores on dense sequences, through the library's metrics:
    tag: accuracy (per labelled step), exact_match (per sequence), loss and
    per-class precision/recall/f1 lists; regress: mse, mae, r2, loss;
    classify: accuracy, macro_recall, loss. ``loss``: the model's training
    loss, the mean per term."""
    _np.need()
    lib = _lib_dense()
    h = model._handle()
    task = model.config["task"]
    c = lib.recur_model_get_config(h).contents
    head = "steps" if c.head == HEAD_STEPS else "final"
    seqs = Sequences(X, lengths)
    lab, step_lab, tgt = _targets(task, seqs, y, head,
                                  c.outputs if task == "regress" else None)
    b = seqs.batch(lab, step_lab, tgt)
    met = _lib.Metrics()
    call(lib.recur_evaluate, h, byref(b), None, seqs.n, 256, None, byref(met))
    try:
        loss = lib.recur_metrics_loss(byref(met))
        out = {"loss": loss}
        if task == "classify":
            out.update(accuracy=lib.recur_metrics_accuracy(byref(met)),
                       macro_recall=lib.recur_metrics_macro_recall(byref(met)))
            return out
    finally:
        lib.recur_metrics_free(byref(met))
    rows, _ = _rows(model, seqs)
    ptr = rows.ctypes.data_as(POINTER(c_float))
    if task == "tag":
        C = lib.recur_model_num_labels(h)
        tm = TagMetrics()
        call(lib.recur_tag_metrics_init, byref(tm), C)
        try:
            call(lib.recur_tag_metrics_add, byref(tm), byref(b), ptr)
            p, r, f = c_double(), c_double(), c_double()
            cls = []
            for k in range(C):
                lib.recur_tag_metrics_class(byref(tm), k, byref(p), byref(r), byref(f))
                cls.append((p.value, r.value, f.value))
            out.update(accuracy=lib.recur_tag_metrics_accuracy(byref(tm)),
                       exact_match=lib.recur_tag_metrics_exact_match(byref(tm)),
                       steps=tm.steps, precision=[x[0] for x in cls],
                       recall=[x[1] for x in cls], f1=[x[2] for x in cls])
        finally:
            lib.recur_tag_metrics_free(byref(tm))
        return out
    rm = RegressMetrics()
    call(lib.recur_regress_metrics_init, byref(rm), rows.shape[1])
    try:
        lib.recur_regress_metrics_add(byref(rm), ptr, tgt.ctypes.data_as(POINTER(c_float)),
                                      rows.shape[0])
        out.update(mse=lib.recur_regress_metrics_mse(byref(rm)),
                   mae=lib.recur_regress_metrics_mae(byref(rm)),
                   r2=lib.recur_regress_metrics_r2(byref(rm)))
    finally:
        lib.recur_regress_metrics_free(byref(rm))
    return out
