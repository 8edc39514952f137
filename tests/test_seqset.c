/* Sequence sets: CoNLL, JSON Lines, CSV, .npy and .npz into one recur_batch,
 * their names and vocabularies, and their errors (file, line or row,
 * column, byte offset; one line; nothing loaded). */
#include <stdint.h>
#include <string.h>
#include <zip.h>

#include "test.h"

static const char *tmp_file(const char *name, const void *data, size_t len)
{
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len)) {
        perror(p);
        test_failures++;
    }
    if (f) fclose(f);
    return p;
}

static const char *tmp_text(const char *name, const char *text) { return tmp_file(name, text, strlen(text)); }

static recur_seqset *load_ok(const char *path, const recur_seqset_options *o)
{
    recur_seqset *s = NULL;
    recur_error err = {0};
    CHECK_OK(recur_seqset_load(path, o, &s, &err), &err);
    return s;
}

/* Load must fail with `status` and a message holding each of want[]. */
static void expect_error(const char *path, const recur_seqset_options *o, recur_status status, const char *want)
{
    recur_seqset *s = (recur_seqset *)1;
    recur_error err = {0};
    recur_status st = recur_seqset_load(path, o, &s, &err);
    CHECK_MSG(st == status, "%s: got %s: %s", path, recur_status_string(st), err.message);
    CHECK(s == NULL);
    CHECK_MSG(strstr(err.message, want), "'%s' lacks '%s'", err.message, want);
    CHECK(!strchr(err.message, '\n'));
}

/* ------------------------------------------------------------------------ */

static void conll_token_level(void)
{
    const char *p = tmp_text("a.conll",
                             "-DOCSTART- -X- -X- O\n\n"
                             "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n\n"
                             "Peter NNP B-NP B-PER\r\nrejects VBZ B-VP O\r\n");
    recur_seqset_options o;
    recur_seqset_options_default(&o);
    o.token_level = 1;
    recur_seqset *s = load_ok(p, &o);
    if (!s) return;
    const recur_batch *b = recur_seqset_batch(s);
    CHECK(recur_seqset_size(s) == 2 && b->n == 2);
    CHECK(recur_seqset_steps(s) == 5);
    CHECK(b->offsets[0] == 0 && b->offsets[1] == 3 && b->offsets[2] == 5);
    CHECK(b->labels == NULL && b->features == NULL && b->targets == NULL);
    /* Tags sorted bytewise: B-MISC B-ORG B-PER O. */
    CHECK(recur_seqset_num_tags(s) == 4);
    CHECK(strcmp(recur_seqset_tag_name(s, 0), "B-MISC") == 0 && strcmp(recur_seqset_tag_name(s, 3), "O") == 0);
    CHECK(b->step_labels[0] == 1 && b->step_labels[1] == 3 && b->step_labels[2] == 0 && b->step_labels[3] == 2);
    /* Tokens: "rejects" (twice) first, then the rest bytewise. */
    CHECK(recur_seqset_num_tokens(s) == 6);
    CHECK(strcmp(recur_seqset_token(s, 2), "rejects") == 0);
    CHECK(strcmp(recur_seqset_token(s, 3), "EU") == 0);
    CHECK(strcmp(recur_seqset_token(s, 0), "") == 0 && recur_seqset_token(s, 6) == NULL);
    CHECK(b->tokens[1] == 2 && b->tokens[4] == 2 && b->tokens[0] == 3);
    CHECK(recur_seqset_line(s, 0) == 3 && recur_seqset_line(s, 1) == 8);
    CHECK(recur_seqset_vocab(s) == NULL);
    /* A frequency cut: only "rejects" stays; the rest are unknown. */
    o.min_count = 2;
    recur_seqset_free(s);
    s = load_ok(p, &o);
    if (!s) return;
    b = recur_seqset_batch(s);
    CHECK(recur_seqset_num_tokens(s) == 3);
    CHECK(b->tokens[0] == RECUR_TOKEN_UNKNOWN && b->tokens[1] == 2);
    recur_seqset_free(s);
}

static void conll_ud_and_char_level(void)
{
    /* CoNLL-U: comments, a multiword range and an empty node are skipped;
     * the token is FORM (column 1) and the tag UPOS (column 3). */
    const char *p = tmp_text("b.conllu",
                             "# sent_id = 1\n# text = du vin\n"
                             "1-2\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
                             "1\tde\tde\tADP\t_\t_\t3\tcase\t_\t_\n"
                             "2\tle\tle\tDET\t_\t_\t3\tdet\t_\t_\n"
                             "2.1\tx\tx\tX\t_\t_\t_\t_\t_\t_\n"
                             "3\tvin\tvin\tNOUN\t_\t_\t0\troot\t_\t_\n");
    recur_seqset_options o;
    recur_seqset_options_default(&o);
    o.token_level = 1;
    o.token_column = 1;
    o.tag_column = 3;
    recur_seqset *s = load_ok(p, &o);
    if (!s) return;
    CHECK(recur_seqset_size(s) == 1 && recur_seqset_steps(s) == 3);
    CHECK(recur_seqset_num_tags(s) == 3 && strcmp(recur_seqset_tag_name(s, 0), "ADP") == 0);
    recur_seqset_free(s);
    /* Character level: one character a line, NFC (e + U+0301 is é). */
    p = tmp_text("c.tsv", "c\tB\ne\xcc\x81\tI\nt\tI\n\n\xc3\xa9\tB\n");
    s = load_ok(p, NULL);
    if (!s) return;
    const recur_batch *b = recur_seqset_batch(s);
    const recur_vocab *v = recur_seqset_vocab(s);
    CHECK(v != NULL && recur_vocab_size(v) == 5);
    CHECK(b->tokens[1] == b->tokens[3]); /* é both times */
    CHECK(strcmp(recur_vocab_symbol(v, b->tokens[1]), "\xc3\xa9") == 0);
    /* The ids are the vocabulary's own: encoding the text gives them. */
    int32_t ids[4];
    size_t n;
    recur_error err;
    CHECK_OK(recur_vocab_encode(v, "cet", 3, ids, 4, &n, &err), &err);
    CHECK(n == 3 && ids[0] == b->tokens[0] && ids[2] == b->tokens[2]);
    recur_seqset_free(s);
}

static void conll_errors(void)
{
    expect_error(tmp_text("e1.conll", "a\tO\nb\xff\tO\n"), NULL, RECUR_ERR_DATA,
                 "e1.conll:2:2: invalid UTF-8 (byte offset 5)");
    expect_error(tmp_text("e2.conll", "ab\tO\n"), NULL, RECUR_ERR_DATA,
                 "e2.conll:1:1: the token 'ab' is 2 characters");
    expect_error(tmp_text("e3.conll", "a\tO\nb\n"), NULL, RECUR_ERR_DATA, "e3.conll:2: no tag, where earlier lines have one");
    expect_error(tmp_text("e4.conll", "a\t\n"), NULL, RECUR_ERR_DATA, "e4.conll:1:3: empty tag");
    expect_error(tmp_text("e5.conll", "\n\n-DOCSTART-\n"), NULL, RECUR_ERR_DATA, "e5.conll: no sequences");
    const char nul[] = "a\tO\nx\0y\tO\n";
    expect_error(tmp_file("e7.conll", nul, sizeof nul - 1), NULL, RECUR_ERR_DATA, "e7.conll:2:2: NUL byte (byte offset 5)");
    recur_seqset_options o;
    recur_seqset_options_default(&o);
    o.tag_column = 5;
    expect_error(tmp_text("e8.conll", "a\tO\n"), &o, RECUR_ERR_DATA, "e8.conll:1: 2 columns: the token is column 1 and the tag column 6");
    expect_error(tmp_text("e9.conll", ""), NULL, RECUR_ERR_DATA, "no sequences");
    expect_error("/nonexistent/x.conll", NULL, RECUR_ERR_IO, "cannot open /nonexistent/x.conll");
    expect_error(tmp_text("e10.txt", "a\n"), NULL, RECUR_ERR_UNSUPPORTED, "unknown kind of data file");
}

static void jsonl_loads(void)
{
    const char *p = tmp_text("a.jsonl",
                             "{\"text\": \"ete\", \"tags\": [\"\xc3\xa9\", \"t\", \"\xc3\xa9\"]}\n"
                             "\n"
                             "{\"tags\": [\"a\"], \"text\": \"a\"}\r\n");
    recur_seqset *s = load_ok(p, NULL);
    if (!s) return;
    const recur_batch *b = recur_seqset_batch(s);
    CHECK(b->n == 2 && recur_seqset_steps(s) == 4 && b->offsets[1] == 3);
    CHECK(recur_seqset_num_tags(s) == 3); /* a t é */
    CHECK(strcmp(recur_seqset_tag_name(s, b->step_labels[0]), "\xc3\xa9") == 0);
    CHECK(strcmp(recur_seqset_tag_name(s, b->step_labels[3]), "a") == 0);
    CHECK(recur_seqset_line(s, 1) == 3);
    recur_seqset_free(s);
    /* Tokens with tags and labels, token level. */
    p = tmp_text("b.jsonl",
                 "{\"tokens\": [\"the\", \"cat\"], \"tags\": [\"D\", \"N\"], \"label\": \"pos\"}\n"
                 "{\"tokens\": [\"a\", \"cat\", \"sat\"], \"tags\": [\"D\", \"N\", \"V\"], \"label\": \"neg\"}\n");
    recur_seqset_options o;
    recur_seqset_options_default(&o);
    o.token_level = 1;
    s = load_ok(p, &o);
    if (!s) return;
    b = recur_seqset_batch(s);
    CHECK(recur_seqset_num_labels(s) == 2 && b->labels[0] == 1 && b->labels[1] == 0);
    CHECK(strcmp(recur_seqset_token(s, 2), "cat") == 0 && b->tokens[1] == 2 && b->tokens[3] == 2);
    /* Re-encoded from the second sequence only: "the" becomes unknown. */
    size_t idx[1] = {1};
    recur_error err;
    CHECK_OK(recur_seqset_reencode(s, idx, 1, &err), &err);
    b = recur_seqset_batch(s);
    CHECK(b->tokens[0] == RECUR_TOKEN_UNKNOWN && b->tokens[1] != RECUR_TOKEN_UNKNOWN);
    CHECK(recur_seqset_num_tokens(s) == 5);
    idx[0] = 2;
    CHECK(recur_seqset_reencode(s, idx, 1, &err) == RECUR_ERR_ARG);
    recur_seqset_free(s);
    /* Text at token level splits on white space. */
    p = tmp_text("c.jsonl", "{\"text\": \" the  cat \", \"tags\": [\"D\", \"N\"]}\n");
    s = load_ok(p, &o);
    CHECK(s && recur_seqset_steps(s) == 2);
    recur_seqset_free(s);
}

static void jsonl_errors(void)
{
    expect_error(tmp_text("e1.jsonl", "{\"text\": \"ab\", \"tags\": [\"x\"]}\n"), NULL, RECUR_ERR_DATA,
                 "e1.jsonl:1:16: 1 tags for 2 characters of \"text\"");
    expect_error(tmp_text("e2.jsonl", "{\"text\": \"a\"}\n{\"text\": \"ab\" \"tags\"}\n"), NULL, RECUR_ERR_DATA,
                 "e2.jsonl:2:15: not valid JSON");
    expect_error(tmp_text("e3.jsonl", "[1]\n"), NULL, RECUR_ERR_DATA, "e3.jsonl:1:1: not a JSON object");
    expect_error(tmp_text("e4.jsonl", "{\"text\": \"a\"} x\n"), NULL, RECUR_ERR_DATA, "e4.jsonl:1:15: text after the JSON object");
    expect_error(tmp_text("e5.jsonl", "{\"text\": \"a\\u0000b\"}\n"), NULL, RECUR_ERR_DATA, "e5.jsonl:1:12: \\u0000 (NUL) in a string");
    expect_error(tmp_text("e6.jsonl", "{\"text\": 3}\n"), NULL, RECUR_ERR_DATA, "e6.jsonl:1:2: \"text\" is not a string");
    expect_error(tmp_text("e7.jsonl", "{\"tokens\": [\"a\", 1]}\n"), NULL, RECUR_ERR_DATA, "e7.jsonl:1:2: tokens[1] is not a non-empty string");
    expect_error(tmp_text("e8.jsonl", "{\"text\": \"\"}\n"), NULL, RECUR_ERR_DATA, "e8.jsonl:1:2: empty text");
    expect_error(tmp_text("e9.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n"), NULL, RECUR_ERR_DATA,
                 "e9.jsonl:2: this sequence has no label and others have");
    expect_error(tmp_text("e10.jsonl", "{\"text\": \"a\", \"tokens\": []}\n"), NULL, RECUR_ERR_DATA,
                 "e10.jsonl:1:1: an object needs \"text\" or \"tokens\"");
    expect_error(tmp_text("e11.jsonl", "{\"text\": \"a\", \"tags\": [\"x\"]}\n{\"text\": \"b\"}\n"), NULL, RECUR_ERR_DATA,
                 "e11.jsonl:2:1: no \"tags\", where earlier lines have them");
}

/* ------------------------------------------------------------------------ */

static void csv_loads(void)
{
    const char *p = tmp_text("a.csv",
                             "\xef\xbb\xbfseries,t,x,\"y, next\",kind\r\n"
                             "s1,0,1.5,2,up\r\n"
                             "s1,1,\"2.5\",3,up\r\n"
                             "s2,0,-1e-3,0,down\n"
                             "\n"
                             "s3,0, 4 ,1,up\n");
    recur_seqset_options o;
    recur_seqset_options_default(&o);
    o.id_column = "series";
    o.feature_columns = "x, t";
    o.target_columns = "y, next";
    recur_seqset *s = NULL;
    recur_error err;
    /* "y, next" splits at its comma: no column "y". */
    CHECK(recur_seqset_load(p, &o, &s, &err) == RECUR_ERR_ARG && strstr(err.message, "no column named 'y'"));
    o.target_columns = NULL;
    o.label_column = "kind";
    o.feature_columns = "x,t";
    s = load_ok(p, &o);
    if (!s) return;
    const recur_batch *b = recur_seqset_batch(s);
    CHECK(b->n == 3 && recur_seqset_steps(s) == 4 && b->offsets[1] == 2 && b->offsets[2] == 3);
    CHECK(recur_seqset_input_size(s) == 2 && strcmp(recur_seqset_feature_name(s, 0), "x") == 0);
    CHECK(b->features[0] == 1.5f && b->features[1] == 0.0f && b->features[2] == 2.5f && b->features[3] == 1.0f);
    CHECK(b->features[6] == 4.0f);
    CHECK(recur_seqset_num_labels(s) == 2 && b->labels[0] == 1 && b->labels[1] == 0 && b->labels[2] == 1);
    CHECK(strcmp(recur_seqset_name(s, 1), "s2") == 0 && recur_seqset_line(s, 2) == 5);
    CHECK(b->targets == NULL && recur_seqset_outputs(s) == 0);
    recur_seqset_free(s);
    /* Default features (all other columns), targets per step, tags. */
    p = tmp_text("b.csv", "id,a,y,tag\n1,1,10,N\n1,2,20,V\n2,3,30,N\n");
    recur_seqset_options_default(&o);
    o.id_column = "id";
    o.target_columns = "y";
    o.tag_column_name = "tag";
    s = load_ok(p, &o);
    if (!s) return;
    b = recur_seqset_batch(s);
    CHECK(recur_seqset_input_size(s) == 1 && recur_seqset_outputs(s) == 1 && recur_seqset_targets_per_step(s));
    CHECK(b->targets[1] == 20.0f && b->step_labels[1] == 1 && recur_seqset_num_tags(s) == 2);
    CHECK(strcmp(recur_seqset_target_name(s, 0), "y") == 0);
    recur_seqset_free(s);
    /* Targets per sequence; no id: the file is one sequence. */
    p = tmp_text("c.csv", "a,y\n1,5\n2,5\n");
    recur_seqset_options_default(&o);
    o.target_columns = "y";
    o.targets_per_sequence = 1;
    s = load_ok(p, &o);
    if (!s) return;
    b = recur_seqset_batch(s);
    CHECK(b->n == 1 && b->offsets[1] == 2 && b->targets[0] == 5.0f && !recur_seqset_targets_per_step(s));
    recur_seqset_free(s);
    /* .tsv with CSV columns: tab-separated CSV. */
    p = tmp_text("d.tsv", "id\ta b\n1\t 2\n");
    o.target_columns = NULL;
    o.targets_per_sequence = 0;
    o.id_column = "id";
    s = load_ok(p, &o);
    CHECK(s && recur_seqset_input_size(s) == 1 && strcmp(recur_seqset_feature_name(s, 0), "a b") == 0);
    CHECK(s && recur_seqset_batch(s)->features[0] == 2.0f);
    recur_seqset_free(s);
}

static void csv_errors(void)
{
    recur_seqset_options o;
    recur_seqset_options_default(&o);
    o.id_column = "id";
    expect_error(tmp_text("e1.csv", "id,x\na,1\na,abc\n"), &o, RECUR_ERR_DATA, "e1.csv: row 3, column 2 (x): 'abc' is not a number");
    expect_error(tmp_text("e2.csv", "id,x\na,1\nb,2\na,3\n"), &o, RECUR_ERR_DATA,
                 "e2.csv: row 4, column 1 (id): the sequence 'a' appears again after others");
    expect_error(tmp_text("e3.csv", "id,x\na,1,2\n"), &o, RECUR_ERR_DATA, "e3.csv: row 2: 3 fields where the header has 2");
    expect_error(tmp_text("e4.csv", "id,x\na,nan\n"), &o, RECUR_ERR_DATA, "e4.csv: row 2, column 2 (x): 'nan' is not a finite number");
    expect_error(tmp_text("e5.csv", "id,x\na,\n"), &o, RECUR_ERR_DATA, "e5.csv: row 2, column 2 (x): empty value");
    expect_error(tmp_text("e6.csv", "id,x\na,\"1\n"), &o, RECUR_ERR_DATA, "e6.csv: row 2: malformed CSV");
    expect_error(tmp_text("e7.csv", "id,x,x\n"), &o, RECUR_ERR_DATA, "e7.csv: row 1, column 3: the column name 'x' repeats");
    expect_error(tmp_text("e8.csv", ""), &o, RECUR_ERR_DATA, "e8.csv: empty file");
    expect_error(tmp_text("e9.csv", "id,x\n"), &o, RECUR_ERR_DATA, "e9.csv: no sequences");
    expect_error(tmp_text("e10.csv", "id,x\na,1e39\n"), &o, RECUR_ERR_DATA, "not a finite number within float's range");
    expect_error(tmp_text("e11.csv", "id,x\na,\xff\n"), &o, RECUR_ERR_DATA, "e11.csv: row 2, column 2 (x): invalid UTF-8");
    expect_error(tmp_text("e12.csv", "id,x\n,1\n"), &o, RECUR_ERR_DATA, "e12.csv: row 2, column 1 (id): empty sequence id");
    expect_error(tmp_text("e13.csv", "id\na\n"), &o, RECUR_ERR_DATA, "e13.csv: row 1: no feature column");
    o.target_columns = "y";
    o.targets_per_sequence = 1;
    expect_error(tmp_text("e14.csv", "id,x,y\na,1,2\na,1,3\n"), &o, RECUR_ERR_DATA,
                 "e14.csv: row 3: the target 'y' is 3, not 2 as on row 2");
    o.target_columns = NULL;
    o.label_column = "id";
    expect_error(tmp_text("e15.csv", "id,x\na,1\n"), &o, RECUR_ERR_ARG, "the column 'id' is chosen twice");
}

/* ------------------------------------------------------------------------ */
/* NumPy                                                                     */
/* ------------------------------------------------------------------------ */

/* A .npy image: header for descr/shape, padded to 64 bytes, then data. */
static size_t npy_image(unsigned char *out, size_t cap, const char *descr, const char *shape,
                        const void *data, size_t len)
{
    char h[256];
    int k = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    size_t total = 10 + (size_t)k + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hl = (size_t)k + pad + 1;
    if (10 + hl + len > cap) return 0;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)(hl & 0xff);
    out[9] = (unsigned char)(hl >> 8);
    memcpy(out + 10, h, (size_t)k);
    memset(out + 10 + k, ' ', pad);
    out[10 + hl - 1] = '\n';
    memcpy(out + 10 + hl, data, len);
    return 10 + hl + len;
}

static void npy_padded(void)
{
    float x[2][3][2];
    for (int i = 0; i < 12; i++) ((float *)x)[i] = (float)i;
    unsigned char img[512];
    size_t n = npy_image(img, sizeof img, "<f4", "(2, 3, 2)", x, sizeof x);
    recur_seqset *s = load_ok(tmp_file("a.npy", img, n), NULL);
    if (!s) return;
    const recur_batch *b = recur_seqset_batch(s);
    CHECK(b->n == 2 && b->offsets[1] == 3 && b->offsets[2] == 6 && recur_seqset_input_size(s) == 2);
    CHECK(b->features[7] == 7.0f && b->features[11] == 11.0f);
    CHECK(strcmp(recur_seqset_feature_name(s, 1), "1") == 0 && strcmp(recur_seqset_name(s, 0), "") == 0);
    CHECK(recur_seqset_mapped_bytes(s) == sizeof x); /* used in place */
    recur_seqset_free(s);
    /* float64, big-endian: converted. One sequence [T]. */
    unsigned char be[3 * 8] = {0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0x08, 0, 0, 0, 0, 0, 0};
    n = npy_image(img, sizeof img, ">f8", "(3,)", be, sizeof be);
    s = load_ok(tmp_file("b.npy", img, n), NULL);
    if (!s) return;
    b = recur_seqset_batch(s);
    CHECK(b->n == 1 && b->offsets[1] == 3 && b->features[0] == 1.0f && b->features[1] == 2.0f && b->features[2] == -3.0f);
    CHECK(recur_seqset_mapped_bytes(s) == 0); /* converted */
    recur_seqset_free(s);
}

static void npy_errors(void)
{
    float x[4] = {0, 1, 2, 3};
    unsigned char img[512];
    size_t n = npy_image(img, sizeof img, "<f4", "(2, 3)", x, sizeof x);
    expect_error(tmp_file("e1.npy", img, n), NULL, RECUR_ERR_DATA, "e1.npy: byte 128: the shape needs 24 bytes of data, 16 are there");
    n = npy_image(img, sizeof img, "<U4", "(1,)", x, 16);
    expect_error(tmp_file("e2.npy", img, n), NULL, RECUR_ERR_UNSUPPORTED, "dtype '<U4' is not supported");
    x[2] = 1.0f / 0.0f;
    n = npy_image(img, sizeof img, "<f4", "(4,)", x, sizeof x);
    expect_error(tmp_file("e3.npy", img, n), NULL, RECUR_ERR_DATA, "e3.npy: features: value 2 (byte offset 136) is inf");
    memcpy(img, "\x93NUMPX", 6);
    expect_error(tmp_file("e4.npy", img, n), NULL, RECUR_ERR_DATA, "neither a .npy array");
    n = npy_image(img, sizeof img, "<f4", "(4,", x, sizeof x);
    expect_error(tmp_file("e5.npy", img, n), NULL, RECUR_ERR_DATA, "bad .npy header");
    n = npy_image(img, sizeof img, "<f4", "(0, 3, 1)", x, 0);
    expect_error(tmp_file("e6.npy", img, n), NULL, RECUR_ERR_DATA, "no sequences");
    n = npy_image(img, sizeof img, "<f4", "(99999999999, 99999999999, 99999999999)", x, 0);
    expect_error(tmp_file("e7.npy", img, n), NULL, RECUR_ERR_DATA, "the shape overflows");
}

/* An .npz written by libzip: members name=image, stored or deflated. */
static const char *npz(const char *name, int n, const char *const *names, unsigned char *const *imgs,
                       const size_t *lens, int deflate)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    remove(path);
    int ze;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    if (!z) {
        test_failures++;
        return path;
    }
    for (int i = 0; i < n; i++) {
        zip_source_t *src = zip_source_buffer(z, imgs[i], lens[i], 0);
        zip_int64_t idx = zip_file_add(z, names[i], src, ZIP_FL_OVERWRITE);
        if (idx < 0) test_failures++;
        else zip_set_file_compression(z, (zip_uint64_t)idx, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
    }
    if (zip_close(z) != 0) test_failures++;
    return path;
}

static void npz_layouts(void)
{
    static unsigned char a[4][512];
    unsigned char *imgs[4] = {a[0], a[1], a[2], a[3]};
    size_t lens[4];
    /* Concatenated features [5][1], lengths [2] = (2, 3), targets [2]. */
    float f[5] = {1, 2, 3, 4, 5}, t[2] = {10, 20};
    int64_t l[2] = {2, 3};
    int32_t lab[2] = {1, 0};
    lens[0] = npy_image(a[0], 512, "<f4", "(5, 1)", f, sizeof f);
    lens[1] = npy_image(a[1], 512, "<i8", "(2,)", l, sizeof l);
    lens[2] = npy_image(a[2], 512, "<f4", "(2,)", t, sizeof t);
    lens[3] = npy_image(a[3], 512, "<i4", "(2,)", lab, sizeof lab);
    const char *names[4] = {"features.npy", "lengths.npy", "targets.npy", "labels.npy"};
    for (int deflate = 0; deflate <= 1; deflate++) {
        recur_seqset *s = load_ok(npz("a.npz", 4, names, imgs, lens, deflate), NULL);
        if (!s) return;
        const recur_batch *b = recur_seqset_batch(s);
        CHECK(b->n == 2 && b->offsets[1] == 2 && b->offsets[2] == 5 && b->features[4] == 5.0f);
        CHECK(b->targets[1] == 20.0f && !recur_seqset_targets_per_step(s) && recur_seqset_outputs(s) == 1);
        CHECK(recur_seqset_num_labels(s) == 2 && b->labels[0] == 1 && strcmp(recur_seqset_label_name(s, 1), "1") == 0);
        recur_seqset_free(s);
    }
    /* Padded [2][3][1] with lengths (3, 1) and per-step tags [2][3]. */
    int32_t tags[6] = {0, 1, 2, 1, 9, 9};
    l[0] = 3;
    l[1] = 1;
    lens[0] = npy_image(a[0], 512, "<f4", "(2, 3, 1)", (float[6]){1, 2, 3, 4, -1, -1}, 24);
    lens[1] = npy_image(a[1], 512, "<i8", "(2,)", l, sizeof l);
    lens[2] = npy_image(a[2], 512, "<i4", "(2, 3)", tags, sizeof tags);
    const char *pnames[3] = {"features.npy", "lengths.npy", "tags.npy"};
    recur_seqset *s = load_ok(npz("b.npz", 3, pnames, imgs, lens, 0), NULL);
    if (s) {
        const recur_batch *b = recur_seqset_batch(s);
        CHECK(b->n == 2 && b->offsets[2] == 4 && b->features[3] == 4.0f);
        CHECK(recur_seqset_num_tags(s) == 3 && b->step_labels[2] == 2 && b->step_labels[3] == 1);
        recur_seqset_free(s);
    }
    /* One member a sequence, named after it. */
    lens[0] = npy_image(a[0], 512, "<f8", "(2, 2)", (double[4]){1, 2, 3, 4}, 32);
    lens[1] = npy_image(a[1], 512, "<f4", "(1, 2)", (float[2]){5, 6}, 8);
    const char *mnames[2] = {"walk_a.npy", "walk_b.npy"};
    s = load_ok(npz("c.npz", 2, mnames, imgs, lens, 1), NULL);
    if (s) {
        const recur_batch *b = recur_seqset_batch(s);
        CHECK(b->n == 2 && b->offsets[2] == 3 && b->features[5] == 6.0f && recur_seqset_input_size(s) == 2);
        CHECK(strcmp(recur_seqset_name(s, 1), "walk_b") == 0);
        recur_seqset_free(s);
    }
    /* Errors: lengths past T; members of different widths; offsets. */
    l[0] = 4;
    lens[0] = npy_image(a[0], 512, "<f4", "(2, 3, 1)", (float[6]){0}, 24);
    lens[1] = npy_image(a[1], 512, "<i8", "(2,)", l, sizeof l);
    expect_error(npz("e1.npz", 2, pnames, imgs, lens, 0), NULL, RECUR_ERR_DATA,
                 "e1.npz: member 'lengths.npy': lengths[0] (byte offset");
    lens[0] = npy_image(a[0], 512, "<f4", "(1, 3)", (float[3]){0}, 12);
    lens[1] = npy_image(a[1], 512, "<f4", "(1, 2)", (float[2]){0}, 8);
    expect_error(npz("e2.npz", 2, mnames, imgs, lens, 0), NULL, RECUR_ERR_DATA,
                 "member 'walk_b.npy': 2 features per step where earlier members have 3");
    const char *onames[2] = {"features.npy", "offsets.npy"};
    lens[0] = npy_image(a[0], 512, "<f4", "(3, 1)", (float[3]){0}, 12);
    lens[1] = npy_image(a[1], 512, "<i4", "(3,)", (int32_t[3]){0, 2, 2}, 12);
    expect_error(npz("e3.npz", 2, onames, imgs, lens, 0), NULL, RECUR_ERR_DATA, "offsets[2] (byte offset");
    unsigned char junk[64] = "PK\3\4 not really a zip";
    expect_error(tmp_file("e4.npz", junk, sizeof junk), NULL, RECUR_ERR_DATA, "e4.npz: not a zip archive");
    /* Two members named targets.npy (fuzz_dense's find, kept in its corpus
     * with the harness's mode byte first): the second was read as a
     * sequence, one more than counted, past the end of an array. */
    static unsigned char dup[4096];
    FILE *fp = fopen("fuzz/corpus/dense/npz-two-targets", "rb");
    size_t n = fp ? fread(dup, 1, sizeof dup, fp) : 0;
    if (fp) fclose(fp);
    CHECK(n > 1);
    if (n > 1)
        expect_error(tmp_file("e5.npz", dup + 1, n - 1), NULL, RECUR_ERR_DATA, "e5.npz: two members named targets.npy");
}

const test_case tests_seqset[] = {
    {"conll_token_level", conll_token_level},
    {"conll_ud_and_char_level", conll_ud_and_char_level},
    {"conll_errors", conll_errors},
    {"jsonl_loads", jsonl_loads},
    {"jsonl_errors", jsonl_errors},
    {"csv_loads", csv_loads},
    {"csv_errors", csv_errors},
    {"npy_padded", npy_padded},
    {"npy_errors", npy_errors},
    {"npz_layouts", npz_layouts},
    {NULL, NULL},
};
