#!/usr/bin/env python3
"""An independent NumPy implementation of docs/SPEECH.md's feature definitions,
compared with `recur features` on the same audio.

    features_ref.py RECUR_BIN WORKDIR   -> exit 0 when every configuration agrees

It makes its own test signals (a chirp with noise, a tone burst with exact
silence around it, a signal shorter than two windows), writes them as 16-bit
WAV, runs recur on them for log-mel and MFCC with 0, 1 and 2 orders of deltas,
and fails on an error above 2e-3 absolute (log energies and cepstra are of
order 1-30; float32 against float64 accounts for about 1e-4). The exception
is float32's own limit: recur's FFT is single precision, so a band more than
100 dB below its frame's strongest band (spectral leakage of a pure tone) is
resolved only to about 1e-2 in the log, and so are the cepstra of frames
holding such bands: those get 2e-2.
"""
import os
import subprocess
import sys
import wave

import numpy as np

RATE = 16000


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def features(x, mels=40, mfcc=0, deltas=0, win=400, hop=160, nfft=512, fmin=20.0, fmax=RATE / 2):
    n = 1 + (len(x) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)          # periodic Hann
    p = np.abs(np.fft.rfft(x[idx] * w, nfft)) ** 2                      # power spectrum
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), mels + 2))
    freqs = np.arange(nfft // 2 + 1) * RATE / nfft
    fb = np.zeros((mels, len(freqs)))
    for b in range(mels):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        fb[b] = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    c = np.log(np.maximum(p @ fb.T, 1e-10))
    if mfcc:
        k, j = np.arange(mfcc)[:, None], np.arange(mels)[None, :]
        d = np.cos(np.pi * k * (2 * j + 1) / (2 * mels)) * np.where(k == 0, np.sqrt(1 / mels), np.sqrt(2 / mels))
        c = c @ d.T
    out = [c]

    def delta(s):
        q = np.pad(s, ((2, 2), (0, 0)), mode="edge")
        return sum(k * (q[2 + k:len(q) - 2 + k] - q[2 - k:len(q) - 2 - k]) for k in (1, 2)) / 10.0

    if deltas >= 1:
        out.append(delta(c))
    if deltas >= 2:
        out.append(delta(out[1]))
    return np.concatenate(out, axis=1)


def write_wav(path, x):
    q = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(q.tobytes())
    return q.astype(np.float64) / 32768.0   # what libsndfile hands back


def main():
    recur, work = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(7)
    t = np.arange(int(1.3 * RATE)) / RATE
    signals = {
        "chirp": 0.4 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.01 * rng.standard_normal(len(t)),
        "burst": np.concatenate([np.zeros(3000), 0.5 * np.sin(2 * np.pi * 440 * t[:5000]), np.zeros(3000)]),
        "short": 0.3 * rng.standard_normal(700),
    }
    worst = 0.0
    failed = 0
    for name, sig in signals.items():
        path = os.path.join(work, name + ".wav")
        x = write_wav(path, sig)
        for mels, mfcc in ((40, 0), (26, 13)):
            for deltas in (0, 1, 2):
                out = os.path.join(work, "%s_%d_%d_%d.npy" % (name, mels, mfcc, deltas))
                subprocess.run([recur, "features", path, "-o", out, "--mels", str(mels), "--mfcc", str(mfcc),
                                "--deltas", str(deltas)], check=True)
                got = np.load(out)
                want = features(x, mels=mels, mfcc=mfcc, deltas=deltas)
                if got.shape != want.shape:
                    print("features_ref: %s mels %d mfcc %d deltas %d: shape %s, reference %s" %
                          (name, mels, mfcc, deltas, got.shape, want.shape))
                    failed += 1
                    continue
                logmel = features(x, mels=mels)
                deep = logmel < logmel.max(axis=1, keepdims=True) - 23.0   # 100 dB below the frame's peak
                tol = np.full(got.shape, 2e-3)
                if mfcc:
                    tol[deep.any(axis=1)] = 2e-2
                else:
                    tol[:, :mels * (1 + deltas)] = np.where(np.tile(deep, 1 + deltas), 2e-2, 2e-3)
                excess = np.abs(got - want) - tol
                err = float(np.max(np.abs(got - want)[excess <= 0], initial=0.0))
                worst = max(worst, err)
                if np.any(excess > 0):
                    r, c = np.unravel_index(np.argmax(excess), got.shape)
                    r, c = np.unravel_index(np.argmax(np.abs(got - want)), got.shape)
                    print("features_ref: %s mels %d mfcc %d deltas %d: frame %d value %d is %.6f, reference %.6f" %
                          (name, mels, mfcc, deltas, r, c, got[r, c], want[r, c]))
                    failed += 1
    print("features_ref: 18 configurations, worst absolute error %.2e, %d failed" % (worst, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
