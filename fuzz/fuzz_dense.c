/*
 * fuzz_dense: libFuzzer harness for the dense loaders: CSV (libcsv,
 * src/data/load_csv.c) and NumPy .npy / .npz (src/data/load_npy.c, the
 * file memory-mapped from a memfd, compressed members through libzip).
 *
 * The first byte chooses: bit 0 NumPy (else CSV); for CSV, bit 1 the id
 * column "id", bit 2 the target column "y", bit 3 targets per sequence,
 * bit 4 the label column "label", bit 5 the tag column "tag", bit 6 the
 * features "a,b" (else every other column), bit 7 ';' as the delimiter.
 * The rest is the file. A loaded set is checked (fuzz_seqset_common.h).
 */
#include "fuzz_seqset_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_open();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    fuzz_write(data + 1, size - 1);
    recur_seqset_options o;
    recur_seqset_options_default(&o);
    if (mode & 2) o.id_column = "id";
    if (mode & 4) o.target_columns = "y";
    o.targets_per_sequence = (mode >> 3) & 1;
    if (mode & 16) o.label_column = "label";
    if (mode & 32) o.tag_column_name = "tag";
    if (mode & 64) o.feature_columns = "a,b";
    if (mode & 128) o.delimiter = ';';
    recur_seqset *s = NULL;
    recur_error err;
    memset(&err, 0, sizeof err);
    recur_status st = mode & 1 ? recur_seqset_load_npy(fuzz_path, &o, &s, &err)
                               : recur_seqset_load_csv(fuzz_path, &o, &s, &err);
    if (st != RECUR_OK) {
        check_failure(st, s, &err);
        return 0;
    }
    check_set(s);
    REQUIRE(recur_seqset_input_size(s) >= 1);
    REQUIRE(recur_seqset_mapped_bytes(s) <= (size_t)size);
    recur_seqset_free(s);
    return 0;
}
