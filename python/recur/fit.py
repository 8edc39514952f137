"""recur.fit: train a model from Python through librecur's training driver
(recur_fit: the loop `recur train` runs: shuffled length buckets, Adam,
clipping, validation every epoch, the plateau schedule, best-model
selection)."""
import ctypes
import os
import random
import sys
import tempfile
from ctypes import byref, c_char_p, c_int, c_int32, c_size_t, c_void_p

from . import _lib
from ._lib import ArgumentError, call
from .model import Model, _b

_OPTIMS = {"sgd": 0, "adam": 1}
_SELECT = {"auto": 0, "accuracy": 1, "loss": 2}
_MODEL_KEYS = ("cell", "hidden", "layers", "bidirectional", "embed", "label_embed", "dropout",
               "text_mode")


def _read_folder(path):
    lib = _lib.lib()
    ds = c_void_p()
    call(lib.recur_dataset_load, _b(os.fspath(path)), byref(ds))
    try:
        n = lib.recur_dataset_size(ds)
        names = [lib.recur_dataset_label_name(ds, i).decode()
                 for i in range(lib.recur_dataset_num_labels(ds))]
        texts, labels = [], []
        ln = c_size_t()
        for i in range(n):
            p = lib.recur_dataset_text(ds, i, byref(ln))
            texts.append(ctypes.string_at(p, ln.value).decode("utf-8"))
            labels.append(names[lib.recur_dataset_label(ds, i)])
        return texts, labels
    finally:
        lib.recur_dataset_free(ds)


def _pairs(data):
    """(texts, label names) from any of the forms fit accepts."""
    if isinstance(data, (str, bytes, os.PathLike)):
        return _read_folder(data)
    if isinstance(data, dict):
        texts, labels = [], []
        for label, items in data.items():
            for t in items:
                texts.append(t)
                labels.append(str(label))
        return texts, labels
    if (isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], (str, bytes))
            and len(data[0]) == len(data[1]) and len(data[0]) and
            not isinstance(data[0][0], (tuple, list))):
        return list(data[0]), [str(x) for x in data[1]]
    pairs = list(data)
    return [t for t, _ in pairs], [str(l) for _, l in pairs]


def _split(labels, fraction, seed):
    """Stratified: round(fraction * n) of each label's examples held out."""
    if not 0 < fraction < 1:
        raise ArgumentError("valid must be a fraction in (0, 1) or validation data, not %r"
                            % (fraction,), "argument")
    rng = random.Random(seed)
    by = {}
    for i, l in enumerate(labels):
        by.setdefault(l, []).append(i)
    train, valid = [], []
    for l in sorted(by):
        idx = by[l]
        rng.shuffle(idx)
        k = int(round(fraction * len(idx)))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        valid += idx[:k]
        train += idx[k:]
    return sorted(train), sorted(valid)


class _Progress:
    """The step and epoch callbacks: a tqdm bar when tqdm is importable and
    progress is True, one line per epoch on stderr without it, or the
    caller's function."""

    def __init__(self, progress, on_epoch, stop):
        self.progress, self.on_epoch, self.stop = progress, on_epoch, stop
        self.history = {k: [] for k in ("epoch", "train_loss", "valid_loss", "valid_accuracy",
                                        "valid_macro_recall", "lr", "seconds")}
        self.error = None
        self.bar = None
        self.tqdm = None
        if progress is True:
            try:
                from tqdm import tqdm
                self.tqdm = tqdm
            except ImportError:
                pass

    def step(self, p, _user):
        try:
            s = p.contents
            if callable(self.progress):
                self.progress({"epoch": s.epoch, "epochs": s.epochs, "step": s.step,
                               "done": s.done, "total": s.total, "loss": s.loss,
                               "seconds": s.seconds})
            elif self.tqdm is not None:
                if self.bar is None:
                    self.bar = self.tqdm(total=s.total, unit="seq", leave=True,
                                         desc="epoch %d/%d" % (s.epoch, s.epochs))
                self.bar.n = s.done
                self.bar.set_postfix(loss="%.4f" % s.loss, refresh=False)
                self.bar.refresh()
        except BaseException as e:  # Ctrl-C or the caller's error: stop within a batch
            self.error = self.error or e
            self.stop.value = 1

    def epoch(self, p, _user):
        try:
            e = p.contents
            h = self.history
            for k, v in (("epoch", e.epoch), ("train_loss", e.train_loss),
                         ("valid_loss", e.valid_loss), ("valid_accuracy", e.valid_accuracy),
                         ("valid_macro_recall", e.valid_macro_recall), ("lr", e.lr),
                         ("seconds", e.train_seconds)):
                h[k].append(v)
            line = "epoch %d/%d  loss %.4f  valid loss %.4f  accuracy %.1f%%%s" % (
                e.epoch, e.epochs, e.train_loss, e.valid_loss, 100 * e.valid_accuracy,
                "  best" if e.improved else "")
            if self.bar is not None:
                self.bar.set_postfix_str(line.split("  ", 1)[1])
                self.bar.close()
                self.bar = None
            elif self.progress is True:
                print(line, file=sys.stderr, flush=True)
            if self.on_epoch is not None:
                info = {k: v[-1] for k, v in h.items()}
                info.update(epochs=e.epochs, improved=bool(e.improved), best_epoch=e.best_epoch)
                if self.on_epoch(info) is False:
                    return 1
            return 0
        except BaseException as ex:
            self.error = self.error or ex
            self.stop.value = 1
            return 1


def fit(data, valid=0.1, task="classify", epochs=10, batch=64, lr=1e-3, optim="adam",
        clip=5.0, weight_decay=0.0, momentum=0.0, bucket=50, balance=0.0, token_dropout=0.0,
        patience=2, select="auto", seed=1, threads=1, model_path=None, checkpoint_path=None,
        progress=True, on_epoch=None, **model_options):
    """Train a model on labelled texts; returns ``(model, history)``.

    ``data``: a folder of <Label>.txt files (one text per line), a dict
    {label: [texts]}, a list of (text, label) pairs, or (texts, labels).
    ``valid``: the fraction of each label held out for validation (seeded
    by ``seed``), or validation data in any of the forms of ``data``.
    Model options (``Model.create``'s): cell="lstm", hidden=128, layers=1,
    bidirectional=False, embed=64, dropout=0.0, text_mode="unicode"; the
    vocabulary is the training texts' symbols. ``task="generate"`` trains a
    name generator conditioned on the label instead.
    Training options are ``recur train``'s (``recur train --help``): epochs,
    batch, lr, optim ("adam" or "sgd"), clip, weight_decay, momentum,
    bucket, balance, token_dropout, patience (halve lr after that many
    epochs without a better validation loss), select ("auto", "accuracy",
    "loss"), seed, threads. ``model_path`` keeps the best model there and
    ``checkpoint_path`` a checkpoint of every epoch.
    ``progress``: True (a tqdm bar when tqdm is installed, else one line per
    epoch on stderr), False, or a function called after every step with a
    dict (epoch, epochs, step, done, total, loss, seconds). ``on_epoch``: a
    function called with each epoch's scores; returning False stops.
    Ctrl-C stops within one batch (then KeyboardInterrupt is raised).

    Returns the best model on the validation data (the last epoch's when
    none was saved) and ``history``: {"epoch", "train_loss", "valid_loss",
    "valid_accuracy", "valid_macro_recall", "lr", "seconds"}: lists, one
    entry per epoch.
    """
    lib = _lib.lib()
    unknown = set(model_options) - set(_MODEL_KEYS)
    if unknown:
        raise TypeError("fit() got unexpected options: %s" % ", ".join(sorted(unknown)))
    if optim not in _OPTIMS:
        raise ArgumentError("optim must be 'adam' or 'sgd', not %r" % (optim,), "argument")
    if select not in _SELECT:
        raise ArgumentError("select must be one of %s, not %r" % (tuple(_SELECT), select),
                            "argument")
    texts, labels = _pairs(data)
    if isinstance(valid, (int, float)) and not isinstance(valid, bool):
        train_idx, valid_idx = _split(labels, float(valid), seed)
    else:
        vt, vl = _pairs(valid)
        train_idx = list(range(len(texts)))
        valid_idx = list(range(len(texts), len(texts) + len(vt)))
        texts, labels = texts + vt, labels + vl
    names = sorted(set(labels[i] for i in train_idx)) if task == "classify" else \
        sorted(set(labels))
    stray = sorted(set(labels[i] for i in valid_idx) - set(names))
    if stray:
        raise ArgumentError("validation labels not in the training data: %s" % ", ".join(stray),
                            "argument")
    mode = model_options.get("text_mode", "unicode")
    vocab = None
    if mode == "unicode":
        v = c_void_p()
        call(lib.recur_vocab_create, 0, byref(v))
        try:
            for i in train_idx:
                raw = _b(texts[i])
                call(lib.recur_vocab_add, v, raw, len(raw))
            vocab = [lib.recur_vocab_symbol(v, i).decode() for i in range(2, lib.recur_vocab_size(v))]
        finally:
            lib.recur_vocab_free(v)
    opts = dict(model_options)
    opts.update(task=task, vocab=vocab, labels=names, seed=seed)
    model = Model.create(**opts)
    try:
        ids, offsets = [], [0]
        for t in texts:
            e = model.encode(t)
            ids.extend(e or [0])  # a text with no symbol left: one UNKNOWN id
            offsets.append(len(ids))
        lab_id = {l: i for i, l in enumerate(names)}
        n = len(texts)
        tok = (c_int32 * max(1, len(ids)))(*ids)
        off = (c_int32 * (n + 1))(*offsets)
        lab = (c_int32 * max(1, n))(*[lab_id[l] for l in labels])
        b = _lib.Batch(n, tok, off, lab, None, None, None)
        return _drive(model, b, train_idx, valid_idx, optim=optim, lr=lr, clip=clip,
                      weight_decay=weight_decay, momentum=momentum, threads=threads, seed=seed,
                      epochs=epochs, batch=batch, bucket=bucket, balance=balance,
                      token_dropout=token_dropout, patience=patience, select=select,
                      model_path=model_path, checkpoint_path=checkpoint_path, progress=progress,
                      on_epoch=on_epoch)
    except BaseException:
        model.close()
        raise


def _drive(model, b, train_idx, valid_idx, optim, lr, clip, weight_decay, momentum, threads, seed,
           epochs, batch, bucket, balance, token_dropout, patience, select, model_path,
           checkpoint_path, progress, on_epoch):
    """recur_fit on the data set b (a _lib.Batch) with fit()'s options:
    the best model (loaded from model_path when one was saved; `model`
    itself is closed then) and the history. Shared by fit and fit_dense."""
    lib = _lib.lib()
    tr = (c_size_t * max(1, len(train_idx)))(*[int(i) for i in train_idx])
    va = (c_size_t * max(1, len(valid_idx)))(*[int(i) for i in valid_idx])
    cfg = _lib.FitConfig()
    lib.recur_fit_config_default(byref(cfg))
    t = cfg.train
    t.optim, t.lr, t.clip = _OPTIMS[optim], lr, clip
    t.weight_decay, t.momentum, t.threads, t.seed = weight_decay, momentum, threads, seed
    cfg.epochs, cfg.batch, cfg.bucket, cfg.balance = epochs, batch, bucket, balance
    cfg.token_dropout, cfg.patience, cfg.select, cfg.seed = (token_dropout, patience,
                                                             _SELECT[select], seed)
    tmp = None
    if model_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="recur-fit-")
        model_path = os.path.join(tmp.name, "best.safetensors")
    keep = [_b(os.fspath(model_path))]
    cfg.model_path = keep[0]
    if checkpoint_path is not None:
        keep.append(_b(os.fspath(checkpoint_path)))
        cfg.checkpoint_path = keep[-1]
    stop = c_int(0)
    cfg.stop = ctypes.pointer(stop)
    prog = _Progress(progress, on_epoch, stop)
    cfg.on_step = _lib.FIT_STEP_FN(prog.step) if progress else _lib.FIT_STEP_FN()
    cfg.on_epoch = _lib.FIT_EPOCH_FN(prog.epoch)
    res = _lib.FitResult()
    try:
        try:
            call(lib.recur_fit, model._handle(), byref(cfg), byref(b), tr, len(train_idx),
                 va, len(valid_idx), byref(res))
        except _lib.Interrupted:
            if prog.error is None:
                raise
        if prog.bar is not None:
            prog.bar.close()
        if prog.error is not None:
            raise prog.error
        if res.best_saved:
            best = Model.load(model_path)
            model.close()
            model = best
    finally:
        if tmp is not None:
            tmp.cleanup()
    return model, prog.history
