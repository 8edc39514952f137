/*
 * The baseline a name generator must beat: a character trigram model with
 * add-one (Laplace) smoothing, over the same symbols, the same boundary
 * convention and the same labels as the recurrent model.
 *
 * Counts live in one open-addressing hash table keyed by (label + 1, a, b,
 * c): label 0 is the pool of all labels, and c == V stands for the context
 * total n(a b). With about 90 symbols a dense table would need V^3 = 700k
 * cells per label, nearly all empty; names hold a few thousand distinct
 * trigrams per label.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct cli_trigram {
    int V, C;
    uint64_t *keys; /* 0 = empty slot; stored keys are key + 1 */
    uint32_t *counts;
    size_t cap, used;
};

cli_trigram *trigram_create(int V, int C)
{
    if (V < 2 || C < 1) return NULL;
    /* Keys must fit 64 bits: (C + 1) (V + 1)^3 distinct values. */
    double span = (double)(C + 1) * pow((double)V + 1, 3);
    if (span >= 1.8e19) return NULL;
    cli_trigram *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->V = V;
    t->C = C;
    t->cap = 1 << 14;
    t->keys = calloc(t->cap, sizeof *t->keys);
    t->counts = calloc(t->cap, sizeof *t->counts);
    if (!t->keys || !t->counts) {
        trigram_free(t);
        return NULL;
    }
    return t;
}

void trigram_free(cli_trigram *t)
{
    if (!t) return;
    free(t->keys);
    free(t->counts);
    free(t);
}

static uint64_t make_key(const cli_trigram *t, int slot, int32_t a, int32_t b, int32_t c)
{
    uint64_t W = (uint64_t)t->V + 1;
    return (((uint64_t)slot * W + (uint64_t)a) * W + (uint64_t)b) * W + (uint64_t)c;
}

static size_t slot_of(const cli_trigram *t, uint64_t key)
{
    uint64_t z = key * 0x9e3779b97f4a7c15ULL;
    z ^= z >> 29;
    size_t i = (size_t)z & (t->cap - 1);
    while (t->keys[i] && t->keys[i] != key + 1) i = (i + 1) & (t->cap - 1);
    return i;
}

static uint32_t count_of(const cli_trigram *t, uint64_t key)
{
    size_t i = slot_of(t, key);
    return t->keys[i] ? t->counts[i] : 0;
}

static int grow(cli_trigram *t)
{
    cli_trigram n = *t;
    n.cap = t->cap * 2;
    n.keys = calloc(n.cap, sizeof *n.keys);
    n.counts = calloc(n.cap, sizeof *n.counts);
    if (!n.keys || !n.counts) {
        free(n.keys);
        free(n.counts);
        return -1;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->keys[i]) {
            size_t j = slot_of(&n, t->keys[i] - 1);
            n.keys[j] = t->keys[i];
            n.counts[j] = t->counts[i];
        }
    free(t->keys);
    free(t->counts);
    *t = n;
    return 0;
}

static int bump(cli_trigram *t, uint64_t key)
{
    /* At most half full, so that probes stay short. */
    if (2 * (t->used + 1) > t->cap && grow(t)) return -1;
    size_t i = slot_of(t, key);
    if (!t->keys[i]) {
        t->keys[i] = key + 1;
        t->used++;
    }
    t->counts[i]++;
    return 0;
}

/* The symbol predicted at step i of a name of n symbols, and its context. */
static void step(const int32_t *tok, size_t n, size_t i, int32_t *a, int32_t *b, int32_t *c)
{
    *a = i >= 2 ? tok[i - 2] : RECUR_TOKEN_BOUNDARY;
    *b = i >= 1 ? tok[i - 1] : RECUR_TOKEN_BOUNDARY;
    *c = i < n ? tok[i] : RECUR_TOKEN_BOUNDARY;
}

int trigram_add(cli_trigram *t, const int32_t *tok, size_t n, int label)
{
    if (label < 0 || label >= t->C) return -1;
    for (size_t i = 0; i <= n; i++) {
        int32_t a, b, c;
        step(tok, n, i, &a, &b, &c);
        if (a < 0 || b < 0 || c < 0 || a >= t->V || b >= t->V || c >= t->V) return -1;
        uint64_t keys[4] = {make_key(t, 0, a, b, c), make_key(t, 0, a, b, t->V), make_key(t, label + 1, a, b, c),
                            make_key(t, label + 1, a, b, t->V)};
        for (int k = 0; k < 4; k++)
            if (bump(t, keys[k])) return -1;
    }
    return 0;
}

double trigram_bits(const cli_trigram *t, const int32_t *tok, size_t n, int label)
{
    int slot = label < 0 || label >= t->C ? 0 : label + 1;
    double bits = 0;
    for (size_t i = 0; i <= n; i++) {
        int32_t a, b, c;
        step(tok, n, i, &a, &b, &c);
        /* The vocabulary's encoder gives no other ids; were one to come,
         * it would count as unknown symbols. */
        if (a < 0 || b < 0 || c < 0 || a >= t->V || b >= t->V || c >= t->V) c = a = b = RECUR_TOKEN_UNKNOWN;
        double num = (double)count_of(t, make_key(t, slot, a, b, c)) + 1;
        double den = (double)count_of(t, make_key(t, slot, a, b, t->V)) + t->V;
        bits -= log2(num / den);
    }
    return bits;
}
