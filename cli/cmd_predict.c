/*
 * recur predict MODEL NAME...: the most likely labels of each name, in the
 * PyTorch tutorial's format, or one JSON object per line. Without NAME the
 * names come from stdin, one per line: they are read in blocks, classified
 * 256 at a time by one runner per thread, and written in input order
 * through a large output buffer. Blank lines are skipped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "seq.h"
#include "speech.h"

#ifndef PRED_CHUNK
#define PRED_CHUNK 256
#endif
enum { CHUNK = PRED_CHUNK, BLOCK = 32 * CHUNK };

typedef struct pred_opts {
    int top, json, threads, steps;
    double tau;
    int min_run;
} pred_opts;

/* One block of names and what became of them. */
typedef struct block {
    int n;
    const char **texts;
    size_t *lens;
    size_t *lines;  /* line numbers (stdin) or argument positions */
    int *best;      /* [n][top] label ids */
    float *bestlp;  /* [n][top] their log-probabilities */
} block;

typedef struct worker {
    pthread_t th;
    recur_runner *rn;
    float *lp;          /* [CHUNK][C] */
    const float *shift; /* prior correction [C], or NULL */
    const block *b;
    int *best;
    float *bestlp;
    int index, count, C, top;
    recur_status st;
    recur_error err;
    int bad_item; /* index in the block of a text that failed, or -1 */
} worker;

static void top_n(const float *lp, int C, int top, int *best, float *bestlp)
{
    for (int k = 0; k < top; k++) {
        int b = -1;
        for (int c = 0; c < C; c++) {
            int used = 0;
            for (int j = 0; j < k; j++) used |= best[j] == c;
            if (!used && (b < 0 || lp[c] > lp[b])) b = c;
        }
        best[k] = b;
        bestlp[k] = lp[b];
    }
}

/* Chunks index, index + count, index + 2 count, ... of the block. */
static void *work(void *arg)
{
    worker *w = arg;
    const block *b = w->b;
    w->st = RECUR_OK;
    w->bad_item = -1;
    for (int s = w->index * CHUNK; s < b->n; s += w->count * CHUNK) {
        int k = b->n - s < CHUNK ? b->n - s : CHUNK;
        recur_status st = recur_runner_classify(w->rn, b->texts + s, b->lens + s, k, w->lp, &w->err);
        if (st) {
            /* Find the text at fault, for its line number. */
            for (int j = 0; j < k; j++)
                if (recur_runner_classify(w->rn, b->texts + s + j, b->lens + s + j, 1, w->lp, &w->err)) {
                    w->bad_item = s + j;
                    break;
                }
            w->st = st;
            return NULL;
        }
        cli_prior_apply(w->shift, w->lp, k, w->C);
        for (int j = 0; j < k; j++)
            top_n(w->lp + (size_t)j * w->C, w->C, w->top, w->best + (size_t)(s + j) * w->top,
                  w->bestlp + (size_t)(s + j) * w->top);
    }
    return NULL;
}

static int classify_block(worker *ws, int nw, block *b)
{
    for (int i = 0; i < nw; i++) {
        ws[i].b = b;
        ws[i].best = b->best;
        ws[i].bestlp = b->bestlp;
    }
    /* Thread 0 is this one; a thread that cannot start has its chunks
     * done here as well. */
    char started[256] = {0};
    for (int i = 1; i < nw; i++)
        started[i] = b->n > CHUNK * i && pthread_create(&ws[i].th, NULL, work, &ws[i]) == 0;
    work(&ws[0]);
    for (int i = 1; i < nw; i++) {
        if (started[i]) pthread_join(ws[i].th, NULL);
        else work(&ws[i]);
    }
    for (int i = 0; i < nw; i++)
        if (ws[i].st) return i + 1;
    return 0;
}

static void print_block(FILE *f, const block *b, const recur_model *m, const pred_opts *o)
{
    for (int i = 0; i < b->n; i++) {
        const int *best = b->best + (size_t)i * o->top;
        const float *lp = b->bestlp + (size_t)i * o->top;
        if (o->json) {
            fputs("{\"name\":", f);
            fwrite("\"", 1, 1, f);
            /* The name may hold anything but a newline: escape it. */
            for (size_t k = 0; k < b->lens[i]; k++) {
                unsigned char ch = (unsigned char)b->texts[i][k];
                if (ch == '"' || ch == '\\') fputc('\\', f), fputc(ch, f);
                else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
                else fputc(ch, f);
            }
            fputs("\",\"predictions\":[", f);
            for (int k = 0; k < o->top; k++) {
                fprintf(f, "%s{\"label\":", k ? "," : "");
                cli_json_string(f, recur_model_label_name(m, best[k]));
                fprintf(f, ",\"logprob\":%.4f}", (double)lp[k]);
            }
            fputs("]}\n", f);
        } else {
            fputs("> ", f);
            fwrite(b->texts[i], 1, b->lens[i], f);
            fputc('\n', f);
            for (int k = 0; k < o->top; k++)
                fprintf(f, "(%.2f) %s\n", (double)lp[k], recur_model_label_name(m, best[k]));
        }
    }
}

static const char summary[] =
    "Print the --top most likely labels of each NAME with their log-probabilities, in\n"
    "the PyTorch tutorial's format:\n"
    "  > Dovesky\n  (-0.47) Russian\n  (-1.34) Czech\n  (-3.22) English\n"
    "Without NAME, reads names from stdin, one per line (blank lines are skipped).\n\n"
    "A model trained on sequence data reads a FILE of them instead (.csv .npy .npz\n"
    ".conll .jsonl, read as its training data were; the target columns may be absent):\n"
    "one line per sequence, its name, a TAB and its label, the tag of each step or its\n"
    "values; --steps: one line per step.";

enum { PRED_SPECS = 7 };

/* The flag table, options at their defaults: cmd_predict and cmd_predict_table. */
static void pred_table(arg_command *cmd, arg_spec *s, pred_opts *o)
{
    *o = (pred_opts){3, 0, cli_default_threads(), 0, 0, SPEECH_MIN_RUN};
    arg_spec specs[] = {
        {"--top", "-n", ARG_INT, &o->top, 1, 100000, 0, 0, NULL, "N", "labels per name (at most the model's labels)", 0},
        {"--json", NULL, ARG_FLAG, &o->json, 0, 0, 0, 0, NULL, NULL, "one JSON object per name and line", 0},
        {"--threads", NULL, ARG_INT, &o->threads, 1, 256, 0, 0, NULL, "N", "threads classifying names from stdin", 0},
        {"--prior-correction", NULL, ARG_FLOAT, &o->tau, 0, 10, 0, 0, NULL, "TAU", "subtract TAU x log(training share of each label) from the log-probabilities: more recall for small labels, less accuracy", 0},
        {"--steps", NULL, ARG_FLAG, &o->steps, 0, 0, 0, 0, NULL, NULL, "models of sequence data with a head on every step: one line per step", 0},
        {"--min-run", NULL, ARG_INT, &o->min_run, 1, 100, 0, 0, NULL, "N", "speech taggers: a run of one frame label shorter than N frames joins a neighbour before the string is read (1: off)", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == PRED_SPECS * sizeof specs[0], "PRED_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"predict", "recur predict MODEL [NAME... | FILE] [--top N] [--json] [--steps]", summary, s, 1, -1};
}

CLI_DEFINE_TABLE(cmd_predict_table, pred_table, pred_opts, PRED_SPECS)

int cmd_predict(int argc, char **argv)
{
    pred_opts o;
    arg_spec specs[PRED_SPECS];
    arg_command cmd;
    pred_table(&cmd, specs, &o);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) return rc;
    recur_error err;
    recur_model *m = NULL;
    rc = EXIT_RUNTIME;
    worker *ws = NULL;
    float *shift = NULL;
    block b = {0};
    char *buf = NULL;
    size_t buf_cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    if (recur_model_load(pos[0], &m, &err)) {
        cli_lib_error(NULL, &err);
        goto done;
    }
    /* A model trained on audio hears files (predict_audio.c). */
    recur_features_config speech;
    if (recur_model_get_features(m, &speech, &err) != RECUR_ERR_UNSUPPORTED) {
        rc = predict_audio(m, pos[0], pos + 1, npos - 1, specs[0].seen ? o.top : 1, o.json, o.min_run);
        goto done;
    }
    const recur_model_config *mc = recur_model_get_config(m);
    /* Models of sequence data read a FILE (predict_seq.c); a text
     * classifier trained on a file still classifies NAMEs. */
    if (seq_is_model(m) && (mc->task != RECUR_TASK_CLASSIFY || mc->input == RECUR_INPUT_DENSE ||
                            recur_model_get_meta(m, "tokens") || (npos == 2 && seq_data_kind(pos[1]) == SEQ_FILE))) {
        if (npos != 2) {
            cli_error("%s reads sequence data: give one FILE (.csv .npy .npz .conll .jsonl)", pos[0]);
            rc = EXIT_USAGE;
        } else {
            rc = predict_seq(m, pos[0], pos[1], o.steps, o.json);
        }
        goto done;
    }
    if (o.steps) {
        cli_error("--steps is for models of sequence data with a head on every step");
        rc = EXIT_USAGE;
        goto done;
    }
    if (recur_model_get_config(m)->task != RECUR_TASK_CLASSIFY) {
        cli_error("%s is a text generation model; predict needs a classifier", pos[0]);
        goto done;
    }
    int C = recur_model_num_labels(m);
    if (o.top > C) o.top = C;
    if (cli_prior_shift(m, pos[0], o.tau, &shift)) goto done;
    int from_stdin = npos == 1;
    int nw = from_stdin ? o.threads : 1;
    /* Our threads each run a runner: the matrix products stay single-threaded. */
    recur_set_threads(nw > 1 ? 1 : o.threads);
    ws = calloc((size_t)nw, sizeof *ws);
    int cap = from_stdin ? BLOCK : npos - 1;
    b.texts = malloc((size_t)cap * sizeof *b.texts);
    b.lens = malloc((size_t)cap * sizeof *b.lens);
    b.lines = malloc((size_t)cap * sizeof *b.lines);
    b.best = malloc((size_t)cap * o.top * sizeof *b.best);
    b.bestlp = malloc((size_t)cap * o.top * sizeof *b.bestlp);
    if (!ws || !b.texts || !b.lens || !b.lines || !b.best || !b.bestlp) goto nomem;
    for (int i = 0; i < nw; i++) {
        ws[i].index = i;
        ws[i].count = nw;
        ws[i].C = C;
        ws[i].top = o.top;
        ws[i].shift = shift;
        ws[i].lp = malloc((size_t)CHUNK * C * sizeof *ws[i].lp);
        if (!ws[i].lp) goto nomem;
        if (recur_runner_create(m, CHUNK, &ws[i].rn, &err)) {
            cli_lib_error(NULL, &err);
            goto done;
        }
    }
    if (!from_stdin) {
        for (int i = 1; i < npos; i++) {
            const char *s = pos[i];
            size_t len = strlen(s);
            recur_text_trim(&s, &len); /* the loader's rule: Unicode white space */
            if (len == 0) {
                cli_error("name %d is empty", i);
                goto done;
            }
            /* The limit of data files and stdin holds here too. */
            if (len > RECUR_MAX_TEXT_BYTES) {
                cli_error("name %d: %zu bytes is longer than the limit of %d bytes", i, len, RECUR_MAX_TEXT_BYTES);
                goto done;
            }
            b.texts[b.n] = s;
            b.lens[b.n] = len;
            b.lines[b.n] = (size_t)i;
            b.n++;
        }
        int bad = classify_block(ws, nw, &b);
        if (bad) {
            worker *w = &ws[bad - 1];
            if (w->bad_item >= 0) cli_error("name %zu: %s", b.lines[w->bad_item], w->err.message);
            else cli_lib_error(NULL, &w->err);
            goto done;
        }
        print_block(stdout, &b, m, &o);
    } else {
        size_t lineno = 0;
        int eof = 0;
        while (!eof) {
            /* Read a block: lines are copied into buf, then pointed at. */
            size_t used = 0;
            size_t *starts = b.lens; /* offsets into buf until buf stops moving */
            b.n = 0;
            while (b.n < BLOCK) {
                errno = 0;
                ssize_t k = getline(&line, &line_cap, stdin);
                if (k < 0) {
                    if (ferror(stdin)) {
                        cli_error("cannot read stdin: %s", strerror(errno ? errno : EIO));
                        goto done;
                    }
                    eof = 1;
                    break;
                }
                lineno++;
                const char *s = line;
                size_t len = (size_t)k;
                recur_text_trim(&s, &len); /* the loader's rule: Unicode white space */
                if (len == 0) continue;
                if (len > RECUR_MAX_TEXT_BYTES) {
                    cli_error("stdin:%zu: line of %zu bytes is longer than the limit of %d bytes", lineno, len,
                              RECUR_MAX_TEXT_BYTES);
                    goto done;
                }
                if (memchr(s, '\0', len)) {
                    cli_error("stdin:%zu: NUL byte in the line", lineno);
                    goto done;
                }
                if (used + len + 1 > buf_cap) {
                    size_t nc = buf_cap ? buf_cap * 2 : 1 << 16;
                    while (nc < used + len + 1) nc *= 2;
                    char *nb = realloc(buf, nc);
                    if (!nb) goto nomem;
                    buf = nb;
                    buf_cap = nc;
                }
                memcpy(buf + used, s, len);
                buf[used + len] = '\0';
                starts[b.n] = used;
                b.lines[b.n] = lineno;
                used += len + 1;
                b.n++;
            }
            if (b.n == 0) continue;
            for (int i = 0; i < b.n; i++) {
                b.texts[i] = buf + starts[i];
                b.lens[i] = strlen(b.texts[i]);
            }
            int bad = classify_block(ws, nw, &b);
            if (bad) {
                worker *w = &ws[bad - 1];
                if (w->bad_item >= 0) cli_error("stdin:%zu: %s", b.lines[w->bad_item], w->err.message);
                else cli_lib_error(NULL, &w->err);
                goto done;
            }
            print_block(stdout, &b, m, &o);
        }
    }
    if (fflush(stdout) != 0) {
        cli_error("cannot write the predictions: %s", strerror(errno));
        goto done;
    }
    rc = EXIT_OK;
    goto done;
nomem:
    cli_error("out of memory");
done:
    if (ws)
        for (int i = 0; i < nw; i++) {
            recur_runner_free(ws[i].rn);
            free(ws[i].lp);
        }
    free(ws);
    free(shift);
    free(b.texts);
    free(b.lens);
    free(b.lines);
    free(b.best);
    free(b.bestlp);
    free(buf);
    free(line);
    recur_model_free(m);
    free(pos);
    fflush(stdout);
    return rc;
}
