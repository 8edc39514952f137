"""recur: recurrent neural networks (RNN, LSTM, GRU) in C, from Python.

A pure-Python (ctypes) binding of librecur.so:

    import recur
    m = recur.Model.load("names.safetensors")
    m.predict(["Dovesky"], top=3)        # [[('Russian', -0.02), ...]]
    m.classify(["Dovesky", "Satoshi"])   # log-probabilities, ndarray [2, labels]

* ``recur.Model``: load/save model files, predict/classify texts, sample names.
* ``recur.fit(data, **options)``: train one (librecur's training driver).
* ``recur.fit_dense(X, y, task=...)``: tag, regress or classify NumPy feature
  sequences; ``Model.predict_dense`` and ``Model.evaluate`` (task metrics).
* ``recur.RNN``, ``recur.LSTM``, ``recur.GRU``: PyTorch's layers on NumPy arrays,
  forward and backward.
* ``recur.from_torch(module)`` and ``.to_torch()``: PyTorch models in and out.

Errors are exceptions carrying librecur's one-line message (``RecurError``
and its subclasses). The library is found through ``$RECUR_LIBRARY``, the
build tree this package sits in, or the installed pkg-config ``recur``.
"""
from ._lib import (ArgumentError, DataError, FileError, FormatError, Interrupted, LibraryError,
                   NumericError, OutOfMemoryError, RecurError, library_path)
from .layers import GRU, LSTM, RNN
from .model import Model, Runner
from .torch_io import from_torch
from .fit import fit
from .dense import evaluate_dense, fit_dense, predict_dense

__version__ = "0.3.0"

__all__ = ["Model", "Runner", "fit", "fit_dense", "predict_dense", "evaluate_dense", "RNN", "LSTM", "GRU", "from_torch", "library_version",
           "library_path", "set_threads", "RecurError", "LibraryError", "ArgumentError",
           "FormatError", "DataError", "FileError", "NumericError", "OutOfMemoryError",
           "Interrupted"]


def library_version():
    """The version of the librecur.so in use (recur_version())."""
    from ._lib import lib
    return lib().recur_version().decode()


def set_threads(n):
    """Threads of OpenBLAS's pool (process-wide) for the large products."""
    from ._lib import lib
    lib().recur_set_threads(int(n))
