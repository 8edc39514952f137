#!/usr/bin/env python3
"""Synthesise the spoken-word corpus of docs/SPEECH.md, offline and reproducibly.

Every utterance is espeak-ng speaking one word with one *voice* (an English
accent with a voice variant, such as en-gb-scotland+m3) at a drawn speed and
pitch; sox resamples it to 16 kHz mono and changes its tempo a little; NumPy
(seeded) adds silence around it, a gain and white noise at a drawn
signal-to-noise ratio. The same seed gives the same files, byte for byte.

Whole voices are held out: about a fifth of the voices (drawn with the seed)
speak only in test/, the others only in train/, so a model is scored on
voices it never heard, the speech counterpart of splitting names by distinct
spelling. This is synthetic speech from one synthesiser: a test that a
pipeline learns from dense per-frame features, not a claim about human speech.

    /usr/bin/python3 tools/data/make_speech.py --out data/speech [--seed 1] [--per-voice 3] [--quick]

Layout: OUT/{train,test}/<word>/<voice>__<k>.wav, and OUT/voices.txt.
Needs espeak-ng, sox and NumPy (Debian: espeak-ng sox python3-numpy).
"""
import argparse
import concurrent.futures as cf
import io
import os
import shutil
import subprocess
import sys
import wave

import numpy as np

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "yes", "no", "up", "down", "left", "right", "stop", "go"]
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4"]
RATE = 16000


def synth(voice, word, speed, pitch, tempo):
    """16 kHz mono int16 samples of espeak-ng saying word, through sox."""
    es = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
                        check=True, capture_output=True)
    sx = subprocess.run(["sox", "-t", "wav", "-", "-t", "wav", "-r", str(RATE), "-c", "1", "-b", "16", "-",
                         "tempo", "-s", "%.3f" % tempo], input=es.stdout, check=True, capture_output=True)
    with wave.open(io.BytesIO(sx.stdout)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64) / 32768.0


def write_wav(path, x):
    tmp = path + ".tmp"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).round().astype("<i2").tobytes())
    os.replace(tmp, path)


def make_one(job):
    path, voice, word, p = job
    x = synth(voice, word, p["speed"], p["pitch"], p["tempo"])
    rng = np.random.default_rng(p["noise_seed"])
    x = np.concatenate([np.zeros(p["lead"]), x * p["gain"], np.zeros(p["tail"])])
    if p["snr"] is not None:
        sig = np.sqrt(np.mean(x[x != 0] ** 2)) if np.any(x) else 1e-3
        x = x + rng.standard_normal(len(x)) * sig / (10 ** (p["snr"] / 20))
    write_wav(path, x)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-voice", type=int, default=3, help="renditions of each word by each voice")
    ap.add_argument("--test-share", type=float, default=0.2, help="share of the voices held out")
    ap.add_argument("--quick", action="store_true", help="3 accents x 4 variants, 1 rendition: seconds")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            sys.exit("make_speech: %s is not installed (Debian: apt-get install espeak-ng sox)" % tool)
    accents, variants, per = (ACCENTS[:3], VARIANTS[:2] + VARIANTS[7:9], 1) if a.quick else \
        (ACCENTS, VARIANTS, a.per_voice)
    voices = ["%s+%s" % (acc, var) for acc in accents for var in variants]
    rng = np.random.default_rng(a.seed)
    n_test = max(1, round(a.test_share * len(voices)))
    test = set(rng.choice(len(voices), n_test, replace=False).tolist())
    jobs = []
    for vi, voice in enumerate(voices):
        side = "test" if vi in test else "train"
        for word in WORDS:
            os.makedirs(os.path.join(a.out, side, word), exist_ok=True)
            for k in range(per):
                p = {"speed": int(rng.integers(120, 221)), "pitch": int(rng.integers(25, 76)),
                     "tempo": float(rng.uniform(0.9, 1.1)), "gain": float(10 ** rng.uniform(-0.5, 0.0)),
                     "lead": int(rng.integers(800, 4001)), "tail": int(rng.integers(800, 4001)),
                     "snr": [None, 30.0, 20.0, 10.0][int(rng.integers(0, 4))],
                     "noise_seed": int(rng.integers(0, 2 ** 31))}
                jobs.append((os.path.join(a.out, side, word, "%s__%d.wav" % (voice, k)), voice, word, p))
    with cf.ThreadPoolExecutor(a.jobs) as ex:
        for i, _ in enumerate(ex.map(make_one, jobs)):
            if (i + 1) % 500 == 0:
                print("make_speech: %d / %d" % (i + 1, len(jobs)), file=sys.stderr)
    with open(os.path.join(a.out, "voices.txt"), "w") as f:
        for vi, voice in enumerate(voices):
            f.write("%s\t%s\n" % (voice, "test" if vi in test else "train"))
    print("make_speech: %d utterances of %d words by %d voices (%d held out) in %s" %
          (len(jobs), len(WORDS), len(voices), n_test, a.out))


if __name__ == "__main__":
    main()
