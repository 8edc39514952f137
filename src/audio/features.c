/*
 * Speech features: log-mel filterbank energies and MFCCs, with optional
 * deltas, computed frame by frame so that one code path serves whole files
 * (recur_featurizer_run) and live audio (recur_featurizer_push).
 *
 * Definitions (HTK conventions, as docs/SPEECH.md states; tests/audio/
 * features_ref.py is an independent NumPy implementation of them):
 *  - frames of `win` samples every `hop` samples, the first starting at
 *    sample 0, only whole frames (Kaldi's snip-edges): 1 + (n - win) / hop;
 *  - a periodic Hann window, zero-padded to n_fft, power spectrum |X_k|^2;
 *  - `mels` triangular filters equally spaced on the HTK mel scale
 *    m = 2595 log10(1 + f / 700) between fmin and fmax, unnormalised
 *    (peak 1), as librosa's mel(htk=True, norm=None);
 *  - log-mel: ln(max(energy, 1e-10));
 *  - MFCC: the first `mfcc` coefficients of the orthonormal DCT-II of the
 *    log-mel vector (scipy's dct(type=2, norm="ortho")), no liftering;
 *  - deltas: HTK's regression d_t = sum_{k=1..2} k (c_{t+k} - c_{t-k}) / 10,
 *    with the first and last frames repeated at the edges; delta-deltas
 *    are the deltas of the deltas.
 * Deltas look two frames ahead (four for delta-deltas), so a stream emits
 * frame t once frame t+2 (t+4) is known, and recur_featurizer_flush emits
 * the rest with the last frame repeated: the stream's frames are exactly
 * the whole file's.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kiss_fftr.h>

#include "audio/audio.h"
#include "core/error.h"

#define DELTA_REACH 2 /* HTK's N: frames on each side of a delta */
static const double PI = 3.14159265358979323846;

struct recur_featurizer {
    recur_features_config cfg;
    int win, hop, n_fft, bins, stat_dim, dim;
    float *window;     /* [win]                                              */
    float *fbank;      /* [mels][bins], dense (most entries are zero)        */
    int *fb_lo, *fb_hi;/* [mels]: the non-zero bins of each filter           */
    float *dct;        /* [mfcc][mels]                                        */
    kiss_fftr_cfg fft;
    float *frame;      /* [n_fft] windowed samples                            */
    kiss_fft_cpx *spec;/* [bins]                                              */
    float *mel;        /* [mels]                                              */
    /* Samples not yet consumed by a whole frame. */
    float *pending;
    size_t n_pending, cap_pending;
    /* The newest `ring` static frames, which deltas read. */
    int ring;
    float *hist;       /* [ring][stat_dim]                                    */
    float *dhist;      /* [2 DELTA_REACH + 1][stat_dim]: deltas around a frame */
    size_t n_static;   /* static frames computed so far                       */
    size_t n_emitted;  /* frames emitted so far                               */
};

void recur_features_config_default(recur_features_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->sample_rate = 16000;
    cfg->window_ms = 25.0f;
    cfg->hop_ms = 10.0f;
    cfg->mels = 40;
    cfg->fmin = 20.0f;
    cfg->fmax = 0.0f; /* Nyquist */
    cfg->mfcc = 0;
    cfg->deltas = 0;
}

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

recur_status features_check(const recur_features_config *c, recur_error *err)
{
    if (c->sample_rate < 1000 || c->sample_rate > 384000)
        return recur_fail(err, RECUR_ERR_ARG, "features: sample rate %d Hz is outside 1000..384000", c->sample_rate);
    if (!(c->window_ms >= 1.0f && c->window_ms <= 200.0f))
        return recur_fail(err, RECUR_ERR_ARG, "features: window of %g ms is outside 1..200", (double)c->window_ms);
    if (!(c->hop_ms >= 1.0f && c->hop_ms <= c->window_ms))
        return recur_fail(err, RECUR_ERR_ARG, "features: hop of %g ms is outside 1..window (%g ms)", (double)c->hop_ms,
                          (double)c->window_ms);
    if (c->mels < 1 || c->mels > 256)
        return recur_fail(err, RECUR_ERR_ARG, "features: %d mel bands is outside 1..256", c->mels);
    double nyq = c->sample_rate / 2.0, fmax = c->fmax > 0 ? c->fmax : nyq;
    if (!(c->fmin >= 0.0f) || !(fmax > c->fmin) || fmax > nyq)
        return recur_fail(err, RECUR_ERR_ARG, "features: band %g..%g Hz must lie within 0..%g Hz", (double)c->fmin,
                          fmax, nyq);
    if (c->mfcc < 0 || c->mfcc > c->mels)
        return recur_fail(err, RECUR_ERR_ARG, "features: %d cepstra must be 0 (log-mel) or 1..%d (the mel bands)",
                          c->mfcc, c->mels);
    if (c->deltas < 0 || c->deltas > 2)
        return recur_fail(err, RECUR_ERR_ARG, "features: deltas must be 0, 1 or 2 (got %d)", c->deltas);
    return RECUR_OK;
}

int recur_featurizer_dim(const recur_featurizer *f) { return f->dim; }
int recur_featurizer_delay(const recur_featurizer *f) { return f->cfg.deltas * DELTA_REACH; }

/* The triangular filters of librosa.filters.mel(htk=True, norm=None): edges
 * at mels+2 points equally spaced in mel, weights from the bin's frequency. */
static void make_filterbank(recur_featurizer *f)
{
    const recur_features_config *c = &f->cfg;
    double fmax = c->fmax > 0 ? c->fmax : c->sample_rate / 2.0;
    double m0 = hz_to_mel(c->fmin), m1 = hz_to_mel(fmax);
    for (int b = 0; b < c->mels; b++) {
        double lo = mel_to_hz(m0 + (m1 - m0) * b / (c->mels + 1));
        double mid = mel_to_hz(m0 + (m1 - m0) * (b + 1) / (c->mels + 1));
        double hi = mel_to_hz(m0 + (m1 - m0) * (b + 2) / (c->mels + 1));
        f->fb_lo[b] = f->bins;
        f->fb_hi[b] = 0;
        for (int k = 0; k < f->bins; k++) {
            double hz = (double)k * c->sample_rate / f->n_fft;
            double up = (hz - lo) / (mid - lo), down = (hi - hz) / (hi - mid);
            double w = up < down ? up : down;
            if (w <= 0) continue;
            f->fbank[(size_t)b * f->bins + k] = (float)w;
            if (k < f->fb_lo[b]) f->fb_lo[b] = k;
            f->fb_hi[b] = k + 1;
        }
        if (f->fb_hi[b] == 0) f->fb_lo[b] = 0; /* a filter narrower than a bin stays empty */
    }
}

recur_status recur_featurizer_create(const recur_features_config *cfg, recur_featurizer **out, recur_error *err)
{
    *out = NULL;
    recur_features_config c;
    if (cfg) c = *cfg;
    else recur_features_config_default(&c);
    RECUR_TRY(features_check(&c, err));
    recur_featurizer *f = calloc(1, sizeof *f);
    if (!f) return recur_fail(err, RECUR_ERR_NOMEM, "features: out of memory");
    f->cfg = c;
    f->win = (int)lround(c.window_ms * 1e-3 * c.sample_rate);
    f->hop = (int)lround(c.hop_ms * 1e-3 * c.sample_rate);
    if (f->hop < 1) f->hop = 1;
    f->n_fft = 2;
    while (f->n_fft < f->win) f->n_fft *= 2;
    f->bins = f->n_fft / 2 + 1;
    f->stat_dim = c.mfcc ? c.mfcc : c.mels;
    f->dim = f->stat_dim * (1 + c.deltas);
    f->ring = 4 * DELTA_REACH + 1;
    f->window = malloc((size_t)f->win * sizeof(float));
    f->fbank = calloc((size_t)c.mels * f->bins, sizeof(float));
    f->fb_lo = malloc((size_t)c.mels * sizeof(int));
    f->fb_hi = malloc((size_t)c.mels * sizeof(int));
    f->dct = c.mfcc ? malloc((size_t)c.mfcc * c.mels * sizeof(float)) : NULL;
    f->fft = kiss_fftr_alloc(f->n_fft, 0, NULL, NULL);
    f->frame = calloc((size_t)f->n_fft, sizeof(float));
    f->spec = malloc((size_t)f->bins * sizeof(kiss_fft_cpx));
    f->mel = malloc((size_t)c.mels * sizeof(float));
    f->hist = malloc((size_t)f->ring * f->stat_dim * sizeof(float));
    f->dhist = malloc((size_t)(2 * DELTA_REACH + 1) * f->stat_dim * sizeof(float));
    if (!f->window || !f->fbank || !f->fb_lo || !f->fb_hi || (c.mfcc && !f->dct) || !f->fft || !f->frame ||
        !f->spec || !f->mel || !f->hist || !f->dhist) {
        recur_featurizer_free(f);
        return recur_fail(err, RECUR_ERR_NOMEM, "features: out of memory");
    }
    /* Periodic Hann (scipy.signal.get_window("hann", win)). */
    for (int i = 0; i < f->win; i++) f->window[i] = (float)(0.5 - 0.5 * cos(2.0 * PI * i / f->win));
    make_filterbank(f);
    for (int k = 0; k < c.mfcc; k++) {
        double s = k == 0 ? sqrt(1.0 / c.mels) : sqrt(2.0 / c.mels);
        for (int j = 0; j < c.mels; j++)
            f->dct[(size_t)k * c.mels + j] = (float)(s * cos(PI * k * (2.0 * j + 1) / (2.0 * c.mels)));
    }
    *out = f;
    return RECUR_OK;
}

void recur_featurizer_free(recur_featurizer *f)
{
    if (!f) return;
    free(f->window);
    free(f->fbank);
    free(f->fb_lo);
    free(f->fb_hi);
    free(f->dct);
    kiss_fftr_free(f->fft);
    free(f->frame);
    free(f->spec);
    free(f->mel);
    free(f->pending);
    free(f->hist);
    free(f->dhist);
    free(f);
}

void recur_featurizer_reset(recur_featurizer *f)
{
    f->n_pending = 0;
    f->n_static = 0;
    f->n_emitted = 0;
}

/* Static features (log-mel or MFCC) of one frame of `win` samples. */
static void static_frame(recur_featurizer *f, const float *x, float *out)
{
    const recur_features_config *c = &f->cfg;
    for (int i = 0; i < f->win; i++) f->frame[i] = x[i] * f->window[i];
    kiss_fftr(f->fft, f->frame, f->spec);
    /* The power spectrum overwrites the real parts: r is read before. */
    float *power = (float *)f->spec;
    for (int k = 0; k < f->bins; k++) {
        float re = f->spec[k].r, im = f->spec[k].i;
        power[k] = re * re + im * im;
    }
    for (int b = 0; b < c->mels; b++) {
        const float *w = f->fbank + (size_t)b * f->bins;
        double e = 0;
        for (int k = f->fb_lo[b]; k < f->fb_hi[b]; k++) e += (double)w[k] * power[k];
        f->mel[b] = (float)log(e > 1e-10 ? e : 1e-10);
    }
    if (!c->mfcc) {
        memcpy(out, f->mel, (size_t)c->mels * sizeof(float));
        return;
    }
    for (int k = 0; k < c->mfcc; k++) {
        const float *d = f->dct + (size_t)k * c->mels;
        double s = 0;
        for (int j = 0; j < c->mels; j++) s += (double)d[j] * f->mel[j];
        out[k] = (float)s;
    }
}

/* Static frame u with the edges repeated (u clamped to 0..last). The ring
 * holds the newest `ring` frames, which cover every u a caller asks for:
 * frame t goes out once t + delay is known, and needs at most t - delay. */
static const float *srow(const recur_featurizer *f, long u, long last)
{
    if (u < 0) u = 0;
    if (u > last) u = last;
    return f->hist + (size_t)(u % f->ring) * f->stat_dim;
}

/* HTK's delta of static frame u (u in 0..last). */
static void delta_at(const recur_featurizer *f, long u, long last, float *out)
{
    for (int j = 0; j < f->stat_dim; j++) {
        double s = 0;
        for (int k = 1; k <= DELTA_REACH; k++) s += k * ((double)srow(f, u + k, last)[j] - srow(f, u - k, last)[j]);
        out[j] = (float)(s / 10.0);
    }
}

/* Frame t's whole vector, once frames up to `last` are known (t + delay <=
 * last, or last is the final frame). Delta-deltas are the deltas of the
 * delta sequence, itself with its edges repeated. */
static void emit(recur_featurizer *f, long t, long last, float *out)
{
    const int d = f->stat_dim;
    memcpy(out, srow(f, t, last), (size_t)d * sizeof(float));
    if (f->cfg.deltas >= 1) delta_at(f, t, last, out + d);
    if (f->cfg.deltas < 2) return;
    /* dhist row k + DELTA_REACH holds the delta of frame clamp(t + k). */
    for (int k = -DELTA_REACH; k <= DELTA_REACH; k++) {
        long u = t + k < 0 ? 0 : t + k > last ? last : t + k;
        delta_at(f, u, last, f->dhist + (size_t)(k + DELTA_REACH) * d);
    }
    for (int j = 0; j < d; j++) {
        double s = 0;
        for (int k = 1; k <= DELTA_REACH; k++)
            s += k * ((double)f->dhist[(size_t)(DELTA_REACH + k) * d + j] - f->dhist[(size_t)(DELTA_REACH - k) * d + j]);
        out[2 * d + j] = (float)(s / 10.0);
    }
}

recur_status recur_featurizer_push(recur_featurizer *f, const float *x, size_t n, float *out, size_t cap,
                                   size_t *frames, recur_error *err)
{
    *frames = 0;
    if (n && !x) return recur_fail(err, RECUR_ERR_ARG, "features: no samples given");
    if (f->n_pending + n > f->cap_pending) {
        size_t want = f->n_pending + n;
        if (want < 2 * f->cap_pending) want = 2 * f->cap_pending;
        float *p = realloc(f->pending, want * sizeof(float));
        if (!p) return recur_fail(err, RECUR_ERR_NOMEM, "features: out of memory for %zu samples", want);
        f->pending = p;
        f->cap_pending = want;
    }
    if (n) memcpy(f->pending + f->n_pending, x, n * sizeof(float));
    f->n_pending += n;
    const long delay = recur_featurizer_delay(f);
    size_t used = 0;
    while (f->n_pending - used >= (size_t)f->win) {
        /* Frame n_static becomes known; frame n_static - delay can go out. */
        long t_new = (long)f->n_static;
        long t_out = t_new - delay;
        if (t_out >= 0 && *frames >= cap) break; /* caller's buffer is full: keep the samples */
        float *row = f->hist + (size_t)(t_new % f->ring) * f->stat_dim;
        static_frame(f, f->pending + used, row);
        f->n_static++;
        used += (size_t)f->hop;
        if (t_out >= 0) {
            emit(f, t_out, t_new, out + *frames * (size_t)f->dim);
            f->n_emitted++;
            (*frames)++;
        }
    }
    memmove(f->pending, f->pending + used, (f->n_pending - used) * sizeof(float));
    f->n_pending -= used;
    return RECUR_OK;
}

recur_status recur_featurizer_flush(recur_featurizer *f, float *out, size_t cap, size_t *frames, recur_error *err)
{
    *frames = 0;
    long last = (long)f->n_static - 1;
    while ((long)f->n_emitted <= last) {
        if (*frames >= cap) return recur_fail(err, RECUR_ERR_ARG, "features: flush needs room for %ld frames",
                                              last + 1 - (long)f->n_emitted);
        emit(f, (long)f->n_emitted, last, out + *frames * (size_t)f->dim);
        f->n_emitted++;
        (*frames)++;
    }
    f->n_pending = 0;
    return RECUR_OK;
}

size_t recur_featurizer_frames(const recur_featurizer *f, size_t n_samples)
{
    return n_samples < (size_t)f->win ? 0 : 1 + (n_samples - (size_t)f->win) / (size_t)f->hop;
}

recur_status recur_featurizer_run(recur_featurizer *f, const float *x, size_t n, float **out, size_t *frames,
                                  recur_error *err)
{
    *out = NULL;
    *frames = 0;
    recur_featurizer_reset(f);
    size_t total = recur_featurizer_frames(f, n);
    if (total == 0)
        return recur_fail(err, RECUR_ERR_DATA, "features: %zu samples are shorter than one %d-sample window", n,
                          f->win);
    if (total > SIZE_MAX / sizeof(float) / (size_t)f->dim)
        return recur_fail(err, RECUR_ERR_NOMEM, "features: %zu frames are too many", total);
    float *buf = malloc(total * (size_t)f->dim * sizeof(float));
    if (!buf) return recur_fail(err, RECUR_ERR_NOMEM, "features: out of memory for %zu frames", total);
    /* In slices, so that the pending-sample buffer stays small. */
    size_t done = 0, k;
    for (size_t at = 0; at < n;) {
        size_t take = n - at < 65536 ? n - at : 65536;
        recur_status s = recur_featurizer_push(f, x + at, take, buf + done * f->dim, total - done, &k, err);
        if (s) {
            free(buf);
            return s;
        }
        done += k;
        at += take;
    }
    recur_status s = recur_featurizer_flush(f, buf + done * f->dim, total - done, &k, err);
    if (s) {
        free(buf);
        return s;
    }
    done += k;
    *out = buf;
    *frames = done;
    return RECUR_OK;
}
