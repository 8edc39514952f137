/*
 * fuzz_safetensors: libFuzzer harness for the safetensors reader.
 *
 * bytes -> st_parse -> walk every tensor and metadata pair -> st_free.
 * Beyond what ASan/UBSan catch, it checks the reader's promises
 * (src/io/safetensors.h) and aborts when one is broken: names and values
 * are NUL-terminated strings, nbytes equals the element count times the
 * element size, data is non-NULL and aligned for the dtype, st_find and
 * st_meta find every entry, and a tensor's data lies inside the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_safetensors: broken promise: %s (%s:%d)\n", \
                    #cond, __FILE__, __LINE__);                                \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Read every byte, so that ASan sees any read past the tensor's storage. */
static unsigned touch(const unsigned char *p, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) sum += p[i];
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file *f = NULL;
    recur_error err;
    memset(&err, 0, sizeof err);
    recur_status s = st_parse(data, size, "fuzz", &f, &err);
    if (s != RECUR_OK) {
        REQUIRE(f == NULL);
        REQUIRE(s == RECUR_ERR_FORMAT || s == RECUR_ERR_NOMEM);
        REQUIRE(memchr(err.message, '\0', sizeof err.message) != NULL);
        REQUIRE(strchr(err.message, '\n') == NULL);
        return 0;
    }
    REQUIRE(f != NULL);
    REQUIRE(strcmp(st_what(f), "fuzz") == 0);
    volatile unsigned sink = 0;
    int n = st_count(f);
    REQUIRE(n >= 0);
    REQUIRE(st_get(f, -1) == NULL && st_get(f, n) == NULL);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *t = st_get(f, i);
        REQUIRE(t && t->name && t->data);
        REQUIRE(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS);
        size_t esize = st_dtype_size(t->dtype);
        REQUIRE(esize > 0);
        REQUIRE(((uintptr_t)t->data) % esize == 0);
        uint64_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            REQUIRE(t->shape[d] >= 0 && t->shape[d] <= ST_MAX_INT);
            count *= (uint64_t)t->shape[d]; /* the reader checked overflow */
        }
        for (int d = t->ndim; d < ST_MAX_DIMS; d++) REQUIRE(t->shape[d] == 0);
        REQUIRE(t->nbytes == count * esize);
        REQUIRE(t->nbytes <= size);
        total += t->nbytes;
        REQUIRE(total <= size);
        sink += touch(t->data, t->nbytes) + (unsigned)strlen(t->name);
        REQUIRE(st_find(f, t->name) == t);
        /* The same tensor fetched the checked way. */
        const st_tensor *x = NULL;
        int64_t shape[ST_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        REQUIRE(st_expect(f, t->name, t->dtype, t->ndim, shape, &x, NULL, &err) == RECUR_OK);
        REQUIRE(x == t);
        REQUIRE(st_expect(f, t->name, t->dtype == ST_U8 ? ST_F32 : ST_U8, t->ndim, shape, &x,
                          "other", &err) == RECUR_ERR_FORMAT);
    }
    int nm = st_meta_count(f);
    REQUIRE(nm >= 0);
    REQUIRE(st_meta_key(f, nm) == NULL);
    for (int i = 0; i < nm; i++) {
        const char *k = st_meta_key(f, i);
        REQUIRE(k != NULL);
        const char *v = st_meta(f, k);
        REQUIRE(v != NULL);
        sink += (unsigned)strlen(k) + (unsigned)strlen(v);
    }
    REQUIRE(st_find(f, "\xff not a name") == NULL);
    (void)sink;
    st_free(f);
    return 0;
}
