/*
 * Spotting spoken words in a live stream (recur listen): samples in, words
 * out, computed as the samples arrive.
 *
 * Each frame the featurizer completes has an energy in dB: the log of the
 * mean of its mel band energies (for MFCCs, which have lost them, the mean
 * of their logs, c0 / sqrt(mels), since the DCT is orthonormal), compared
 * with a noise floor that follows quiet frames:
 *  - the floor starts at the first frame's energy (not digital silence,
 *    below -90 dB, which counts as quiet but never moves the floor:
 *    concatenated files have exact zeros); outside a word it drops
 *    to any lower energy at once and rises by at most 0.5 dB a frame
 *    (50 dB/s: back from a stretch of digital silence within a second,
 *    yet slower than any onset of speech), inside a word it only drops;
 *  - a word starts at the first frame more than onset_db above the floor; the
 *    preroll frames before it are part of the word (the training files have
 *    silence before the word too);
 *  - it ends after `hangover` frames in a row below floor + offset_db (they
 *    are part of it: the files have silence after the word), or at
 *    max_frames, where the floor restarts from that frame's energy (the
 *    noise rose);
 *  - the model's output after the word's last frame is the decision: its
 *    top label, and `confident` when that label's probability is at least
 *    `confidence`.
 * A unidirectional model reads each frame through the step API as it
 * arrives, so the decision costs nothing extra at the end; a bidirectional
 * one cannot read a prefix, so its word's frames are kept and read whole
 * when the word ends (the same output as recur_runner_predict on them).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "core/error.h"

struct recur_spotter {
    recur_spotter_config cfg;
    recur_featurizer *feat;
    recur_runner *run;
    int dim, mels, mfcc, C, stepwise;
    float *frame;      /* [dim] one frame out of the featurizer              */
    float *ring;       /* [preroll][dim] the newest frames outside a word     */
    size_t n_ring;     /* frames put in the ring (mod preroll: the next slot) */
    float *seg;        /* [max_frames][dim] the word's frames                 */
    int n_seg, quiet, in_word;
    float *out;        /* [C] the model's output                              */
    double floor_db;
    size_t t;          /* frames seen                                         */
    double hop_s;
};

void recur_spotter_config_default(recur_spotter_config *c)
{
    memset(c, 0, sizeof *c);
    c->confidence = 0.5f;
    c->onset_db = 9.0f;
    c->offset_db = 6.0f;
    c->preroll = 15;
    c->hangover = 20;
    c->max_frames = 300;
}

void recur_spotter_free(recur_spotter *s)
{
    if (!s) return;
    recur_featurizer_free(s->feat);
    recur_runner_free(s->run);
    free(s->frame);
    free(s->ring);
    free(s->seg);
    free(s->out);
    free(s);
}

recur_status recur_spotter_create(const recur_model *m, const recur_spotter_config *cfg, recur_spotter **out,
                                  recur_error *err)
{
    if (!m || !out) return recur_fail(err, RECUR_ERR_ARG, "recur_spotter_create: %s is NULL", m ? "out" : "m");
    *out = NULL;
    recur_spotter_config c;
    if (cfg) c = *cfg;
    else recur_spotter_config_default(&c);
    if (!(c.confidence >= 0 && c.confidence <= 1) || !(c.onset_db > 0) || !(c.offset_db > 0) ||
        c.offset_db > c.onset_db || c.preroll < 1 || c.preroll > 1000 || c.hangover < 1 ||
        c.max_frames < c.preroll + c.hangover + 1 || c.max_frames > 100000)
        return recur_fail(err, RECUR_ERR_ARG,
                          "spotter: confidence must be in 0..1, 0 < offset_db <= onset_db, preroll 1..1000, "
                          "hangover >= 1, preroll + hangover < max_frames <= 100000");
    const recur_model_config *mc = recur_model_get_config(m);
    if (mc->task != RECUR_TASK_CLASSIFY || mc->head != RECUR_HEAD_FINAL)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "spotting words needs a word classifier (this model is a %s model)",
                          recur_task_name(mc->task));
    recur_features_config fc;
    RECUR_TRY(recur_model_get_features(m, &fc, err));
    recur_spotter *s = calloc(1, sizeof *s);
    if (!s) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    s->cfg = c;
    s->mels = fc.mels;
    s->mfcc = fc.mfcc;
    s->hop_s = fc.hop_ms / 1000.0;
    s->C = recur_model_num_labels(m);
    s->stepwise = !mc->bidirectional;
    recur_status st = recur_featurizer_create(&fc, &s->feat, err);
    if (!st) st = recur_runner_create(m, 1, &s->run, err);
    if (st) {
        recur_spotter_free(s);
        return st;
    }
    s->dim = recur_featurizer_dim(s->feat);
    s->frame = malloc((size_t)s->dim * sizeof *s->frame);
    s->ring = malloc((size_t)c.preroll * s->dim * sizeof *s->ring);
    s->seg = malloc((size_t)c.max_frames * s->dim * sizeof *s->seg);
    s->out = malloc((size_t)s->C * sizeof *s->out);
    if (!s->frame || !s->ring || !s->seg || !s->out) {
        recur_spotter_free(s);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return RECUR_OK;
}

void recur_spotter_reset(recur_spotter *s)
{
    recur_featurizer_reset(s->feat);
    s->n_ring = 0;
    s->n_seg = s->quiet = s->in_word = 0;
    s->t = 0;
}

/* The word's frame x [dim]: kept, and read by the step API when it can. */
static recur_status add_frame(recur_spotter *s, const float *x, recur_error *err)
{
    memcpy(s->seg + (size_t)s->n_seg * s->dim, x, (size_t)s->dim * sizeof *x);
    s->n_seg++;
    return s->stepwise ? recur_runner_step_features(s->run, x, s->out, err) : RECUR_OK;
}

static recur_status decide(recur_spotter *s, recur_spot *spot, recur_error *err)
{
    if (!s->stepwise) {
        int32_t off[2] = {0, s->n_seg};
        recur_batch b = {1, NULL, off, NULL, s->seg, NULL, NULL};
        RECUR_TRY(recur_runner_predict(s->run, &b, s->out, err));
    }
    int best = 0;
    for (int c = 1; c < s->C; c++)
        if (s->out[c] > s->out[best]) best = c;
    spot->label = best;
    spot->logprob = s->out[best];
    spot->confident = expf(s->out[best]) >= s->cfg.confidence;
    spot->frames = s->n_seg;
    spot->end_s = (double)s->t * s->hop_s;
    spot->start_s = spot->end_s - s->n_seg * s->hop_s;
    s->in_word = 0;
    s->n_seg = s->quiet = 0;
    s->n_ring = 0;
    return RECUR_OK;
}

/* One frame of features: 1 when it ended a word (in *spot). */
static int frame_in(recur_spotter *s, const float *x, recur_spot *spot, recur_status *st, recur_error *err)
{
    double e = 0;
    if (s->mfcc) e = x[0] / sqrt((double)s->mels);
    else { /* log of the mean band energy: a tone in a few bands counts in full */
        double top = x[0];
        for (int j = 1; j < s->mels; j++) top = fmax(top, x[j]);
        for (int j = 0; j < s->mels; j++) e += exp(x[j] - top);
        e = top + log(e / s->mels);
    }
    e *= 10.0 / log(10.0); /* natural log of power -> dB */
    s->t++;
    /* Digital silence (every band at the featurizer's 1e-10 floor, -100 dB:
     * zeros between concatenated files, a muted input) is quiet but says
     * nothing about the noise: the floor does not follow it down. */
    int blank = e < -90.0;
    if (s->t == 1 || !(s->floor_db > -90.0)) s->floor_db = e;
    if (blank && !s->in_word) {
        memcpy(s->ring + (s->n_ring % (size_t)s->cfg.preroll) * s->dim, x, (size_t)s->dim * sizeof *x);
        s->n_ring++;
        return 0;
    }
    if (!s->in_word) {
        s->floor_db = e < s->floor_db ? e : s->floor_db + fmin(e - s->floor_db, 0.5);
        if (e > s->floor_db + s->cfg.onset_db) {
            s->in_word = 1;
            s->n_seg = s->quiet = 0;
            if (s->stepwise && (*st = recur_runner_reset(s->run, 0, err))) return 0;
            int P = s->cfg.preroll, have = s->n_ring < (size_t)P ? (int)s->n_ring : P;
            for (int k = have; k > 0; k--) {
                size_t slot = (s->n_ring - (size_t)k) % (size_t)P;
                if ((*st = add_frame(s, s->ring + slot * s->dim, err))) return 0;
            }
        } else {
            memcpy(s->ring + (s->n_ring % (size_t)s->cfg.preroll) * s->dim, x, (size_t)s->dim * sizeof *x);
            s->n_ring++;
            return 0;
        }
    } else if (e < s->floor_db && !blank) {
        s->floor_db = e;
    }
    if ((*st = add_frame(s, x, err))) return 0;
    s->quiet = blank || e < s->floor_db + s->cfg.offset_db ? s->quiet + 1 : 0;
    if (s->quiet >= s->cfg.hangover || s->n_seg >= s->cfg.max_frames) {
        /* A word that never went quiet: the floor was too low (the noise
         * rose), so it starts again from here; outside a word it drops
         * back at once if this was speech. */
        if (s->quiet < s->cfg.hangover && !blank) s->floor_db = e;
        *st = decide(s, spot, err);
        return *st == RECUR_OK;
    }
    return 0;
}

recur_status recur_spotter_push(recur_spotter *s, const float *samples, size_t n, recur_spot *spots, int cap,
                                int *n_spots, recur_error *err)
{
    if (!s || !n_spots || (n && !samples) || (cap > 0 && !spots) || cap < 0)
        return recur_fail(err, RECUR_ERR_ARG, "recur_spotter_push: a required argument is NULL");
    *n_spots = 0;
    /* One frame at a time, so that no more than cap words end in one call:
     * the featurizer keeps the samples not yet read. */
    for (int first = 1; *n_spots < cap; first = 0) {
        size_t got = 0;
        RECUR_TRY(recur_featurizer_push(s->feat, first ? samples : NULL, first ? n : 0, s->frame, 1, &got, err));
        if (!got) break;
        recur_status st = RECUR_OK;
        if (frame_in(s, s->frame, spots + *n_spots, &st, err)) (*n_spots)++;
        if (st) return st;
    }
    return RECUR_OK;
}

recur_status recur_spotter_flush(recur_spotter *s, recur_spot *spots, int cap, int *n_spots, recur_error *err)
{
    if (!s || !n_spots || cap < 2 || !spots)
        return recur_fail(err, RECUR_ERR_ARG, "recur_spotter_flush needs room for two spots");
    *n_spots = 0;
    /* The featurizer's last frames (deltas at the edge), then the word in
     * progress, if any, is decided. */
    float *rest = malloc((size_t)(2 * 2 + 1) * s->dim * sizeof *rest);
    if (!rest) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    size_t got = 0;
    recur_status st = recur_featurizer_flush(s->feat, rest, 5, &got, err);
    for (size_t k = 0; !st && k < got; k++) {
        if (*n_spots < cap && frame_in(s, rest + k * s->dim, spots + *n_spots, &st, err)) (*n_spots)++;
    }
    free(rest);
    if (st) return st;
    if (s->in_word && *n_spots < cap) {
        RECUR_TRY(decide(s, spots + *n_spots, err));
        (*n_spots)++;
    }
    recur_spotter_reset(s);
    return RECUR_OK;
}
