#!/usr/bin/env python3
"""Synthesise connected digit strings with exact per-frame labels, offline and reproducibly.

Each utterance is one voice (the voices and the held-out split of
make_speech.py, from the same seed) saying 3 to 7 digits with a random pause
of 60-400 ms between them and 100-300 ms of silence around them, then noise
at a drawn signal-to-noise ratio. Every digit is synthesised alone (espeak-ng,
sox to 16 kHz) and trimmed to where its samples rise above -40 dB of its peak,
so the label spans are exact by construction: OUT/{train,test}/<name>.wav
beside <name>.lab, one "start end digit" line per digit in samples (what
recur_seqset_load_audio_tags reads; frames outside every span are "sil").
A pause of at least 60 ms (6 frames) separates two equal digits in a row, so
collapsing runs of frame labels spells the string. Synthetic speech from one
synthesiser: a test of per-frame tagging, not a claim about human speech.

    /usr/bin/python3 tools/data/make_speech_digits.py --out data/digits [--seed 1] [--per-voice 4] [--quick]
"""
import argparse
import concurrent.futures as cf
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_speech import ACCENTS, VARIANTS, RATE, synth, write_wav  # noqa: E402

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def trim(x):
    """The samples of x between its first and last above -40 dB of its peak."""
    a = np.abs(x)
    keep = np.nonzero(a > a.max() * 0.01)[0]
    return x[keep[0]:keep[-1] + 1] if len(keep) else x


def make_voice(job):
    """Every string of one voice: the ten digits synthesised once per rendition."""
    out, voice, renditions = job
    made = []
    for r in renditions:
        clips = [trim(synth(voice, d, r["speed"], r["pitch"], r["tempo"])) for d in DIGITS]
        for s in r["strings"]:
            rng = np.random.default_rng(s["seed"])
            parts, segs, pos = [np.zeros(s["lead"])], [], s["lead"]
            for k, d in enumerate(s["digits"]):
                if k:
                    gap = int(rng.integers(960, 6401))  # 60-400 ms
                    parts.append(np.zeros(gap))
                    pos += gap
                clip = clips[d] * s["gain"]
                parts.append(clip)
                segs.append((pos, pos + len(clip), str(d)))
                pos += len(clip)
            parts.append(np.zeros(s["tail"]))
            x = np.concatenate(parts)
            if s["snr"] is not None:
                sig = np.sqrt(np.mean(np.concatenate([clips[d] * s["gain"] for d in s["digits"]]) ** 2))
                x = x + rng.standard_normal(len(x)) * sig / (10 ** (s["snr"] / 20))
            path = os.path.join(out, s["name"])
            write_wav(path + ".wav", x)
            tmp = path + ".lab.tmp"
            with open(tmp, "w") as f:
                for a, b, lab in segs:
                    f.write("%d %d %s\n" % (a, b, lab))
            os.replace(tmp, path + ".lab")
            made.append(path)
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-voice", type=int, default=4, help="strings per voice and rendition")
    ap.add_argument("--renditions", type=int, default=2, help="speeds/pitches per voice")
    ap.add_argument("--test-share", type=float, default=0.2)
    ap.add_argument("--quick", action="store_true", help="3 accents x 4 variants: seconds")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            sys.exit("make_speech_digits: %s is not installed (Debian: apt-get install espeak-ng sox)" % tool)
    accents, variants = (ACCENTS[:3], VARIANTS[:2] + VARIANTS[7:9]) if a.quick else (ACCENTS, VARIANTS)
    voices = ["%s+%s" % (acc, var) for acc in accents for var in variants]
    rng = np.random.default_rng(a.seed)
    n_test = max(1, round(a.test_share * len(voices)))
    test = set(rng.choice(len(voices), n_test, replace=False).tolist())  # as make_speech.py draws it
    jobs = []
    for vi, voice in enumerate(voices):
        side = os.path.join(a.out, "test" if vi in test else "train")
        os.makedirs(side, exist_ok=True)
        rends = []
        for r in range(a.renditions):
            strings = []
            for k in range(a.per_voice):
                n = int(rng.integers(3, 8))
                digits = [int(d) for d in rng.integers(0, 10, n)]
                strings.append({"name": "%s__%d_%d_%s" % (voice, r, k, "".join(map(str, digits))), "digits": digits,
                                "lead": int(rng.integers(1600, 4801)), "tail": int(rng.integers(1600, 4801)),
                                "gain": float(10 ** rng.uniform(-0.5, 0.0)),
                                "snr": [None, 30.0, 20.0][int(rng.integers(0, 3))],
                                "seed": int(rng.integers(0, 2 ** 31))})
            rends.append({"speed": int(rng.integers(120, 221)), "pitch": int(rng.integers(25, 76)),
                          "tempo": float(rng.uniform(0.9, 1.1)), "strings": strings})
        jobs.append((side, voice, rends))
    total = 0
    with cf.ThreadPoolExecutor(a.jobs) as ex:
        for made in ex.map(make_voice, jobs):
            total += len(made)
    print("make_speech_digits: %d strings of 3-7 digits by %d voices (%d held out) in %s" %
          (total, len(voices), n_test, a.out))


if __name__ == "__main__":
    main()
