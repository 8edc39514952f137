"""Finding, loading and checking librecur.so; the ctypes declarations.

The library is found, in this order, at
  1. ``$RECUR_LIBRARY`` (a path to librecur.so; nothing else is tried when set),
  2. the build tree this package sits in (``python/recur`` -> ``build/librecur.so``),
  3. the libdir of the installed ``recur`` pkg-config package (``make install``),
  4. the system's loader (``librecur.so.0`` on the default search path).

It is loaded on first use, not at import, so that ``import recur`` works
(and says what is missing) on a machine without the library. On load the
structs restated below are checked against the library's own with
``recur_abi_check``: a librecur.so of another version fails with one line
instead of corrupting memory.
"""
import ctypes
import os
import shutil
import subprocess
import threading
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int,
                    c_int32, c_size_t, c_uint64, c_void_p)

# The library version this binding was written for (major, minor).
ABI_VERSION = (0, 3)

_STATUS_NAMES = ["ok", "argument", "memory", "io", "format", "data", "numeric",
                 "unsupported", "network", "interrupted"]


class RecurError(Exception):
    """A failure reported by librecur: ``status`` (e.g. ``"format"``) and
    ``message``, the library's one line (file, line, byte where one applies)."""

    def __init__(self, message, status="unsupported"):
        super().__init__(message)
        self.message = message
        self.status = status


class LibraryError(RecurError, OSError):
    """librecur.so could not be found or loaded, or is of another version."""


class FormatError(RecurError, ValueError):
    """A model file is malformed or inconsistent."""


class DataError(RecurError, ValueError):
    """A data set or a text is malformed (invalid UTF-8, empty, ...)."""


class NumericError(RecurError, ArithmeticError):
    """A loss or gradient became NaN or infinite."""


class ArgumentError(RecurError, ValueError):
    """An argument is out of range (recur's RECUR_ERR_ARG)."""


class OutOfMemoryError(RecurError, MemoryError):
    """An allocation failed or a size would overflow."""


class FileError(RecurError, OSError):
    """The file system refused (open, read, write)."""


class Interrupted(RecurError):
    """The caller asked to stop (a callback returned False, or Ctrl-C)."""


_BY_STATUS = {1: ArgumentError, 2: OutOfMemoryError, 3: FileError, 4: FormatError,
              5: DataError, 6: NumericError, 9: Interrupted}


def error_class(status):
    """The exception class of a recur_status number."""
    return _BY_STATUS.get(status, RecurError)


# --- the public structs, restated (include/recur.h) -------------------------

class Error(Structure):
    _fields_ = [("status", c_int), ("message", c_char * 512)]


class RnnConfig(Structure):
    _fields_ = [("cell", c_int), ("input_size", c_int), ("hidden", c_int), ("layers", c_int),
                ("bidirectional", c_int), ("dropout", c_float), ("seed", c_uint64),
                ("threads", c_int)]


class Param(Structure):
    _fields_ = [("name", c_char_p), ("ndim", c_int), ("shape", c_int * 2),
                ("data", POINTER(c_float)), ("grad", POINTER(c_float))]


class DatasetStats(Structure):
    _fields_ = [(k, c_size_t) for k in
                ("lines", "empty", "duplicates", "distinct", "ambiguous", "max_bytes")]


class ModelConfig(Structure):
    _fields_ = [("task", c_int), ("cell", c_int), ("hidden", c_int), ("layers", c_int),
                ("bidirectional", c_int), ("embed", c_int), ("label_embed", c_int),
                ("dropout", c_float), ("seed", c_uint64),
                # Task properties (zero: the classifier of before).
                ("input", c_int), ("input_size", c_int), ("head", c_int), ("target", c_int),
                ("outputs", c_int), ("loss", c_int), ("huber_delta", c_float)]


class TrainConfig(Structure):
    _fields_ = [("optim", c_int), ("lr", c_float), ("momentum", c_float),
                ("weight_decay", c_float), ("beta1", c_float), ("beta2", c_float),
                ("eps", c_float), ("clip", c_float), ("max_batch", c_int), ("seed", c_uint64),
                ("threads", c_int), ("sum_loss", c_int)]


class Batch(Structure):
    _fields_ = [("n", c_int), ("tokens", POINTER(c_int32)), ("offsets", POINTER(c_int32)),
                ("labels", POINTER(c_int32)), ("features", POINTER(c_float)),
                ("step_labels", POINTER(c_int32)), ("targets", POINTER(c_float))]


class Metrics(Structure):
    _fields_ = [("num_labels", c_int), ("n", c_size_t), ("correct", c_size_t),
                ("loss_sum", c_double), ("terms", c_size_t), ("confusion", POINTER(c_size_t))]


class FitStep(Structure):
    _fields_ = [("epoch", c_int), ("epochs", c_int), ("step", c_uint64), ("done", c_size_t),
                ("total", c_size_t), ("seconds", c_double), ("loss", c_double),
                ("step_loss", c_double)]


class FitEpoch(Structure):
    _fields_ = [("epoch", c_int), ("epochs", c_int), ("train_loss", c_double),
                ("train_seconds", c_double), ("sequences", c_size_t),
                ("valid", POINTER(Metrics)), ("valid_loss", c_double),
                ("valid_accuracy", c_double), ("valid_macro_recall", c_double),
                ("improved", c_int), ("lr_halved", c_int), ("lr", c_float),
                ("best_epoch", c_int), ("best_score", c_double), ("history_n", c_int),
                ("history_train_loss", POINTER(c_double)),
                ("history_valid_loss", POINTER(c_double)),
                ("history_accuracy", POINTER(c_double)),
                ("history_macro_recall", POINTER(c_double))]


FIT_EPOCH_FN = ctypes.CFUNCTYPE(c_int, POINTER(FitEpoch), c_void_p)
FIT_STEP_FN = ctypes.CFUNCTYPE(None, POINTER(FitStep), c_void_p)


class FitConfig(Structure):
    _fields_ = [("train", TrainConfig), ("epochs", c_int), ("batch", c_int), ("bucket", c_int),
                ("balance", c_double), ("token_dropout", c_double), ("patience", c_int),
                ("select", c_int), ("eval_batch", c_int), ("seed", c_uint64),
                ("model_path", c_char_p), ("checkpoint_path", c_char_p), ("resume", c_char_p),
                ("resume_lr", c_int), ("meta", POINTER(c_char_p)), ("n_meta", c_int),
                ("stop", POINTER(c_int)),  # sig_atomic_t is int on the platforms recur runs on
                ("on_step", FIT_STEP_FN), ("on_epoch", FIT_EPOCH_FN), ("user", c_void_p),
                ("rank", c_int), ("ranks", c_int), ("reduce", c_void_p),  # data parallelism: unused here
                ("in_order", c_int)]


class FitResult(Structure):
    _fields_ = [("epochs_done", c_int), ("best_epoch", c_int), ("best_score", c_double),
                ("best_loss", c_double), ("best_accuracy", c_double),
                ("best_macro_recall", c_double), ("best_saved", c_int),
                ("saved_current", c_int), ("current_score", c_double)]


# recur_abi_struct order.
_ABI_STRUCTS = [Error, RnnConfig, Param, DatasetStats, ModelConfig, TrainConfig, Batch,
                Metrics, FitStep, FitEpoch, FitConfig, FitResult]

_P = c_void_p
_E = POINTER(Error)
# name: (restype, argtypes). Handles are opaque void pointers.
_PROTOTYPES = {
    "recur_version": (c_char_p, []),
    "recur_abi_check": (c_int, [c_int, c_int, POINTER(c_size_t), c_int, c_char_p, c_size_t]),
    "recur_status_string": (c_char_p, [c_int]),
    "recur_cell_name": (c_char_p, [c_int]),
    "recur_cell_parse": (c_int, [c_char_p]),
    "recur_cell_gates": (c_int, [c_int]),
    "recur_rnn_create": (c_int, [POINTER(RnnConfig), POINTER(_P), _E]),
    "recur_rnn_free": (None, [_P]),
    "recur_rnn_param_count": (c_int, [_P]),
    "recur_rnn_param": (Param, [_P, c_int]),
    "recur_rnn_zero_grad": (None, [_P]),
    "recur_rnn_forward": (c_int, [_P, c_int, c_int, _P, _P, _P, _P, _P, _P, _P, c_int, _E]),
    "recur_rnn_backward": (c_int, [_P, _P, _P, _P, _P, _P, _P, _E]),
    "recur_vocab_from_symbols": (c_int, [c_int, POINTER(c_char_p), c_int, POINTER(_P), _E]),
    "recur_vocab_create": (c_int, [c_int, POINTER(_P), _E]),
    "recur_vocab_free": (None, [_P]),
    "recur_vocab_size": (c_int, [_P]),
    "recur_vocab_mode": (c_int, [_P]),
    "recur_vocab_symbol": (c_char_p, [_P, c_int]),
    "recur_vocab_encode": (c_int, [_P, c_char_p, c_size_t, _P, c_size_t, POINTER(c_size_t), _E]),
    "recur_model_create": (c_int, [POINTER(ModelConfig), _P, POINTER(c_char_p), c_int,
                                   POINTER(_P), _E]),
    "recur_model_free": (None, [_P]),
    "recur_model_get_config": (POINTER(ModelConfig), [_P]),
    "recur_model_vocab": (_P, [_P]),
    "recur_model_num_labels": (c_int, [_P]),
    "recur_model_label_name": (c_char_p, [_P, c_int]),
    "recur_model_label_find": (c_int, [_P, c_char_p]),
    "recur_model_param_count": (c_int, [_P]),
    "recur_model_param": (Param, [_P, c_int]),
    "recur_model_num_weights": (c_size_t, [_P]),
    "recur_model_set_meta": (c_int, [_P, c_char_p, c_char_p, _E]),
    "recur_model_get_meta": (c_char_p, [_P, c_char_p]),
    "recur_model_save": (c_int, [_P, c_char_p, _E]),
    "recur_model_load": (c_int, [c_char_p, POINTER(_P), _E]),
    "recur_runner_create": (c_int, [_P, c_int, POINTER(_P), _E]),
    "recur_runner_free": (None, [_P]),
    "recur_runner_classify": (c_int, [_P, POINTER(c_char_p), POINTER(c_size_t), c_int, _P, _E]),
    "recur_runner_classify_ids": (c_int, [_P, _P, _P, c_int, _P, _E]),
    "recur_runner_reset": (c_int, [_P, c_int, _E]),
    "recur_runner_step": (c_int, [_P, c_int32, POINTER(c_float), _E]),
    "recur_vocab_add": (c_int, [_P, c_char_p, c_size_t, _E]),
    "recur_dataset_load": (c_int, [c_char_p, POINTER(_P), _E]),
    "recur_dataset_free": (None, [_P]),
    "recur_dataset_size": (c_size_t, [_P]),
    "recur_dataset_num_labels": (c_int, [_P]),
    "recur_dataset_label_name": (c_char_p, [_P, c_int]),
    "recur_dataset_text": (ctypes.POINTER(c_char), [_P, c_size_t, POINTER(c_size_t)]),
    "recur_dataset_label": (c_int, [_P, c_size_t]),
    "recur_fit_config_default": (None, [POINTER(FitConfig)]),
    "recur_fit": (c_int, [_P, POINTER(FitConfig), POINTER(Batch), POINTER(c_size_t), c_size_t,
                          POINTER(c_size_t), c_size_t, POINTER(FitResult), _E]),
    "recur_model_input_mean": (POINTER(c_float), [_P]),
    "recur_model_input_std": (POINTER(c_float), [_P]),
    "recur_model_quantize": (c_int, [_P, c_int, _E]),
    "recur_model_dtype": (c_int, [_P]),
    "recur_dtype_name": (c_char_p, [c_int]),
    "recur_dtype_parse": (c_int, [c_char_p]),
    "recur_set_threads": (None, [c_int]),
    "recur_get_threads": (c_int, []),
}

_lock = threading.Lock()
_lib = None
_lib_path = None


def _candidates():
    here = os.path.dirname(os.path.abspath(__file__))
    # python/recur/_lib.py -> <repo>/build/librecur.so
    yield os.path.join(os.path.dirname(os.path.dirname(here)), "build", "librecur.so")
    if shutil.which("pkg-config"):
        try:
            libdir = subprocess.run(["pkg-config", "--variable=libdir", "recur"],
                                    capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            libdir = ""
        if libdir:
            yield os.path.join(libdir, "librecur.so")
            yield os.path.join(libdir, "librecur.so.0")


def _open(path):
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise LibraryError("cannot load %s: %s" % (path, e), "io") from None


def library_path():
    """The path of the librecur.so in use (loading it if needed)."""
    lib()
    return _lib_path


def lib():
    """The loaded, checked librecur (a ctypes.CDLL); raises LibraryError."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        env = os.environ.get("RECUR_LIBRARY")
        if env:
            if not os.path.exists(env):
                raise LibraryError("RECUR_LIBRARY=%s: no such file" % env, "io")
            path, handle = env, _open(env)
        else:
            path = handle = None
            for cand in _candidates():
                if os.path.exists(cand):
                    path, handle = cand, _open(cand)
                    break
            if handle is None:
                try:
                    path, handle = "librecur.so.0", ctypes.CDLL("librecur.so.0")
                except OSError:
                    raise LibraryError(
                        "librecur.so not found: build it (make), install it (make install: "
                        "pkg-config finds it) or set RECUR_LIBRARY to its path", "io") from None
        _check(handle, path)
        for name, (res, args) in _PROTOTYPES.items():
            try:
                fn = getattr(handle, name)
            except AttributeError:
                raise LibraryError("%s: %s is missing: the library is older than the binding"
                                   % (path, name)) from None
            fn.restype, fn.argtypes = res, args
        _lib, _lib_path = handle, path
        return _lib


def _check(handle, path):
    try:
        check = handle.recur_abi_check
    except AttributeError:
        raise LibraryError("%s has no recur_abi_check: the library is older than the binding "
                           "(version 0.2 with the layout check)" % path) from None
    check.restype = c_int
    check.argtypes = [c_int, c_int, POINTER(c_size_t), c_int, c_char_p, c_size_t]
    sizes = (c_size_t * len(_ABI_STRUCTS))(*[ctypes.sizeof(s) for s in _ABI_STRUCTS])
    msg = ctypes.create_string_buffer(512)
    if check(ABI_VERSION[0], ABI_VERSION[1], sizes, len(_ABI_STRUCTS), msg, 512):
        raise LibraryError("%s: %s" % (path, msg.value.decode("utf-8", "replace")))


def call(fn, *args):
    """Call a fallible recur_ function (err last) and raise its error."""
    err = Error()
    status = fn(*args, ctypes.byref(err))
    if status:
        raise error_class(status)(err.message.decode("utf-8", "replace"),
                                  _STATUS_NAMES[status] if status < len(_STATUS_NAMES)
                                  else str(status))


# Shown as recur.FormatError etc. in tracebacks, where users import them from.
for _cls in (RecurError, LibraryError, FormatError, DataError, NumericError, ArgumentError,
             OutOfMemoryError, FileError, Interrupted):
    _cls.__module__ = "recur"
