"""What the Python tests share: the package from this tree, optional NumPy
and torch, and small models made without training."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

import recur  # noqa: E402

try:
    import numpy as np
except ImportError:
    np = None
try:
    import torch
except ImportError:
    torch = None

needs_numpy = unittest.skipIf(np is None, "NumPy is not installed for %s" % sys.executable)
needs_torch = unittest.skipIf(torch is None or np is None,
                              "torch is not installed for %s" % sys.executable)

SYMBOLS = "abcdefghijklmnopqrstuvwxyz"
LABELS = ["alpha", "beta", "gamma"]


def tiny_model(task="classify", **kw):
    args = dict(task=task, cell="gru", hidden=8, layers=1, embed=4, vocab=SYMBOLS,
                labels=LABELS, seed=3)
    args.update(kw)
    return recur.Model.create(**args)


def run_python(code, env=None):
    """Run code in a fresh interpreter (this one) with the package on its path."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.path.join(ROOT, "python")
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e,
                          timeout=60)


class TempDir(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def save_state_dict(tensors, path):
    """A plain safetensors file ({name: float32 ndarray}, no metadata), as
    safetensors.torch.save_file writes one (Debian has no safetensors)."""
    import json
    import struct
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    write_bytes(path, struct.pack("<Q", len(h)) + h + b"".join(blobs))


RECUR_BIN = os.path.join(ROOT, "build", "recur")


def recur_cli(*args):
    return subprocess.run([RECUR_BIN] + list(args), capture_output=True, text=True, timeout=60)
