"""NumPy, when it is installed: the parts of the package that take or give
arrays need it; the rest (loading, predicting, sampling, saving) does not."""
try:
    import numpy
except ImportError:  # pragma: no cover - depends on the interpreter
    numpy = None


def need():
    """NumPy, or ImportError with one line saying what needs it."""
    if numpy is None:
        raise ImportError("this part of recur needs NumPy (pip install numpy, or Debian's "
                          "python3-numpy); loading, predict, sample and save work without it")
    return numpy


def ptr(a):
    """The data pointer of an array (None for None), as a ctypes void pointer."""
    return None if a is None else a.ctypes.data
