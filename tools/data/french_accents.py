#!/usr/bin/python3
"""French accent restoration as a tagging task, from Debian's wfrench word
list (/usr/share/dict/french).

Input: the word with its diacritics removed (NFD, combining marks dropped,
NFC again: "été" -> "ete"); target, per character: the original character
("é", "t", "é"). Words whose stripped form is not one character per
original character are skipped (none in wfrench, but the check is cheap).
The split is by distinct word (the list has each word once; a word and its
capitalised form are two words): --test-share of them, chosen by a seeded
shuffle, go to the test file. Copying the input is the trivial baseline; the
script prints its character and word accuracy on the test words.

Writes OUT/french_{train,test}.jsonl ({"text": ..., "tags": [...]}) or, with
--format conll, OUT/french_{train,test}.conll (one character and its tag a
line, a blank line after each word). Example:
    /usr/bin/python3 tools/data/french_accents.py --out build/data
"""
import argparse
import json
import os
import random
import sys
import unicodedata


def strip(word):
    d = unicodedata.normalize("NFD", word)
    return unicodedata.normalize("NFC", "".join(c for c in d if not unicodedata.combining(c)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--words", default="/usr/share/dict/french")
    ap.add_argument("--out", default="build/data")
    ap.add_argument("--format", choices=["jsonl", "conll"], default="jsonl")
    ap.add_argument("--test-share", type=float, default=0.1)
    ap.add_argument("--limit", type=int, default=0, help="keep this many words (0: all), after the shuffle")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if not 0 < a.test_share < 1:
        sys.exit("french_accents.py: --test-share must be in (0, 1)")
    try:
        with open(a.words, encoding="utf-8") as f:
            words = sorted({unicodedata.normalize("NFC", w.strip()) for w in f if w.strip()})
    except OSError as e:
        sys.exit("french_accents.py: %s (install Debian's wfrench)" % e)
    pairs, skipped = [], 0
    for w in words:
        s = strip(w)
        if len(s) != len(w) or any(c.isspace() for c in w):
            skipped += 1
            continue
        pairs.append((s, w))
    random.Random(a.seed).shuffle(pairs)
    if a.limit:
        pairs = pairs[: a.limit]
    n_test = max(1, round(len(pairs) * a.test_share))
    splits = {"test": pairs[:n_test], "train": pairs[n_test:]}
    os.makedirs(a.out, exist_ok=True)
    for name, rows in splits.items():
        path = os.path.join(a.out, "french_%s.%s" % (name, a.format))
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for s, w in rows:
                if a.format == "jsonl":
                    f.write(json.dumps({"text": s, "tags": list(w)}, ensure_ascii=False) + "\n")
                else:
                    f.write("".join("%s\t%s\n" % (c, t) for c, t in zip(s, w)) + "\n")
        os.replace(tmp, path)
        print("%s: %d words" % (path, len(rows)))
    test = splits["test"]
    chars = sum(len(w) for _, w in test)
    same = sum(c == t for s, w in test for c, t in zip(s, w))
    words_ok = sum(s == w for s, w in test)
    print("copy-the-input baseline on the test words: %.2f%% of characters, %.2f%% of words (%d skipped)"
          % (100.0 * same / chars, 100.0 * words_ok / len(test), skipped))


if __name__ == "__main__":
    main()
