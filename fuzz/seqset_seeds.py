#!/usr/bin/env python3
"""Write the seed corpora of fuzz_tagged and fuzz_dense (fuzz/README.md):
fuzz/corpus/tagged/ and fuzz/corpus/dense/. Deterministic, standard library
only (the .npy images are written by hand, the .npz with zipfile).
Each seed is one mode byte (see the harness) followed by the file."""
import os
import struct
import sys
import zipfile
import io

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(kind, name, mode, body):
    d = os.path.join(root, kind)
    os.makedirs(d, exist_ok=True)
    if isinstance(body, str):
        body = body.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes([mode]) + body)


def npy(descr, shape, values, fmt):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    total = 10 + len(h) + 1
    h += " " * ((64 - total % 64) % 64) + "\n"
    data = b"".join(struct.pack(fmt, v) for v in values)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data


def npz(members, compress=False):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data,
                       zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
    return b.getvalue()


# Tagged text: CoNLL (mode bit 0 clear) and JSON Lines (bit 0 set).
conll03 = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n"
           "call NN I-NP O\n. . O O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
put("tagged", "conll2003", 2, conll03)
put("tagged", "conll2003-crlf", 2, conll03.replace("\n", "\r\n"))
put("tagged", "conll2003-mincount", 6, conll03)
conllu = ("# sent_id = 1\n# text = du vin\n1-2\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
          "1\tde\tde\tADP\t_\t_\t3\tcase\t_\t_\n2\tle\tle\tDET\t_\t_\t3\tdet\t_\t_\n"
          "2.1\tx\tx\tX\t_\t_\t_\t_\t_\t_\n3\tvin\tvin\tNOUN\t_\t_\t0\troot\t_\t_\n\n")
put("tagged", "conllu", 10, conllu)
put("tagged", "chars", 0, "c\tB\ne\u0301\tI\nt\tI\n\n\u00e9\tB\n\n\u4e2d\tS\n")
put("tagged", "chars-notags", 0, "a\nb\n\nc\n")
put("tagged", "chars-bad-utf8", 0, b"a\tO\n\xff\tO\n")
put("tagged", "chars-too-long", 0, "ab\tO\n")
put("tagged", "bom", 2, "\ufeffa\tO\n")
put("tagged", "jsonl-text", 1, '{"text": "ete", "tags": ["\u00e9", "t", "\u00e9"]}\n\n{"text": "a", "tags": ["a"]}\n')
put("tagged", "jsonl-tokens", 3, '{"tokens": ["the", "cat"], "tags": ["D", "N"], "label": "pos"}\n'
    '{"tokens": ["a", "cat", "sat"], "tags": ["D", "N", "V"], "label": "neg"}\n')
put("tagged", "jsonl-text-tokens", 3, '{"text": " the  cat ", "tags": ["D", "N"]}\n')
put("tagged", "jsonl-label-only", 1, '{"text": "Dovesky", "label": "Russian"}\n{"text": "Jackson", "label": "Scottish"}\n')
put("tagged", "jsonl-escapes", 1, '{"text": "\\u00e9\\ud83d\\ude00\\n", "tags": ["x", "y", "z"]}\n')
put("tagged", "jsonl-bad", 1, '{"text": "ab", "tags": ["x"]}\n{"text": 3}\n[1]\n{"text": "a"} x\n')
put("tagged", "jsonl-nul", 1, '{"text": "a\\u0000b"}\n')

# Dense: CSV (bit 0 clear; bits choose the columns) and NumPy (bit 0 set).
put("dense", "csv-series", 2 | 4, "id,t,a,b,y\ns1,0,1.5,2,3\ns1,1,2.5,3,4\ns2,0,-1e-3,0,1\n")
put("dense", "csv-per-sequence", 2 | 4 | 8 | 16, "id,a,b,y,label\n1,1,2,5,up\n1,2,3,5,up\n2,3,4,7,down\n")
put("dense", "csv-tags", 2 | 32 | 64, 'id,a,b,c,tag\r\n1,1,2,9,N\r\n1,"2",3,9,V\r\n2, 3 ,4,9,N\r\n')
put("dense", "csv-semicolon", 2 | 128, "\ufeffid;a;b\nx;1;2\n\nx;3;4\n")
put("dense", "csv-quotes", 2, 'id,"a, quoted",b\n"x ""1""",1,2\n')
put("dense", "csv-bad", 2 | 4, "id,a,y\n1,abc,2\n1,nan,3\n2,1\n1,2,3\n")
put("dense", "csv-co2", 4, "co2,y\n315.4,316.1\n316.1,316.5\n316.5,317.0\n")
f = [float(i) for i in range(12)]
put("dense", "npy-padded", 1, npy("<f4", "(2, 3, 2)", f, "<f"))
put("dense", "npy-f8-be", 1, npy(">f8", "(3,)", [1.0, 2.0, -3.0], ">d"))
put("dense", "npy-one", 1, npy("<f4", "(4, 1)", [0.5, 1, 2, 3], "<f"))
put("dense", "npy-int", 1, npy("<i2", "(2, 2, 1)", [1, 2, 3, 4], "<h"))
put("dense", "npy-v2", 1, b"\x93NUMPY\x02\x00" + struct.pack("<I", 54) +
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}\n" + struct.pack("<f", 1.0))
put("dense", "npy-short", 1, npy("<f4", "(2, 3)", [0, 1, 2, 3], "<f"))
concat = [("features.npy", npy("<f4", "(5, 1)", [1, 2, 3, 4, 5], "<f")),
          ("lengths.npy", npy("<i8", "(2,)", [2, 3], "<q")),
          ("targets.npy", npy("<f4", "(2,)", [10, 20], "<f")),
          ("labels.npy", npy("<i4", "(2,)", [1, 0], "<i"))]
put("dense", "npz-concat", 1, npz(concat))
put("dense", "npz-concat-deflated", 1, npz(concat, True))
put("dense", "npz-offsets", 1, npz([("features.npy", npy("<f4", "(3, 2)", list(range(6)), "<f")),
                                    ("offsets.npy", npy("<i4", "(3,)", [0, 1, 3], "<i")),
                                    ("targets.npy", npy("<f4", "(3,)", [1, 2, 3], "<f"))]))
put("dense", "npz-padded-tags", 1, npz([("features.npy", npy("<f4", "(2, 3, 1)", [1, 2, 3, 4, -1, -1], "<f")),
                                        ("lengths.npy", npy("<i8", "(2,)", [3, 1], "<q")),
                                        ("tags.npy", npy("<i4", "(2, 3)", [0, 1, 2, 1, 9, 9], "<i")),
                                        ("targets.npy", npy("<f4", "(2, 3, 1)", [1, 2, 3, 4, 0, 0], "<f"))]))
put("dense", "npz-members", 1, npz([("walk_a.npy", npy("<f8", "(2, 2)", [1, 2, 3, 4], "<d")),
                                    ("walk_b.npy", npy("<f4", "(1, 2)", [5, 6], "<f")),
                                    ("targets.npy", npy("<f4", "(2, 1)", [1, 2], "<f"))], True))
print("seeds written under", root, file=sys.stderr)
