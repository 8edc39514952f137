/*
 * safetensors.h - the safetensors container: a hostile-input reader and an
 * atomic writer. See docs/FORMAT.md for the byte layout.
 *
 * Reading: the whole file is loaded and validated before anything is
 * returned; every error is RECUR_ERR_FORMAT (malformed) or RECUR_ERR_IO
 * (open/read failed) with one line starting with the path ("what").
 * Writing: a temporary file in the same folder, fsync, rename, fsync the
 * folder. No global state, no printing.
 */
#ifndef RECUR_IO_SAFETENSORS_H
#define RECUR_IO_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "recur.h"

/* safetensors "F32", "F64", "I32", "I64", "U8", "I8", "BF16" (the last two
 * for quantized models); other dtypes are rejected. */
typedef enum st_dtype { ST_F32, ST_F64, ST_I32, ST_I64, ST_U8, ST_I8, ST_BF16 } st_dtype;
#define ST_NDTYPES 7
#define ST_MAX_DIMS 8
/* Largest accepted header (JSON) in bytes, as the reference implementation. */
#define ST_MAX_HEADER 100000000u
/* Largest accepted shape dimension or offset: 2^53 - 1 (exact in a double). */
#define ST_MAX_INT 9007199254740991LL

typedef struct st_tensor {
    char *name;                 /* NUL-terminated UTF-8 (no embedded NUL)   */
    st_dtype dtype;
    int ndim;                   /* 0 (a scalar: one element) .. ST_MAX_DIMS */
    int64_t shape[ST_MAX_DIMS]; /* unused entries are 0                     */
    /* Little-endian element data, aligned for the dtype (the reader copies
     * a tensor whose offset in the file is not a multiple of its element
     * size). Non-NULL even when nbytes == 0. Owned by the st_file.         */
    const unsigned char *data;
    size_t nbytes;              /* element count * element size             */
} st_tensor;

typedef struct st_file st_file; /* owns the bytes, the tensors, the metadata */

/* Read and validate a whole file. Error messages start with the path, e.g.
 * "model.safetensors: header length 1000000000000 exceeds file size 4096". */
recur_status st_read(const char *path, st_file **out, recur_error *err);
/* Same on a buffer (copied); `what` names it in errors (NULL: "buffer"). */
recur_status st_parse(const void *buf, size_t len, const char *what,
                      st_file **out, recur_error *err);
void st_free(st_file *f);

/* Tensors in the order their entries appear in the JSON header (for files
 * from st_write: the order given to st_write, which is also data order). */
int st_count(const st_file *f);
const st_tensor *st_get(const st_file *f, int i);    /* NULL when out of range */
const st_tensor *st_find(const st_file *f, const char *name); /* NULL if absent */
/* __metadata__: values by key (NULL if absent); keys in header order. */
const char *st_meta(const st_file *f, const char *key);
int st_meta_count(const st_file *f);
const char *st_meta_key(const st_file *f, int i);   /* NULL when out of range */
/* The name given to st_read/st_parse (the path). */
const char *st_what(const st_file *f);

/*
 * Fetch a tensor that must exist with this dtype and exactly this shape
 * (ndim entries of shape). RECUR_ERR_FORMAT otherwise, with a message
 * "<what>: tensor "x" has shape [3, 4], expected [4, 3]". `what` NULL: the
 * name given when the file was read.
 */
recur_status st_expect(const st_file *f, const char *name, st_dtype dtype,
                       int ndim, const int64_t *shape, const st_tensor **out,
                       const char *what, recur_error *err);

/* Writer: one tensor to write; data holds element count * size bytes in
 * little-endian (host) order and may be NULL when that is 0. */
typedef struct st_out {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} st_out;

/*
 * Write tensors (in the order given, contiguous) and metadata pairs
 * (meta[2*i] key, meta[2*i+1] value, all UTF-8) to `path` atomically: write
 * "<path>.tmp.<pid>", fflush + fsync, rename over path, fsync the folder; on
 * failure the temporary file is removed and an existing `path` is untouched.
 * Adds the metadata key "recur.crc32" = CRC-32 of the data section as 8
 * lowercase hex digits (a "recur.crc32" pair in meta is replaced).
 * RECUR_ERR_ARG for invalid tensors or metadata (duplicate or empty names,
 * invalid UTF-8, bad shape), RECUR_ERR_IO when the file system refuses.
 */
recur_status st_write(const char *path, const st_out *tensors, int n,
                      const char *const *meta, int n_meta, recur_error *err);

/* CRC-32 (IEEE 802.3, as zlib's crc32): start with crc = 0, chain calls. */
uint32_t st_crc32(const void *data, size_t n, uint32_t crc);

/* "F32", ...; size in bytes of one element (0 for an invalid value). */
const char *st_dtype_name(st_dtype dtype);
size_t st_dtype_size(st_dtype dtype);

/* Shared by the reader and the writer. */
/* Offset of the first invalid byte, or n when s[0..n) is valid UTF-8 (no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
size_t st_utf8_check(const unsigned char *s, size_t n);
/* A name quoted for an error message into buf (cap >= 16; ST_QCAP is
 * enough): control bytes, quotes, backslashes and invalid UTF-8 shown as
 * \xNN; long names cut with "...". Returns buf. */
#define ST_QCAP 100
const char *st_quoted(char *buf, size_t cap, const char *s);
/* RECUR_ERR_NOMEM with "<what>: out of memory". */
recur_status st_oom(recur_error *err, const char *what);

#endif
