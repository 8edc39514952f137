/* Speech models: the features a model was trained on are saved with it and
 * read back exactly (a model without them, or with a damaged record, says
 * so); a word spotter hears two tone "words" in a stream; frame labels
 * collapse to strings that are scored by edit distance; recur predict and
 * recur listen on tiny audio made here (tests/speech_cli.c). */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "speech_util.h"
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

/* The spotter on a stream of quiet, "low", quiet, "high", quiet hears the
 * two words, in order, confidently, about where they are; the same stream
 * read by a bidirectional model (words read whole at their end) too. */
static void spotter_hears_two_words(void)
{
    for (int bidi = 0; bidi <= 1; bidi++) {
        recur_model *m = speech_tone_model(bidi);
        if (!m) return;
        size_t n = 0;
        int16_t *pcm = speech_tone_stream(&n);
        float *x = malloc(n * sizeof *x);
        for (size_t i = 0; i < n; i++) x[i] = pcm[i] / 32768.0f;
        recur_error err;
        recur_spotter *sp = NULL;
        CHECK_OK(recur_spotter_create(m, NULL, &sp, &err), &err);
        recur_spot got[8], tmp[4];
        int n_got = 0, k = 0;
        /* Pushed in uneven pieces, as a pipe delivers them. */
        for (size_t i = 0; sp && i < n; i += 777) {
            size_t len = n - i < 777 ? n - i : 777;
            CHECK_OK(recur_spotter_push(sp, x + i, len, tmp, 4, &k, &err), &err);
            for (int j = 0; j < k && n_got < 8; j++) got[n_got++] = tmp[j];
        }
        if (sp) CHECK_OK(recur_spotter_flush(sp, tmp, 4, &k, &err), &err);
        for (int j = 0; sp && j < k && n_got < 8; j++) got[n_got++] = tmp[j];
        CHECK_MSG(n_got == 2, "bidirectional %d: %d words", bidi, n_got);
        if (n_got == 2) {
            CHECK(strcmp(recur_model_label_name(m, got[0].label), "low") == 0);
            CHECK(strcmp(recur_model_label_name(m, got[1].label), "high") == 0);
            CHECK(got[0].confident && got[1].confident);
            /* "low" sounds 0.30-0.60 s, "high" 1.10-1.40 s (speech_util.c). */
            CHECK_MSG(got[0].start_s < 0.30 && got[0].end_s > 0.60 && got[0].end_s < 1.10, "low %.2f-%.2f",
                      got[0].start_s, got[0].end_s);
            CHECK_MSG(got[1].start_s > 0.60 && got[1].start_s < 1.10 && got[1].end_s > 1.40, "high %.2f-%.2f",
                      got[1].start_s, got[1].end_s);
        }
        recur_spotter_free(sp);
        free(x);
        free(pcm);
        recur_model_free(m);
    }
}

static void frame_labels_spell_strings(void)
{
    /* 9 = silence: "sil 4 4 sil sil 0 7 7 sil 7" spells 4 0 7 7. */
    const int32_t frames[] = {9, 4, 4, 9, 9, 0, 7, 7, 9, 7};
    int32_t out[10];
    int n = recur_collapse_runs(frames, 10, 9, out);
    CHECK(n == 4 && out[0] == 4 && out[1] == 0 && out[2] == 7 && out[3] == 7);
    CHECK(recur_collapse_runs(frames, 3, -1, out) == 2); /* no silence label: 9 4 */
    recur_string_metrics sm;
    recur_string_metrics_reset(&sm);
    recur_error err;
    const int32_t ref[] = {4, 0, 7}, sub[] = {4, 1, 7}, del[] = {4, 7}, ins[] = {4, 0, 0, 7, 2};
    CHECK_OK(recur_string_metrics_add(&sm, ref, 3, ref, 3, &err), &err);
    CHECK_OK(recur_string_metrics_add(&sm, sub, 3, ref, 3, &err), &err);
    CHECK_OK(recur_string_metrics_add(&sm, del, 2, ref, 3, &err), &err);
    CHECK_OK(recur_string_metrics_add(&sm, ins, 5, ref, 3, &err), &err);
    CHECK_OK(recur_string_metrics_add(&sm, NULL, 0, ref, 3, &err), &err);
    CHECK(sm.strings == 5 && sm.wrong == 4 && sm.ref_tokens == 15);
    CHECK_MSG(sm.edits == 0 + 1 + 1 + 2 + 3, "edits %zu", sm.edits);
    CHECK_NEAR(recur_string_metrics_ser(&sm), 0.8, 1e-12);
    CHECK_NEAR(recur_string_metrics_ter(&sm), 7.0 / 15.0, 1e-12);
}

/* Connected speech: a .lab beside each file tags every frame by the span
 * holding its window's centre, "sil" elsewhere; a bad .lab is one line
 * naming the file and line. */
static void audio_tags_label_every_frame(void)
{
    char dir[512], path[700];
    snprintf(dir, sizeof dir, "%s/strings", test_tmpdir());
    CHECK(mkdir(dir, 0777) == 0);
    int16_t pcm[16000];
    speech_fill(pcm, 16000, 300.0, 3200, 8000, 5);
    snprintf(path, sizeof path, "%s/a.wav", dir);
    speech_write_wav(path, 16000, 1, pcm, 16000);
    snprintf(path, sizeof path, "%s/a.lab", dir);
    FILE *f = fopen(path, "w");
    fputs("3200 8000 4\n\n9600 12000 7\n", f);
    fclose(f);
    recur_error err;
    recur_seqset *s = NULL;
    CHECK_OK(recur_seqset_load_audio_tags(dir, NULL, &s, &err), &err);
    if (!s) return;
    const recur_batch *b = recur_seqset_batch(s);
    CHECK(recur_seqset_size(s) == 1 && recur_seqset_num_tags(s) == 3 && b->step_labels && b->features);
    CHECK(strcmp(recur_seqset_tag_name(s, 0), "4") == 0 && strcmp(recur_seqset_tag_name(s, 2), "sil") == 0);
    int T = b->offsets[1];
    CHECK(T == 1 + (16000 - 400) / 160);
    /* Frame t's centre is 160 t + 200: "4" for t in 19..48, "7" for 59..73. */
    for (int t = 0; t < T; t++) {
        int want = t >= 19 && t <= 48 ? 0 : t >= 59 && t <= 73 ? 1 : 2;
        CHECK_MSG(b->step_labels[t] == want, "frame %d: %d, want %d", t, b->step_labels[t], want);
    }
    int32_t spell[200];
    CHECK(recur_collapse_runs(b->step_labels, T, 2, spell) == 2 && spell[0] == 0 && spell[1] == 1);
    recur_seqset_free(s);
    f = fopen(path, "w");
    fputs("3200 8000 4\n7000 9000 5\n", f); /* overlaps the line before */
    fclose(f);
    CHECK(recur_seqset_load_audio_tags(dir, NULL, &s, &err) == RECUR_ERR_DATA && s == NULL);
    CHECK_MSG(strstr(err.message, "a.lab:2:") != NULL, "'%s'", err.message);
    remove(path);
    CHECK(recur_seqset_load_audio_tags(dir, NULL, &s, &err) != RECUR_OK && s == NULL);
    CHECK_MSG(strstr(err.message, "a.lab") != NULL, "'%s'", err.message);
}

const test_case tests_speech[] = {
    {"features_round_trip_through_a_file", features_round_trip_through_a_file},
    {"features_must_fit_the_model", features_must_fit_the_model},
    {"spotter_hears_two_words", spotter_hears_two_words},
    {"frame_labels_spell_strings", frame_labels_spell_strings},
    {"audio_tags_label_every_frame", audio_tags_label_every_frame},
    {NULL, NULL},
};
