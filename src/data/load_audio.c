/*
 * Spoken words: a folder of <word>/ subfolders of audio files becomes a
 * dense sequence set, one sequence of speech features per file (the
 * featurizer of src/audio, docs/SPEECH.md) labelled with its folder's name.
 * Files are read in bytewise order of their names, so the set (and every
 * split drawn from it) does not depend on the order the file system lists
 * them in. A file that is not audio, or at another rate, stops the load
 * with the featurizer's one line naming it: a corpus with a bad file in it
 * is a mistake to fix, not to skip silently. Hidden files (".*") are not
 * read. recur_seqset_load_audio_tags (below) reads connected speech: files
 * with a .lab of labelled sample spans beside each, a tag per frame.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "data/seqset.h"

/* Longest file accepted: a spoken word is seconds; an hour is a mistake. */
#define AUDIO_MAX_SECONDS 600.0

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in dir (no "." entries), sorted bytewise; dirs_only picks
 * subfolders, else regular files. */
static recur_status list_dir(const char *dir, int dirs_only, char ***names, size_t *n, recur_error *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return recur_fail(err, RECUR_ERR_IO, "cannot open the folder %s: %s", dir, strerror(errno));
    char **v = NULL;
    size_t cap = 0, k = 0;
    recur_status st = RECUR_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
            st = recur_fail(err, RECUR_ERR_ARG, "%s/%s: path too long", dir, e->d_name);
            break;
        }
        struct stat sb;
        if (stat(path, &sb) != 0 || (dirs_only ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))) continue;
        if ((st = seq_grow((void **)&v, &cap, k + 1, sizeof *v, err))) break;
        if (!(v[k] = strdup(e->d_name))) {
            st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        k++;
    }
    closedir(d);
    if (st) {
        for (size_t i = 0; i < k; i++) free(v[i]);
        free(v);
        return st;
    }
    if (k) qsort(v, k, sizeof *v, cmp_str);
    *names = v;
    *n = k;
    return RECUR_OK;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

recur_status recur_seqset_load_audio(const char *dir, const recur_features_config *features,
                                     recur_seqset **out, recur_error *err)
{
    if (!dir || !out) return recur_fail(err, RECUR_ERR_ARG, "recur_seqset_load_audio: %s is NULL", dir ? "out" : "dir");
    *out = NULL;
    recur_featurizer *f = NULL;
    RECUR_TRY(recur_featurizer_create(features, &f, err));
    recur_features_config fc;
    if (features) fc = *features;
    else recur_features_config_default(&fc);
    recur_seqset *s = NULL;
    char **words = NULL;
    size_t n_words = 0, cap_f = 0;
    recur_seqset_options so;
    recur_seqset_options_default(&so);
    recur_status st = seqset_new(&s, &so, err);
    if (!st) st = list_dir(dir, 1, &words, &n_words, err);
    if (!st && n_words < 2)
        st = recur_fail(err, RECUR_ERR_DATA, "%s: %zu word folders; a classifier needs at least 2 (<word>/<file>.wav)",
                        dir, n_words);
    if (!st) s->F = recur_featurizer_dim(f);
    for (size_t w = 0; w < n_words && !st; w++) {
        char sub[4096];
        if (snprintf(sub, sizeof sub, "%s/%s", dir, words[w]) >= (int)sizeof sub) {
            st = recur_fail(err, RECUR_ERR_ARG, "%s/%s: path too long", dir, words[w]);
            break;
        }
        char **files = NULL;
        size_t n_files = 0;
        st = list_dir(sub, 0, &files, &n_files, err);
        if (!st && n_files == 0) st = recur_fail(err, RECUR_ERR_DATA, "%s: no audio files", sub);
        for (size_t i = 0; i < n_files && !st; i++) {
            char path[8200], name[4096];
            snprintf(path, sizeof path, "%s/%s", sub, files[i]);
            int nl = snprintf(name, sizeof name, "%s/%s", words[w], files[i]);
            if (nl >= (int)sizeof name) {
                st = recur_fail(err, RECUR_ERR_ARG, "%.300s: path too long", path);
                break;
            }
            float *x = NULL, *feat = NULL;
            size_t n = 0, frames = 0;
            st = recur_audio_load(path, fc.sample_rate, AUDIO_MAX_SECONDS, &x, &n, err);
            if (!st && (st = recur_featurizer_run(f, x, n, &feat, &frames, err)) && err) {
                char m[sizeof err->message];
                snprintf(m, sizeof m, "%.200s: %.300s", path, err->message); /* the featurizer does not know the file */
                memcpy(err->message, m, sizeof m);
            }
            if (!st && s->steps + frames > (size_t)INT32_MAX - 1)
                st = recur_fail(err, RECUR_ERR_DATA, "%s: more than %d frames in all", dir, INT32_MAX - 1);
            if (!st) st = seqset_begin(s, 0, name, (size_t)nl, err);
            if (!st) st = seqset_label(s, words[w], strlen(words[w]), err);
            if (!st)
                st = seq_grow((void **)&s->own_features, &cap_f, (s->steps + frames) * (size_t)s->F, sizeof(float), err);
            if (!st) {
                memcpy(s->own_features + s->steps * (size_t)s->F, feat, frames * (size_t)s->F * sizeof(float));
                s->steps += frames;
                st = seqset_end(s, path, err);
            }
            free(feat);
            free(x);
        }
        free_list(files, n_files);
    }
    free_list(words, n_words);
    recur_featurizer_free(f);
    if (!st) {
        s->features = s->own_features;
        st = seqset_number_names(&s->feature_names, s->F, err);
    }
    if (!st) st = seqset_finish(s, dir, err);
    if (st) {
        recur_seqset_free(s);
        return st;
    }
    *out = s;
    return RECUR_OK;
}

/* ------------------------------------------------------------------------ */
/* Connected speech: <name>.wav with <name>.lab, a label for every frame    */
/* ------------------------------------------------------------------------ */

typedef struct lab_seg {
    long long start, end; /* samples [start, end) */
    char label[64];
} lab_seg;

/* A .lab file: "start end label" per line (samples, increasing, not
 * overlapping; a label of at most 63 printable bytes); blank lines
 * skipped; at least one span. */
static recur_status read_lab(const char *path, lab_seg **out, size_t *n, recur_error *err)
{
    *out = NULL;
    *n = 0;
    char *text = NULL;
    size_t len = 0, cap = 0, k = 0, lineno = 0;
    RECUR_TRY(seq_read_file(path, &text, &len, err));
    lab_seg *v = NULL;
    recur_status st = RECUR_OK;
    for (char *line = text; !st && line < text + len;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line)), *end = nl ? nl : text + len;
        lineno++;
        *end = '\0';
        lab_seg g;
        int used = 0;
        char extra;
        if ((st = seq_check_line(path, lineno, line, (size_t)(end - line), (size_t)(line - text), err))) break;
        int got = sscanf(line, " %lld %lld %63s %n%c", &g.start, &g.end, g.label, &used, &extra);
        if (got == EOF || (got <= 0 && strspn(line, " \t\r") == (size_t)(end - line))) {
            line = end + 1;
            continue;
        }
        if (got != 3 || g.start < 0 || g.end <= g.start || (k && g.start < v[k - 1].end)) {
            st = recur_fail(err, RECUR_ERR_DATA,
                            "%s:%zu: want \"start end label\" in samples, start < end, after the line before", path,
                            lineno);
            break;
        }
        /* A label is a printable word: it becomes a tag name (a model's
         * label), which control bytes would garble wherever it is printed. */
        for (const unsigned char *c = (const unsigned char *)g.label; !st && *c; c++)
            if (*c < 0x20 || *c == 0x7f)
                st = recur_fail(err, RECUR_ERR_DATA, "%s:%zu: the label holds a control byte (0x%02x)", path, lineno,
                                *c);
        if (st) break;
        if (!(st = seq_grow((void **)&v, &cap, k + 1, sizeof *v, err))) v[k++] = g;
        line = end + 1;
    }
    free(text);
    if (!st && k == 0) st = recur_fail(err, RECUR_ERR_DATA, "%s: no segments", path);
    if (st) {
        free(v);
        return seq_clean_error(st, err);
    }
    *out = v;
    *n = k;
    return RECUR_OK;
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

recur_status recur_seqset_load_audio_tags(const char *dir, const recur_features_config *features,
                                          recur_seqset **out, recur_error *err)
{
    if (!dir || !out) return recur_fail(err, RECUR_ERR_ARG, "recur_seqset_load_audio_tags: %s is NULL", dir ? "out" : "dir");
    *out = NULL;
    recur_features_config fc;
    if (features) fc = *features;
    else recur_features_config_default(&fc);
    recur_featurizer *f = NULL;
    RECUR_TRY(recur_featurizer_create(&fc, &f, err));
    long long win = lround(fc.window_ms * 1e-3 * fc.sample_rate), hop = lround(fc.hop_ms * 1e-3 * fc.sample_rate);
    if (hop < 1) hop = 1;
    recur_seqset *s = NULL;
    char **files = NULL;
    size_t n_files = 0, cap_f = 0, used = 0;
    recur_seqset_options so;
    recur_seqset_options_default(&so);
    recur_status st = seqset_new(&s, &so, err);
    if (!st) st = list_dir(dir, 0, &files, &n_files, err);
    if (!st) s->F = recur_featurizer_dim(f);
    for (size_t i = 0; i < n_files && !st; i++) {
        if (ends_with(files[i], ".lab")) continue;
        char path[8200], lab[8200];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        const char *dot = strrchr(files[i], '.');
        int stem = dot ? (int)(dot - files[i]) : (int)strlen(files[i]);
        snprintf(lab, sizeof lab, "%s/%.*s.lab", dir, stem, files[i]);
        float *x = NULL, *feat = NULL;
        size_t n = 0, frames = 0, n_seg = 0;
        lab_seg *seg = NULL;
        st = recur_audio_load(path, fc.sample_rate, AUDIO_MAX_SECONDS, &x, &n, err);
        if (!st) st = read_lab(lab, &seg, &n_seg, err);
        /* Spans past the end of the audio: the .lab of another file, or
         * spans in another unit than samples. Spans may end before the
         * audio does (silence after the last one). */
        if (!st && seg[n_seg - 1].end > (long long)n)
            st = recur_fail(err, RECUR_ERR_DATA, "%s: a span ends at sample %lld, after the audio's %zu samples (%s)",
                            lab, seg[n_seg - 1].end, n, files[i]);
        if (!st && (st = recur_featurizer_run(f, x, n, &feat, &frames, err)) && err) {
            char m[sizeof err->message];
            snprintf(m, sizeof m, "%.200s: %.300s", path, err->message);
            memcpy(err->message, m, sizeof m);
        }
        if (!st && frames == 0) st = recur_fail(err, RECUR_ERR_DATA, "%s: shorter than one window", path);
        if (!st && s->steps + frames > (size_t)INT32_MAX - 1)
            st = recur_fail(err, RECUR_ERR_DATA, "%s: more than %d frames in all", dir, INT32_MAX - 1);
        if (!st) st = seqset_begin(s, 0, files[i], strlen(files[i]), err);
        if (!st) st = seq_grow((void **)&s->own_features, &cap_f, (s->steps + frames) * (size_t)s->F, sizeof(float), err);
        /* Frame t is the segment holding its window's centre sample, or
         * silence ("sil") between segments. */
        size_t g = 0;
        for (size_t t = 0; t < frames && !st; t++) {
            long long c = (long long)t * hop + win / 2;
            while (g < n_seg && seg[g].end <= c) g++;
            const char *tag = g < n_seg && seg[g].start <= c ? seg[g].label : "sil";
            memcpy(s->own_features + s->steps * (size_t)s->F, feat + t * (size_t)s->F, (size_t)s->F * sizeof(float));
            size_t c2 = s->scap;
            st = seq_grow((void **)&s->step_labels, &c2, s->steps + 1, sizeof *s->step_labels, err);
            s->scap = c2;
            if (!st) st = strtab_intern(&s->tag_tab, tag, strlen(tag), &s->step_labels[s->steps], err);
            if (!st) s->steps++;
        }
        if (!st) st = seqset_end(s, path, err);
        if (!st) used++;
        free(seg);
        free(feat);
        free(x);
    }
    free_list(files, n_files);
    recur_featurizer_free(f);
    if (!st && used == 0) st = recur_fail(err, RECUR_ERR_DATA, "%s: no audio files with .lab labels", dir);
    if (!st) {
        s->features = s->own_features;
        st = seqset_number_names(&s->feature_names, s->F, err);
    }
    if (!st) st = seqset_finish(s, dir, err);
    if (st) {
        recur_seqset_free(s);
        return st;
    }
    *out = s;
    return RECUR_OK;
}
