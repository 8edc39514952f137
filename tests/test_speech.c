/* Speech models: the features a model was trained on are saved with it and
 * read back exactly; a model without them, or with a damaged record, says
 * so. */
#include <string.h>

#include "test.h"

static recur_model *dense_model(int input_size)
{
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.input = RECUR_INPUT_DENSE;
    mc.input_size = input_size;
    mc.hidden = 8;
    const char *labels[2] = {"no", "yes"};
    recur_model *m = NULL;
    recur_error err;
    CHECK_OK(recur_model_create(&mc, NULL, labels, 2, &m, &err), &err);
    return m;
}

static void features_round_trip_through_a_file(void)
{
    recur_error err;
    recur_features_config c, back;
    recur_features_config_default(&c);
    c.mfcc = 13;
    c.deltas = 2;
    c.mels = 26;
    c.fmin = 20.1234567f;
    c.fmax = 7600.1f; /* fmin: 8 digits, so that only %.9g gives the float back */
    c.window_ms = 32.0f;
    c.hop_ms = 12.5f;
    recur_model *m = dense_model(39), *l = NULL;
    if (!m) return;
    /* A model without the record says so, and leaves the defaults. */
    memset(&back, 0x55, sizeof back);
    CHECK(recur_model_get_features(m, &back, &err) == RECUR_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, "records no speech features") != NULL, "'%s'", err.message);
    CHECK(back.sample_rate == 16000 && back.mels == 40 && back.mfcc == 0);
    CHECK_OK(recur_model_set_features(m, &c, &err), &err);
    char path[512];
    snprintf(path, sizeof path, "%s/speech.safetensors", test_tmpdir());
    CHECK_OK(recur_model_save(m, path, &err), &err);
    CHECK_OK(recur_model_load(path, &l, &err), &err);
    if (l) {
        CHECK_OK(recur_model_get_features(l, &back, &err), &err);
        CHECK(back.sample_rate == 16000 && back.mels == 26 && back.mfcc == 13 && back.deltas == 2);
        CHECK(back.fmin == c.fmin && back.fmax == c.fmax && back.window_ms == c.window_ms && back.hop_ms == c.hop_ms);
        CHECK(strcmp(recur_model_get_meta(l, "features.version"), "1") == 0);
    }
    /* Damaged records are format errors, naming what is wrong. */
    CHECK_OK(recur_model_set_meta(m, "features.mels", "twenty-six", &err), &err);
    CHECK(recur_model_get_features(m, &back, &err) == RECUR_ERR_FORMAT);
    CHECK_OK(recur_model_set_meta(m, "features.mels", "300", &err), &err);
    CHECK(recur_model_get_features(m, &back, &err) == RECUR_ERR_FORMAT);
    CHECK_MSG(strstr(err.message, "damaged") && strstr(err.message, "mel bands"), "'%s'", err.message);
    CHECK_OK(recur_model_set_meta(m, "features.mels", "26", &err), &err);
    CHECK_OK(recur_model_set_meta(m, "features.deltas", "1", &err), &err); /* 26 wide, the model reads 39 */
    CHECK(recur_model_get_features(m, &back, &err) == RECUR_ERR_FORMAT);
    CHECK_MSG(strstr(err.message, "26 values per frame but it reads 39"), "'%s'", err.message);
    CHECK_OK(recur_model_set_meta(m, "features.version", "2", &err), &err);
    CHECK(recur_model_get_features(m, &back, &err) == RECUR_ERR_UNSUPPORTED);
    recur_model_free(m);
    recur_model_free(l);
}

static void features_must_fit_the_model(void)
{
    recur_error err;
    recur_features_config c;
    recur_features_config_default(&c); /* 40 log-mel bands */
    recur_model *m = dense_model(39);
    if (!m) return;
    CHECK(recur_model_set_features(m, &c, &err) == RECUR_ERR_ARG);
    CHECK_MSG(strstr(err.message, "40 values per frame but the model reads 39"), "'%s'", err.message);
    CHECK(recur_model_get_meta(m, "features.version") == NULL);
    c.deltas = 3;
    CHECK(recur_model_set_features(m, &c, &err) == RECUR_ERR_ARG && strstr(err.message, "deltas"));
    recur_model_free(m);
    /* A token model has no use for speech features. */
    recur_vocab *v = NULL;
    CHECK_OK(recur_vocab_create(RECUR_TEXT_ASCII, &v, &err), &err);
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.hidden = 8;
    const char *labels[2] = {"a", "b"};
    CHECK_OK(recur_model_create(&mc, v, labels, 2, &m, &err), &err);
    recur_features_config_default(&c);
    CHECK(recur_model_set_features(m, &c, &err) == RECUR_ERR_ARG && strstr(err.message, "tokens"));
    CHECK(recur_model_get_features(m, &c, &err) == RECUR_ERR_UNSUPPORTED);
    recur_model_free(m);
    recur_vocab_free(v);
}

const test_case tests_speech[] = {
    {"features_round_trip_through_a_file", features_round_trip_through_a_file},
    {"features_must_fit_the_model", features_must_fit_the_model},
    {NULL, NULL},
};
