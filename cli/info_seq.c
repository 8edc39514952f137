/* recur info, the parts of models of sequence data: where the head reads,
 * the loss, a token-level vocabulary, how the data were read and the test
 * scores (seq.h). */
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "seq.h"

int info_vocab_seq(FILE *f, const recur_model *m)
{
    const char *toks = recur_model_get_meta(m, "tokens");
    if (!toks) return 0;
    cJSON *a = cJSON_Parse(toks);
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (n < 0) fprintf(f, "%-12s(damaged user.tokens)\n", "vocabulary");
    else fprintf(f, "%-12s%d whole tokens, most frequent first (and 2 reserved ids: unknown, boundary)\n", "vocabulary", n);
    int col = 12, k = 0;
    fprintf(f, "%-12s", "");
    for (cJSON *it = a ? a->child : NULL; it && n >= 0; it = it->next, k++) {
        const char *s = cJSON_IsString(it) ? it->valuestring : "?";
        int w = (int)strlen(s) + 1;
        if (k == 40) {
            fprintf(f, "... (%d more)", n - k);
            break;
        }
        if (col + w > 78 && col > 12) fprintf(f, "\n%-12s", ""), col = 12;
        fprintf(f, "%s ", s);
        col += w;
    }
    fputc('\n', f);
    cJSON_Delete(a);
    return 1;
}

void info_seq(FILE *f, const recur_model *m)
{
    const recur_model_config *c = recur_model_get_config(m);
    static const char *const loss[] = {"auto", "nll (cross-entropy)", "mse", "huber"};
    fprintf(f, "%-12s%s\n", "head", c->head == RECUR_HEAD_STEPS ? "every step's output" : "the final state");
    if (c->loss >= 0 && c->loss <= RECUR_LOSS_HUBER) {
        fprintf(f, "%-12s%s", "loss", loss[c->loss]);
        if (c->loss == RECUR_LOSS_HUBER) fprintf(f, ", delta %g", (double)c->huber_delta);
        fputc('\n', f);
    }
    static const char *const keys[] = {"data.kind", "data.path", "data.tokens", "data.min_count", "data.token_col",
                                       "data.tag_col", "data.id_col", "data.feature_cols", "data.target_cols",
                                       "data.label_col", "data.step_tags", "data.per_sequence", NULL};
    int any = 0;
    for (int k = 0; keys[k]; k++) {
        const char *v = recur_model_get_meta(m, keys[k]);
        if (!v || !*v) continue;
        fprintf(f, "%-12s%-17s %s\n", any ? "" : "data read", keys[k] + 5, v);
        any = 1;
    }
    static const char *const scores[] = {"test_sequences", "step_accuracy", "exact_match", "test_mse", "test_mae",
                                         "test_r2", NULL};
    any = 0;
    for (int k = 0; scores[k]; k++) {
        const char *v = recur_model_get_meta(m, scores[k]);
        if (!v) continue;
        fprintf(f, "%-12s%-17s %s\n", any ? "" : "test", scores[k], v);
        any = 1;
    }
}
