"""PyTorch in and out: recur.from_torch(module) and Model/layer .to_torch().

Imports torch only when called, so the rest of the package works without it.
"""
from . import _np
from .layers import GRU, LSTM, RNN
from .model import Model


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("from_torch/to_torch need PyTorch (Debian: python3-torch)") from None
    return torch


def _cell_of(rnn, nn):
    if isinstance(rnn, nn.LSTM):
        if getattr(rnn, "proj_size", 0):
            raise ValueError("from_torch: an LSTM with proj_size has no recur counterpart")
        return "lstm"
    if isinstance(rnn, nn.GRU):
        return "gru"
    return "rnn_" + rnn.nonlinearity


def _rnn_state(rnn):
    """The module's weights under recur's names, zero biases for bias=False."""
    np = _np.need()
    sd = {k: v.detach().cpu().float().numpy() for k, v in rnn.state_dict().items()}
    if not rnn.bias:
        G = {"lstm": 4, "gru": 3}.get(_cell_of(rnn, _torch().nn), 1)
        for k in list(sd):
            if k.startswith("weight_ih"):
                z = np.zeros(G * rnn.hidden_size, dtype=np.float32)
                sd[k.replace("weight_ih", "bias_ih")] = z
                sd[k.replace("weight_ih", "bias_hh")] = z.copy()
    return sd


def from_torch(module, vocab=None, labels=None, text_mode="unicode"):
    """A recur layer or model computing what a PyTorch module computes.

    * ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` (any layers, bidirectional,
      batch_first or not, bias or not): the recur.RNN/LSTM/GRU layer with
      the same weights; ``forward`` gives the module's outputs.
    * A small ``nn.Module`` whose children are one such recurrent module,
      a ``nn.Linear`` head and optionally an ``nn.Embedding`` (other
      children: ``nn.Dropout`` only): a classifier ``recur.Model`` that
      computes ``log_softmax(head(final state))``, the final state being
      ``h_n[-1]``, or ``cat(h_n[-2], h_n[-1])`` when bidirectional, after
      the embedding of the token ids (or their one-hot vectors, of size
      ``input_size``, without an embedding). The recurrent module must
      read time-major or batch_first input the way its flag says; recur
      packs by length, as ``pack_padded_sequence`` does.

    ``vocab``: the symbols of token ids 2.. (a list or a string of V-2
    characters) so the model reads text; without it, private-use code
    points stand in and the model is used on token ids. ``labels``: the
    class names (default "0", "1", ...). ``text_mode``: "unicode" or
    "ascii" (the tutorial's 57 letters; then V must be 59).
    """
    torch = _torch()
    nn = torch.nn
    rnn_types = (nn.RNN, nn.LSTM, nn.GRU)
    if isinstance(module, rnn_types):
        cell = _cell_of(module, nn)
        kw = dict(num_layers=module.num_layers, bidirectional=module.bidirectional,
                  dropout=module.dropout, batch_first=module.batch_first)
        if cell.startswith("rnn_"):
            layer = RNN(module.input_size, module.hidden_size, nonlinearity=cell[4:], **kw)
        else:
            layer = (LSTM if cell == "lstm" else GRU)(module.input_size, module.hidden_size, **kw)
        layer.load_state_dict(_rnn_state(module))
        return layer
    rnn = embed = head = None
    for name, child in module.named_children():
        if isinstance(child, rnn_types):
            role = "rnn"
        elif isinstance(child, nn.Embedding):
            role = "embed"
        elif isinstance(child, nn.Linear):
            role = "head"
        elif isinstance(child, nn.Dropout):
            continue
        else:
            raise ValueError("from_torch: child %r (%s) has no recur counterpart: a model is "
                             "an optional nn.Embedding, one nn.RNN/LSTM/GRU and one nn.Linear"
                             % (name, type(child).__name__))
        if {"rnn": rnn, "embed": embed, "head": head}[role] is not None:
            raise ValueError("from_torch: more than one %s child (%r)"
                             % ({"rnn": "recurrent", "embed": "nn.Embedding",
                                 "head": "nn.Linear"}[role], name))
        if role == "rnn":
            rnn = child
        elif role == "embed":
            embed = child
        else:
            head = child
    if rnn is None or head is None:
        raise ValueError("from_torch: %s needs an nn.RNN/LSTM/GRU and an nn.Linear head "
                         "(got %s)" % (type(module).__name__,
                                       ", ".join(n for n, _ in module.named_children()) or
                                       "no children"))
    D = 2 if rnn.bidirectional else 1
    if embed is not None:
        V, E = embed.num_embeddings, embed.embedding_dim
        if rnn.input_size != E:
            raise ValueError("from_torch: the embedding gives %d values, the RNN reads %d"
                             % (E, rnn.input_size))
    else:
        V, E = rnn.input_size, 0
    if head.in_features != D * rnn.hidden_size:
        raise ValueError("from_torch: the head reads %d values, the final state has %d"
                         % (head.in_features, D * rnn.hidden_size))
    if V < 3:
        raise ValueError("from_torch: a vocabulary of %d ids; recur needs the unknown symbol, "
                         "the boundary and at least one more" % V)
    C = head.out_features
    labels = [str(i) for i in range(C)] if labels is None else [str(s) for s in labels]
    if len(labels) != C:
        raise ValueError("from_torch: %d labels for a head of %d outputs" % (len(labels), C))
    if text_mode == "ascii":
        syms = None
    elif vocab is None:
        syms = [chr(0xE000 + i) for i in range(V - 2)]  # private use: ids only
    else:
        syms = list(vocab)
        if len(syms) != V - 2:
            raise ValueError("from_torch: %d vocab symbols for %d ids (ids 0 and 1 are the "
                             "unknown symbol and the boundary)" % (len(syms), V))
    m = Model.create(task="classify", cell=_cell_of(rnn, nn), hidden=rnn.hidden_size,
                     layers=rnn.num_layers, bidirectional=rnn.bidirectional, embed=E,
                     dropout=rnn.dropout, vocab=syms, labels=labels, text_mode=text_mode)
    sd = {"rnn." + k: v for k, v in _rnn_state(rnn).items()}
    if embed is not None:
        sd["embed.weight"] = embed.weight.detach().cpu().float().numpy()
    sd["out.weight"] = head.weight.detach().cpu().float().numpy()
    sd["out.bias"] = (head.bias.detach().cpu().float().numpy() if head.bias is not None
                      else _np.need().zeros(C, dtype="float32"))
    m.load_state_dict(sd)
    return m


def layer_to_torch(layer):
    torch = _torch()
    nn = torch.nn
    kw = dict(num_layers=layer.num_layers, bidirectional=layer.bidirectional,
              dropout=layer.dropout, batch_first=layer.batch_first)
    if layer.cell == "lstm":
        t = nn.LSTM(layer.input_size, layer.hidden_size, **kw)
    elif layer.cell == "gru":
        t = nn.GRU(layer.input_size, layer.hidden_size, **kw)
    else:
        t = nn.RNN(layer.input_size, layer.hidden_size, nonlinearity=layer.cell[4:], **kw)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    return t


def _module_classes():
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    class _Recurrent(nn.Module):
        def __init__(self, cfg, V, C, NL):
            super().__init__()
            self.V, self.D = V, 2 if cfg["bidirectional"] else 1
            E, LE = cfg["embed"], cfg["label_embed"]
            self.embed = nn.Embedding(V, E) if E else None
            gen = cfg["task"] == "generate"
            self.NL = NL
            self.label_embed = nn.Embedding(NL, LE) if gen and LE else None
            I = (E or V) + ((LE or NL) if gen else 0)
            args = dict(input_size=I, hidden_size=cfg["hidden"], num_layers=cfg["layers"],
                        bidirectional=bool(cfg["bidirectional"]), dropout=cfg["dropout"])
            cell = cfg["cell"]
            if cell.startswith("rnn_"):
                self.rnn = nn.RNN(nonlinearity=cell[4:], **args)
            else:
                self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](**args)
            self.out = nn.Linear(self.D * cfg["hidden"], C)

        def symbols(self, tokens):
            return self.embed(tokens) if self.embed is not None else \
                F.one_hot(tokens, self.V).float()

    class Classifier(_Recurrent):
        """A recur classifier as a torch module (docs/FORMAT.md section 3).
        forward(tokens [T, B] int64 padded, lengths [B]) -> log-probs [B, C]."""

        def forward(self, tokens, lengths):
            x = self.symbols(tokens)
            packed = nn.utils.rnn.pack_padded_sequence(x, torch.as_tensor(lengths).cpu(),
                                                       enforce_sorted=False)
            _, h_n = self.rnn(packed)
            if isinstance(h_n, tuple):
                h_n = h_n[0]
            h = torch.cat([h_n[-2], h_n[-1]], 1) if self.D == 2 else h_n[-1]
            return F.log_softmax(self.out(h), dim=1)

    class Generator(_Recurrent):
        """A recur generator as a torch module. forward(tokens [T, B] int64,
        labels [B]) -> log-probs of the next symbol at every step [T, B, V];
        feed BOUNDARY (1) first."""

        def forward(self, tokens, labels):
            labels = torch.as_tensor(labels)
            lab = self.label_embed(labels) if self.label_embed is not None else \
                F.one_hot(labels, self.NL).float()
            x = torch.cat([self.symbols(tokens), lab.unsqueeze(0).expand(tokens.shape[0], -1, -1)],
                          2)
            y, _ = self.rnn(x)
            return F.log_softmax(self.out(y), dim=2)

    return Classifier, Generator


def model_to_torch(model):
    torch = _torch()
    cfg = model.config
    if cfg["task"] not in ("classify", "generate"):
        raise ValueError("to_torch: a %s model has no torch counterpart here (classifiers and "
                         "generators only)" % cfg["task"])
    Classifier, Generator = _module_classes()
    V, NL = cfg["vocab_size"], cfg["num_labels"]
    cls = Classifier if cfg["task"] == "classify" else Generator
    m = cls(cfg, V, NL if cfg["task"] == "classify" else V, NL)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    m.labels = model.labels
    m.vocab = model.vocab
    return m.eval()
