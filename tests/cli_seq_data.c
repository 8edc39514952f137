/*
 * The data and helpers tests/test_cli_seq*.c and test_cli_dense.c share
 * (tests/cli_seq.h): small sequence files made here from a fixed
 * generator, and numbers read back from a model's metadata or a JSON answer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_seq.h"

const char *seq_dir(const char *name) { return tool_new_dir("seq", name); }

int seq_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

double seq_meta_number(const char *model, const char *key)
{
    recur_model *m = NULL;
    recur_error err;
    double v = NAN;
    if (recur_model_load(model, &m, &err) == RECUR_OK) {
        const char *s = recur_model_get_meta(m, key);
        if (s) v = strtod(s, NULL);
    }
    recur_model_free(m);
    return v;
}

/* A deterministic generator for the data. */
static uint64_t rng_state = 1;
void seq_seed(uint64_t seed) { rng_state = seed; }
double seq_uniform(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Words of vowels and consonants, each letter tagged V or C: the tag is a
 * function of the step's own symbol, which one epoch or two learn. As CoNLL
 * (one letter a line) and as JSON Lines (the word, its tags). */
void seq_write_tagged(const char *dir)
{
    static const char letters[] = "abcdeiklmnostu";
    char path[600];
    snprintf(path, sizeof path, "%s/words.conll", dir);
    FILE *c = fopen(path, "w");
    snprintf(path, sizeof path, "%s/words.jsonl", dir);
    FILE *j = fopen(path, "w");
    CHECK(c && j);
    if (!c || !j) return;
    rng_state = 11;
    for (int i = 0; i < 300; i++) {
        int n = 3 + (int)(seq_uniform() * 6);
        char w[16];
        for (int k = 0; k < n; k++) w[k] = letters[(int)(seq_uniform() * 14)];
        w[n] = 0;
        fprintf(j, "{\"text\": \"%s\", \"tags\": [", w);
        for (int k = 0; k < n; k++) {
            const char *t = strchr("aeiou", w[k]) ? "V" : "C";
            fprintf(c, "%c\t%s\n", w[k], t);
            fprintf(j, "%s\"%s\"", k ? ", " : "", t);
        }
        fprintf(c, "\n");
        fprintf(j, "]}\n");
    }
    fclose(c);
    fclose(j);
    /* Sentences of whole words from a small lexicon, tagged by word. */
    static const char *const lex[][2] = {{"the", "D"}, {"a", "D"}, {"cat", "N"}, {"dog", "N"}, {"owl", "N"},
                                         {"runs", "V"}, {"sees", "V"}, {"big", "A"}, {"old", "A"}};
    snprintf(path, sizeof path, "%s/sentences.jsonl", dir);
    FILE *s = fopen(path, "w");
    CHECK(s);
    if (!s) return;
    for (int i = 0; i < 300; i++) {
        int n = 2 + (int)(seq_uniform() * 5), w[8];
        for (int k = 0; k < n; k++) w[k] = (int)(seq_uniform() * 9);
        fprintf(s, "{\"tokens\": [");
        for (int k = 0; k < n; k++) fprintf(s, "%s\"%s\"", k ? ", " : "", lex[w[k]][0]);
        fprintf(s, "], \"tags\": [");
        for (int k = 0; k < n; k++) fprintf(s, "%s\"%s\"", k ? ", " : "", lex[w[k]][1]);
        fprintf(s, "]}\n");
    }
    fclose(s);
}

/* Sequences of 6 values in [-1, 1]; the target of a sequence is its first
 * value plus its last (per_sequence), or each step's value plus the one
 * before (per step). */
void seq_write_series(const char *path, int per_sequence, int n)
{
    FILE *f = fopen(path, "w");
    CHECK(f);
    if (!f) return;
    rng_state = 5;
    fprintf(f, "id,x,noise,y\n");
    for (int i = 0; i < n; i++) {
        double x[6];
        for (int t = 0; t < 6; t++) x[t] = 2 * seq_uniform() - 1;
        for (int t = 0; t < 6; t++)
            fprintf(f, "s%d,%.5f,%.5f,%.5f\n", i, x[t], seq_uniform(),
                    per_sequence ? x[0] + x[5] : x[t] + (t ? x[t - 1] : 0));
    }
    fclose(f);
}

double seq_json_number(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = s ? strstr(s, k) : NULL;
    return p ? strtod(p + strlen(k), NULL) : NAN;
}
