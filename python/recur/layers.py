"""recur.RNN, recur.LSTM, recur.GRU: PyTorch's nn.RNN/LSTM/GRU on NumPy
arrays, over librecur's dense recur_rnn API.

Arrays in: any floating dtype (float32 is used as is, others are converted)
in any memory layout (a non-contiguous array is copied once into a
contiguous float32 one); integer, bool or complex arrays are refused with
TypeError, wrong shapes with ValueError. ``lengths`` must be integers.
Arrays out are new C-contiguous float32 arrays.
"""
import ctypes
from ctypes import byref, c_void_p

from . import _lib, _np
from ._lib import call

_CELLS = {"rnn_tanh": 0, "rnn_relu": 1, "lstm": 2, "gru": 3}


def _floats(np, a, name, shape=None):
    """`a` as a C-contiguous float32 array (copied only when needed)."""
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise TypeError("%s must be a floating-point array, not %s" % (name, a.dtype))
    a = np.ascontiguousarray(a, dtype=np.float32)
    if shape is not None and a.shape != tuple(shape):
        raise ValueError("%s has shape %s, expected %s" % (name, list(a.shape), list(shape)))
    return a


class _Stack:
    """Common code of RNN, LSTM and GRU (see their docstrings)."""

    _cell = None

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, dropout=0.0,
                 batch_first=False, seed=0, threads=1, _cell=None):
        self._lib = _lib.lib()
        cell = _cell or self._cell
        self.cell = cell
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bidirectional = int(num_layers), bool(bidirectional)
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        self.num_directions = 2 if self.bidirectional else 1
        cfg = _lib.RnnConfig(_CELLS[cell], self.input_size, self.hidden_size, self.num_layers,
                             int(self.bidirectional), self.dropout, int(seed), int(threads))
        h = c_void_p()
        call(self._lib.recur_rnn_create, byref(cfg), byref(h))
        self._h = h
        self._T = self._B = None
        self._params = self._views()

    def _views(self):
        """{name: (weight view, grad view)}: arrays over the layer's memory
        that keep the layer alive as long as they exist."""
        np = _np.need()
        out = {}
        for i in range(self._lib.recur_rnn_param_count(self._h)):
            p = self._lib.recur_rnn_param(self._h, i)
            shape = tuple(p.shape[:p.ndim])
            n = 1
            for d in shape:
                n *= d
            pair = []
            for ptr in (p.data, p.grad):
                buf = (ctypes.c_float * n).from_address(ctypes.addressof(ptr.contents))
                buf._owner = self  # the view's base keeps the layer's memory alive
                pair.append(np.frombuffer(buf, dtype=np.float32).reshape(shape))
            out[p.name.decode()] = tuple(pair)
        return out

    def close(self):
        """Free the native layer now. Parameter views must not be used after."""
        if getattr(self, "_h", None):
            self._lib.recur_rnn_free(self._h)
            self._h = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "recur.%s(%d, %d, num_layers=%d%s%s)" % (
            type(self).__name__, self.input_size, self.hidden_size, self.num_layers,
            ", bidirectional=True" if self.bidirectional else "",
            ", batch_first=True" if self.batch_first else "")

    # -- parameters -----------------------------------------------------
    @property
    def parameters(self):
        """{PyTorch name ("weight_ih_l0", ...): float32 view}: writing to a
        view changes the layer."""
        return {k: v[0] for k, v in self._params.items()}

    @property
    def grads(self):
        """{name: float32 view of the gradient}, accumulated by backward."""
        return {k: v[1] for k, v in self._params.items()}

    def state_dict(self):
        """Copies of the parameters, as nn.RNN/LSTM/GRU's state_dict()."""
        return {k: v[0].copy() for k, v in self._params.items()}

    def load_state_dict(self, tensors):
        """Copy {name: array} into the parameters (every one, shapes equal)."""
        np = _np.need()
        if set(tensors) != set(self._params):
            raise ValueError("load_state_dict: expected %s, got %s"
                             % (sorted(self._params), sorted(tensors)))
        for k, (w, _) in self._params.items():
            w[...] = _floats(np, tensors[k], k, w.shape)

    def zero_grad(self):
        self._lib.recur_rnn_zero_grad(self._handle())

    def _handle(self):
        if not self._h:
            raise ValueError("the layer is closed")
        return self._h

    # -- forward and backward -------------------------------------------
    def forward(self, x, lengths=None, h0=None, c0=None, train=False):
        """Run the stack, as PyTorch with pack_padded_sequence.

        x: [T, B, I] ([B, T, I] with batch_first; [T, I] for one sequence).
        lengths: [B] ints in 1..T (None: all T); rows past a sequence's end
        are ignored, its outputs there are 0. h0, c0 (c0: LSTM only):
        [L*D, B, H] ([L*D, H] for one sequence), None for zeros.
        With train=True dropout applies and the activations are kept for
        one ``backward``.
        Returns (y, h_n), or (y, (h_n, c_n)) for an LSTM, like PyTorch:
        y [T, B, D*H] and h_n, c_n [L*D, B, H].
        """
        np = _np.need()
        h = self._handle()
        x = np.asarray(x)
        single = x.ndim == 2
        if single:
            x = x[:, None, :]
        elif self.batch_first and x.ndim == 3:
            x = x.transpose(1, 0, 2)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError("x has shape %s, expected [T, B, %d]%s" % (
                list(np.asarray(x).shape), self.input_size,
                " (batch_first: [B, T, %d])" % self.input_size if self.batch_first else ""))
        T, B = x.shape[0], x.shape[1]
        if T < 1 or B < 1:
            raise ValueError("x has shape %s: T and B must be at least 1" % list(x.shape))
        x = _floats(np, x, "x")
        LD, H = self.num_layers * self.num_directions, self.hidden_size
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.dtype.kind not in "iu":
                raise TypeError("lengths must be integers, not %s" % lengths.dtype)
            lengths = np.ascontiguousarray(lengths, dtype=np.int32).reshape(-1)
            if lengths.shape != (B,):
                raise ValueError("lengths has %d entries, the batch %d" % (lengths.size, B))
        state_shape = (LD, H) if single else (LD, B, H)
        h0 = _floats(np, h0, "h0", state_shape)
        if c0 is not None and self.cell != "lstm":
            raise ValueError("c0 is for an LSTM only")
        c0 = _floats(np, c0, "c0", state_shape)
        y = np.empty((T, B, self.num_directions * H), dtype=np.float32)
        hn = np.empty((LD, B, H), dtype=np.float32)
        cn = np.empty((LD, B, H), dtype=np.float32) if self.cell == "lstm" else None
        P = _np.ptr
        call(self._lib.recur_rnn_forward, h, T, B, P(x), P(lengths), P(h0), P(c0), P(y), P(hn),
             P(cn), 1 if train else 0)
        if train:
            self._T, self._B, self._single = T, B, single
        if single:
            y, hn = y[:, 0], hn[:, 0]
            cn = cn[:, 0] if cn is not None else None
        elif self.batch_first:
            y = np.ascontiguousarray(y.transpose(1, 0, 2))
        return (y, (hn, cn)) if self.cell == "lstm" else (y, hn)

    __call__ = forward

    def backward(self, dy=None, dhn=None, dcn=None):
        """Backpropagation through time for the last forward(train=True).

        dy like that forward's y, dhn/dcn like its h_n/c_n; any may be None
        (zero). Adds the parameter gradients to ``grads`` and returns
        (dx, dh0), or (dx, (dh0, dc0)) for an LSTM, shaped as x and h0.
        """
        np = _np.need()
        h = self._handle()
        if self._T is None:
            raise ValueError("backward needs a forward(train=True) first")
        T, B, single = self._T, self._B, self._single
        LD, H, DH = self.num_layers * self.num_directions, self.hidden_size, \
            self.num_directions * self.hidden_size
        if single:
            y_shape, s_shape = (T, DH), (LD, H)
        elif self.batch_first:
            y_shape, s_shape = (B, T, DH), (LD, B, H)
        else:
            y_shape, s_shape = (T, B, DH), (LD, B, H)
        dy = _floats(np, dy, "dy", y_shape)
        if dy is not None and self.batch_first and not single:
            dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
        dhn = _floats(np, dhn, "dhn", s_shape)
        if dcn is not None and self.cell != "lstm":
            raise ValueError("dcn is for an LSTM only")
        dcn = _floats(np, dcn, "dcn", s_shape)
        dx = np.empty((T, B, self.input_size), dtype=np.float32)
        dh0 = np.empty((LD, B, H), dtype=np.float32)
        dc0 = np.empty((LD, B, H), dtype=np.float32) if self.cell == "lstm" else None
        P = _np.ptr
        call(self._lib.recur_rnn_backward, h, P(dy), P(dhn), P(dcn), P(dx), P(dh0), P(dc0))
        self._T = None
        if single:
            dx, dh0 = dx[:, 0], dh0[:, 0]
            dc0 = dc0[:, 0] if dc0 is not None else None
        elif self.batch_first:
            dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
        return (dx, (dh0, dc0)) if self.cell == "lstm" else (dx, dh0)

    def to_torch(self):
        """The equivalent torch.nn.RNN/LSTM/GRU with these weights."""
        from .torch_io import layer_to_torch
        return layer_to_torch(self)


class RNN(_Stack):
    """Elman RNN stack, PyTorch's nn.RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    (nonlinearity="relu": max(0, .)). See forward for shapes."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", **kw):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError("nonlinearity must be 'tanh' or 'relu', not %r" % (nonlinearity,))
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, _cell="rnn_" + nonlinearity, **kw)


class LSTM(_Stack):
    """LSTM stack, PyTorch's nn.LSTM (gates i, f, g, o). See forward."""
    _cell = "lstm"


class GRU(_Stack):
    """GRU stack, PyTorch's nn.GRU (gates r, z, n; b_hn inside the reset
    product). See forward."""
    _cell = "gru"
