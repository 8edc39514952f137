#!/usr/bin/env python3
"""What quantization costs a model: held-out accuracy of the fp32 model and
of its int8 and bf16 copies (recur quantize), and the largest change of any
log-probability over every line of the data.

    tools/quant_report.py MODEL [DATA]          # DATA: $RECUR_DATA by default
    tools/quant_report.py --make-words DIR      # the second data set (below)

--make-words writes DIR/English.txt and DIR/French.txt: 8,000 words each,
drawn with a fixed seed from the Debian word lists (wamerican, wfrench),
lower-cased, duplicates across the two lists dropped: a word-language task
on other text than the names. Train on it with
    build/recur train DIR -o words.safetensors
"""
import json
import os
import random
import subprocess
import sys
import tempfile

RECUR = os.environ.get("RECUR", "build/recur")


def fail(msg):
    print("quant_report: " + msg, file=sys.stderr)
    sys.exit(1)


def run(args, stdin=None):
    p = subprocess.run([RECUR] + args, input=stdin, capture_output=True, text=True)
    if p.returncode:
        fail("%s %s failed: %s" % (RECUR, " ".join(args), p.stderr.strip()))
    return p.stdout


def make_words(out):
    lists = {"English": "/usr/share/dict/american-english", "French": "/usr/share/dict/french"}
    words = {}
    for label, path in lists.items():
        if not os.path.exists(path):
            fail("%s is missing (apt-get install wamerican wfrench)" % path)
        with open(path, encoding="utf-8") as f:
            words[label] = {w.strip().lower() for w in f if w.strip() and "'" not in w}
    both = words["English"] & words["French"]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20)
    for label, ws in words.items():
        pick = rng.sample(sorted(ws - both), 8000)
        with open(os.path.join(out, label + ".txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(pick) + "\n")
    print("wrote %s/English.txt and %s/French.txt (8,000 words each)" % (out, out))


def lines_of(data):
    names = []
    for fn in sorted(os.listdir(data)):
        if fn.endswith(".txt"):
            with open(os.path.join(data, fn), encoding="utf-8") as f:
                names += [s.strip() for s in f if s.strip()]
    return names


def logprobs(model, names):
    """Every label's log-probability of every line (recur predict --json)."""
    out = run(["predict", model, "--json", "--top", "100000"], "\n".join(names) + "\n")
    res = []
    for line in out.splitlines():
        d = json.loads(line)
        res.append({p["label"]: p["logprob"] for p in d["predictions"]})
    return res


def accuracy(model, data):
    d = json.loads(run(["eval", model, data, "--held-out", "--json"]))
    return d["accuracy"]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--make-words":
        return make_words(sys.argv[2])
    if len(sys.argv) not in (2, 3):
        fail("usage: tools/quant_report.py MODEL [DATA] | --make-words DIR")
    model = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) == 3 else os.environ.get("RECUR_DATA")
    if not data:
        fail("no DATA and no $RECUR_DATA")
    names = lines_of(data)
    tmpdir = tempfile.TemporaryDirectory()
    tmp = tmpdir.name
    ref = logprobs(model, names)
    acc = accuracy(model, data)
    print("%-6s held-out accuracy %6.2f%%" % ("f32", 100 * acc))
    for dt in ("int8", "bf16"):
        q = os.path.join(tmp, "model.%s.safetensors" % dt)
        run(["quantize", model, "-o", q, "--dtype", dt])
        got = logprobs(q, names)
        worst, who, top, flips = 0.0, "", 0.0, 0
        for name, a, b in zip(names, ref, got):
            for lab, v in a.items():
                d = abs(v - b[lab])
                if d > worst:
                    worst, who = d, "%s (%s)" % (name, lab)
            best = max(a, key=a.get)
            top = max(top, abs(a[best] - b[best]))
            flips += best != max(b, key=b.get)
        qa = accuracy(q, data)
        print("%-6s held-out accuracy %6.2f%% (%+.2f points); over all %d lines: largest log-probability change "
              "%.4f (any label, at %s), %.4f (the fp32 model's top label); top label changed on %d lines"
              % (dt, 100 * qa, 100 * (qa - acc), len(names), worst, who, top, flips))


if __name__ == "__main__":
    main()
