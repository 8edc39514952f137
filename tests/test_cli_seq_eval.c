/*
 * recur eval / predict / info on models of sequence data (part of the
 * cli_seq suite, tests/cli_seq.h).
 */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_seq.h"

/* eval --held-out reads the data as recorded and scores exactly the
 * sequences training tested on; eval on the whole file sees all of them;
 * predict prints a line per sequence or per step; info tells the task. */
void test_eval_predict_info(void)
{
    NEED_BIN();
    const char *d = seq_dir("eval");
    seq_write_tagged(d);
    char m[700];
    result r = run_in(d, NULL, "train words.conll -o tag.safetensors --epochs 4 --lr 0.01 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    snprintf(m, sizeof m, "%s/tag.safetensors", d);
    r = run_in(d, NULL, "eval tag.safetensors words.conll --held-out --json", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(seq_json_number(r.out, "sequences") == seq_meta_number(m, "test_sequences"));
    CHECK(fabs(seq_json_number(r.out, "step_accuracy") - seq_meta_number(m, "step_accuracy")) < 1e-6);
    CHECK(fabs(seq_json_number(r.out, "exact_match") - seq_meta_number(m, "exact_match")) < 1e-6);
    CHECK(strstr(r.out, "\"per_tag\":[{\"tag\":\"C\"") != NULL);
    result_free(&r);
    r = run_in(d, NULL, "eval tag.safetensors words.conll", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "300 sequences") && strstr(r.out, "step accuracy") && strstr(r.out, "exact match"));
    CHECK(strstr(r.out, "precision") && strstr(r.out, "confusion matrix"));
    result_free(&r);
    /* The same words as JSON Lines: the model's vocabulary and tags by name. */
    r = run_in(d, NULL, "eval tag.safetensors words.jsonl --json", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(seq_json_number(r.out, "sequences") == 300 && seq_json_number(r.out, "step_accuracy") >= 0.9);
    result_free(&r);
    put(d, "few.conll", "a\nb\nc\n\no\nk\n", 11);
    r = run_in(d, NULL, "predict tag.safetensors few.conll", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_MSG(strcmp(r.out, "#1\tV C C\n#2\tV C\n") == 0, "predict: %s", r.out);
    result_free(&r);
    r = run_in(d, NULL, "predict tag.safetensors few.conll --steps", NULL);
    CHECK_MSG(r.code == 0 && strncmp(r.out, "#1\t0\ta\tV\n#1\t1\tb\tC\n", 18) == 0, "predict --steps: %s", r.out);
    result_free(&r);
    r = run_in(d, NULL, "predict tag.safetensors few.conll --steps --json", NULL);
    CHECK_MSG(r.code == 0 && strstr(r.out, "{\"sequence\":\"#2\",\"step\":1,\"symbol\":\"k\",\"tag\":\"C\""),
              "%s", r.out);
    result_free(&r);
    r = run_in(d, NULL, "info tag.safetensors", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "task        tag") && strstr(r.out, "every step's output") && strstr(r.out, "path"));
    result_free(&r);

    /* A regressor: eval --held-out gives the MSE training recorded. */
    char p[700];
    snprintf(p, sizeof p, "%s/series.csv", d);
    seq_write_series(p, 1, 120);
    r = run_in(d, NULL, "train series.csv -o r.safetensors --id-col id --target-cols y --per-sequence --epochs 2 " FAST,
               NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    snprintf(m, sizeof m, "%s/r.safetensors", d);
    r = run_in(d, NULL, "eval r.safetensors series.csv --held-out --json", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(fabs(seq_json_number(r.out, "mse") - seq_meta_number(m, "test_mse")) < 1e-6 * (1 + seq_meta_number(m, "test_mse")));
    CHECK(seq_json_number(r.out, "sequences") == 18 && strstr(r.out, "\"per_target\":[{\"target\":\"y\""));
    result_free(&r);
    /* predict on rows without the target column: one value per sequence. */
    put(d, "new.csv", "id,x,noise\na,0.5,0.1\na,0.2,0.3\nb,-1,0\n", 38);
    r = run_in(d, NULL, "predict r.safetensors new.csv", NULL);
    CHECK_MSG(r.code == 0 && strncmp(r.out, "a\t", 2) == 0 && strstr(r.out, "\nb\t"), "exit %d: %s %s", r.code,
              r.out, r.err);
    result_free(&r);
    r = run_in(d, NULL, "predict r.safetensors new.csv --steps", NULL);
    CHECK_FAILS(r, 2, "reads the final state");
    result_free(&r);
    r = run_in(d, NULL, "predict r.safetensors", NULL);
    CHECK_FAILS(r, 2, "give one FILE");
    result_free(&r);
    r = run_in(d, NULL, "eval r.safetensors words.conll", NULL);
    CHECK_FAILS(r, 1, "words.conll");
    result_free(&r);
    r = run_in(d, NULL, "eval tag.safetensors series.csv", NULL);
    CHECK(r.code == 1 && r.err_lines == 1 && r.out[0] == 0);
    result_free(&r);
}
