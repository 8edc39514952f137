/*
 * The speech features a model reads, recorded in its metadata (user
 * "features.*" keys, docs/FORMAT.md section 2.10), so that whoever runs the
 * model on audio (recur predict, recur listen) computes the features it was
 * trained on rather than guessing them from the input size: 40 log-mel
 * bands and 13 MFCCs with two orders of deltas are both 40 wide.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "core/error.h"

/* The version of the definitions in docs/SPEECH.md that the keys describe:
 * a reader refuses a version it does not know rather than compute other
 * features. */
#define FEATURES_VERSION "1"

static int dim_of(const recur_features_config *c) { return (c->mfcc ? c->mfcc : c->mels) * (1 + c->deltas); }

recur_status recur_model_set_features(recur_model *m, const recur_features_config *cfg, recur_error *err)
{
    if (!m || !cfg) return recur_fail(err, RECUR_ERR_ARG, "recur_model_set_features: %s is NULL", m ? "cfg" : "m");
    RECUR_TRY(features_check(cfg, err));
    const recur_model_config *mc = recur_model_get_config(m);
    if (mc->input != RECUR_INPUT_DENSE)
        return recur_fail(err, RECUR_ERR_ARG, "speech features are for dense-input models; this one reads tokens");
    if (mc->input_size != dim_of(cfg))
        return recur_fail(err, RECUR_ERR_ARG, "the features give %d values per frame but the model reads %d",
                          dim_of(cfg), mc->input_size);
    char v[8][32];
    snprintf(v[0], sizeof v[0], "%d", cfg->sample_rate);
    snprintf(v[1], sizeof v[1], "%.9g", (double)cfg->window_ms); /* %.9g: a float reads back exactly */
    snprintf(v[2], sizeof v[2], "%.9g", (double)cfg->hop_ms);
    snprintf(v[3], sizeof v[3], "%d", cfg->mels);
    snprintf(v[4], sizeof v[4], "%.9g", (double)cfg->fmin);
    snprintf(v[5], sizeof v[5], "%.9g", (double)cfg->fmax);
    snprintf(v[6], sizeof v[6], "%d", cfg->mfcc);
    snprintf(v[7], sizeof v[7], "%d", cfg->deltas);
    static const char *const keys[8] = {"features.sample_rate", "features.window_ms", "features.hop_ms",
                                        "features.mels",        "features.fmin",      "features.fmax",
                                        "features.mfcc",        "features.deltas"};
    for (int k = 0; k < 8; k++) RECUR_TRY(recur_model_set_meta(m, keys[k], v[k], err));
    /* The version last: a model holding it holds every other key. */
    return recur_model_set_meta(m, "features.version", FEATURES_VERSION, err);
}

/* A whole decimal integer, or a whole float, from a key's value. */
static int read_int(const char *s, int *out)
{
    if (!s || !*s) return 0;
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (*e || errno || v < -2147483647L || v > 2147483647L) return 0;
    *out = (int)v;
    return 1;
}

static int read_float(const char *s, float *out)
{
    if (!s || !*s) return 0;
    char *e;
    errno = 0;
    float v = strtof(s, &e);
    if (*e || errno) return 0;
    *out = v;
    return 1;
}

recur_status recur_model_get_features(const recur_model *m, recur_features_config *cfg, recur_error *err)
{
    if (!m || !cfg) return recur_fail(err, RECUR_ERR_ARG, "recur_model_get_features: %s is NULL", m ? "cfg" : "m");
    recur_features_config_default(cfg);
    const char *ver = recur_model_get_meta(m, "features.version");
    if (!ver)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED,
                          "the model records no speech features (not trained on audio, or trained before they were recorded)");
    if (strcmp(ver, FEATURES_VERSION) != 0)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "the model's speech features are of version \"%.20s\"; this library knows version %s",
                          ver, FEATURES_VERSION);
    recur_features_config c;
    int ok = read_int(recur_model_get_meta(m, "features.sample_rate"), &c.sample_rate) &&
             read_float(recur_model_get_meta(m, "features.window_ms"), &c.window_ms) &&
             read_float(recur_model_get_meta(m, "features.hop_ms"), &c.hop_ms) &&
             read_int(recur_model_get_meta(m, "features.mels"), &c.mels) &&
             read_float(recur_model_get_meta(m, "features.fmin"), &c.fmin) &&
             read_float(recur_model_get_meta(m, "features.fmax"), &c.fmax) &&
             read_int(recur_model_get_meta(m, "features.mfcc"), &c.mfcc) &&
             read_int(recur_model_get_meta(m, "features.deltas"), &c.deltas);
    if (!ok) return recur_fail(err, RECUR_ERR_FORMAT, "the model's speech features record is incomplete or not numbers");
    recur_error why;
    if (features_check(&c, &why) != RECUR_OK)
        return recur_fail(err, RECUR_ERR_FORMAT, "the model's speech features are damaged (%.400s)", why.message);
    const recur_model_config *mc = recur_model_get_config(m);
    if (mc->input != RECUR_INPUT_DENSE || mc->input_size != dim_of(&c))
        return recur_fail(err, RECUR_ERR_FORMAT, "the model's speech features give %d values per frame but it reads %d",
                          dim_of(&c), mc->input != RECUR_INPUT_DENSE ? 0 : mc->input_size);
    *cfg = c;
    return RECUR_OK;
}
