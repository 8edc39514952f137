/*
 * fuzz_tagged: libFuzzer harness for the tagged-text loaders (CoNLL and
 * JSON Lines, src/data/load_tagged.c).
 *
 * The first byte chooses: bit 0 JSON Lines (else CoNLL), bit 1 token level,
 * bit 2 min_count 2, bit 3 token column 1 and tag column 3 (CoNLL-U's FORM
 * and UPOS). The rest is the file (a memfd). A loaded set is checked
 * (fuzz_seqset_common.h), re-encoded from its first half and checked again.
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
    o.token_level = (mode >> 1) & 1;
    o.min_count = mode & 4 ? 2 : 1;
    if (mode & 8) {
        o.token_column = 1;
        o.tag_column = 3;
    }
    recur_seqset *s = NULL;
    recur_error err;
    memset(&err, 0, sizeof err);
    recur_status st = mode & 1 ? recur_seqset_load_jsonl(fuzz_path, &o, &s, &err)
                               : recur_seqset_load_conll(fuzz_path, &o, &s, &err);
    if (st != RECUR_OK) {
        check_failure(st, s, &err);
        return 0;
    }
    check_set(s);
    int T = recur_seqset_num_tags(s);
    for (int i = 1; i < T; i++) REQUIRE(strcmp(recur_seqset_tag_name(s, i - 1), recur_seqset_tag_name(s, i)) < 0);
    size_t n = recur_seqset_size(s), half = (n + 1) / 2;
    size_t *idx = malloc(half * sizeof *idx);
    REQUIRE(idx != NULL);
    for (size_t i = 0; i < half; i++) idx[i] = i;
    REQUIRE(recur_seqset_reencode(s, idx, half, &err) == RECUR_OK);
    check_set(s);
    free(idx);
    recur_seqset_free(s);
    return 0;
}
