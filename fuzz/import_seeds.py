#!/usr/bin/env python3
"""Seeds of fuzz/corpus/import/: small plain state_dicts (PyTorch names, no
recur metadata) for fuzz_import's 12-id vocabulary, valid and not. Run from
the repository root: python3 fuzz/import_seeds.py (needs NumPy)."""
import json
import os
import struct

import numpy as np

rng = np.random.default_rng(1)
OUT = os.path.join("fuzz", "corpus", "import")


def rnn(prefix, G, I, H, L, D):
    t = {}
    for k in range(L):
        for sfx in ([""] if D == 1 else ["", "_reverse"]):
            t["%sweight_ih_l%d%s" % (prefix, k, sfx)] = rng.standard_normal((G * H, I if k == 0 else D * H))
            t["%sweight_hh_l%d%s" % (prefix, k, sfx)] = rng.standard_normal((G * H, H))
            t["%sbias_ih_l%d%s" % (prefix, k, sfx)] = rng.standard_normal(G * H)
            t["%sbias_hh_l%d%s" % (prefix, k, sfx)] = rng.standard_normal(G * H)
    return t


def head(prefix, D, H, C=3):
    return {prefix + "weight": rng.standard_normal((C, D * H)), prefix + "bias": rng.standard_normal(C)}


def save(name, tensors):
    header, blobs, off = {}, [], 0
    for k, a in tensors.items():
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(np.shape(a)), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


os.makedirs(OUT, exist_ok=True)
save("lstm_emb.safetensors", {"emb.weight": rng.standard_normal((12, 3)), **rnn("lstm.", 4, 3, 2, 1, 1),
                              **head("fc.", 1, 2)})
save("gru_onehot_bi2.safetensors", {**rnn("rnn.", 3, 12, 2, 2, 2), **head("out.", 2, 2)})
save("rnn_bare_prefix.safetensors", {**rnn("", 1, 12, 3, 1, 1), **head("head.", 1, 3)})
save("extra_tensor.safetensors", {**rnn("r.", 3, 12, 2, 1, 1), **head("h.", 1, 2), "norm.scale": np.ones(2)})
t = {**rnn("r.", 4, 12, 2, 2, 1), **head("h.", 1, 2)}
del t["r.bias_hh_l1"]
save("missing_bias.safetensors", t)
save("wrong_embedding.safetensors", {"e.weight": rng.standard_normal((7, 3)), **rnn("r.", 1, 3, 2, 1, 1),
                                     **head("h.", 1, 2)})
