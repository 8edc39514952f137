/*
 * seqset_rss: the memory a data set costs, for the README's limits table.
 *
 *   seqset_rss FILE [EPOCHS]
 * loads FILE with recur_seqset_load, then reads every value of every
 * sequence EPOCHS times (default 1) in a shuffled order, batch by batch, as
 * a training loop does, and prints one line: sequences, steps, bytes used in
 * place from the file's map, and from /proc/self/status the peak resident
 * set (VmHWM) and the largest anonymous (RssAnon: the process's own memory)
 * and file-backed (RssFile: pages of the mapped file, which the kernel may
 * drop at any time) parts seen after each batch of 64 sequences.
 * Built and run by tools/data/measure_rss.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <recur.h>

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, k) == 0 && line[k] == ':') v = strtol(line + k + 1, NULL, 10);
    if (f) fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2) return fprintf(stderr, "usage: seqset_rss FILE [EPOCHS]\n"), 2;
    int epochs = argc > 2 ? atoi(argv[2]) : 1;
    recur_error err;
    recur_seqset *s;
    if (recur_seqset_load(argv[1], NULL, &s, &err)) return fprintf(stderr, "seqset_rss: %s\n", err.message), 1;
    const recur_batch *b = recur_seqset_batch(s);
    size_t n = recur_seqset_size(s), F = (size_t)recur_seqset_input_size(s);
    size_t *order = malloc(n * sizeof *order);
    if (!order) return 1;
    for (size_t i = 0; i < n; i++) order[i] = i;
    uint64_t x = 88172645463325252ULL;
    long anon = 0, file = 0;
    double sum = 0;
    for (int e = 0; e < epochs; e++) {
        for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates, xorshift */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t j = (size_t)(x % (i + 1)), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        for (size_t i = 0; i < n; i++) {
            size_t q = order[i];
            for (size_t k = (size_t)b->offsets[q] * F; k < (size_t)b->offsets[q + 1] * F; k++) sum += b->features[k];
            if (i % 64 == 63 || i == n - 1) {
                long a = status_kb("RssAnon"), f = status_kb("RssFile");
                if (a > anon) anon = a;
                if (f > file) file = f;
            }
        }
    }
    printf("%s: %zu sequences, %zu steps, %.1f MB in place; peak RSS %.1f MB (anonymous %.1f MB, file %.1f MB)"
           " [checksum %.3g]\n",
           argv[1], n, recur_seqset_steps(s), recur_seqset_mapped_bytes(s) / 1e6, status_kb("VmHWM") / 1e3,
           anon / 1e3, file / 1e3, sum);
    free(order);
    recur_seqset_free(s);
    return 0;
}
