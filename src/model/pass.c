#include "model/pass.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/pool.h"
#include "model/quant_model.h"
#include "nn/linear.h"

recur_status pass_init(pass *ps, const recur_model *m, int train, recur_error *err)
{
    memset(ps, 0, sizeof *ps);
    ps->train = train;
    ps->for_training = train;
    ps->tables_fixed = !train;
    ps->wgen = m->wgen;
    size_t GH = (size_t)m->st.G * m->st.H;
    for (int d = 0; d < m->st.D && !model_dense(m); d++) {
        ps->P_sym[d] = malloc((size_t)m->V * GH * sizeof(float));
        ps->P_lab[d] = m->lab_w ? malloc((size_t)m->num_labels * GH * sizeof(float)) : NULL;
        if (!ps->P_sym[d] || (m->lab_w && !ps->P_lab[d])) goto nomem;
        if (train) {
            ps->dP_sym[d] = malloc((size_t)m->V * GH * sizeof(float));
            ps->dP_lab[d] = m->lab_w ? malloc((size_t)m->num_labels * GH * sizeof(float)) : NULL;
            if (!ps->dP_sym[d] || (m->lab_w && !ps->dP_lab[d])) goto nomem;
        }
    }
    return RECUR_OK;
nomem:
    pass_free(ps);
    return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for the input tables");
}

void pass_free(pass *ps)
{
    pack_free(&ps->pk);
    stack_ws_free(ps->ws);
    free(ps->tok); free(ps->row_seq); free(ps->seq_label); free(ps->target); free(ps->lens);
    free(ps->dest); free(ps->ytgt);
    for (int d = 0; d < 2; d++) {
        free(ps->P_sym[d]); free(ps->P_lab[d]); free(ps->dP_sym[d]); free(ps->dP_lab[d]);
    }
    free(ps->hn); free(ps->dhn); free(ps->feat); free(ps->logp); free(ps->dfeat);
    free(ps->X0); free(ps->dX0);
    memset(ps, 0, sizeof *ps);
}

/* Grow the per-batch buffers to N rows and B sequences. */
static recur_status reserve(pass *ps, const recur_model *m, int N, int B, recur_error *err)
{
    if (N <= ps->cap_N && B <= ps->cap_B) return RECUR_OK;
    int n = N > ps->cap_N ? N + N / 2 : ps->cap_N, b = B > ps->cap_B ? B : ps->cap_B;
    size_t LDBH = (size_t)m->st.L * m->st.D * b * m->st.H, DH = (size_t)model_features(m);
    size_t rows = model_steps(m) ? (size_t)n : (size_t)b;
    void *p[12];
    p[0] = realloc(ps->tok, (size_t)n * sizeof(int));
    if (p[0]) ps->tok = p[0];
    p[1] = realloc(ps->row_seq, (size_t)n * sizeof(int));
    if (p[1]) ps->row_seq = p[1];
    p[2] = realloc(ps->target, (rows > (size_t)b ? rows : (size_t)b) * sizeof(int));
    if (p[2]) ps->target = p[2];
    p[3] = realloc(ps->lens, (size_t)b * sizeof(int32_t));
    if (p[3]) ps->lens = p[3];
    p[4] = realloc(ps->hn, LDBH * sizeof(float));
    if (p[4]) ps->hn = p[4];
    p[5] = realloc(ps->dhn, LDBH * sizeof(float));
    if (p[5]) ps->dhn = p[5];
    p[6] = realloc(ps->feat, (size_t)b * DH * sizeof(float));
    if (p[6]) ps->feat = p[6];
    p[7] = realloc(ps->logp, rows * m->C * sizeof(float));
    if (p[7]) ps->logp = p[7];
    p[8] = realloc(ps->dfeat, rows * DH * sizeof(float));
    if (p[8]) ps->dfeat = p[8];
    p[9] = realloc(ps->seq_label, (size_t)b * sizeof(int));
    if (p[9]) ps->seq_label = p[9];
    p[10] = realloc(ps->dest, rows * sizeof(int));
    if (p[10]) ps->dest = p[10];
    p[11] = model_real(m) ? realloc(ps->ytgt, rows * m->C * sizeof(float)) : ps->tok;
    if (p[11] && model_real(m)) ps->ytgt = p[11];
    for (int i = 0; i < 12; i++)
        if (!p[i]) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a batch of %d rows", N);
    ps->cap_N = n;
    ps->cap_B = b;
    if (ps->ws) return stack_ws_reserve(&m->st, ps->ws, n, b, err);
    RECUR_TRY(stack_ws_create(&m->st, n, b, ps->for_training, &ps->ws, err));
    if (ps->tables_fixed) stack_ws_fix_weights(ps->ws);
    return stack_ws_set_pool(ps->ws, ps->pool, err);
}

recur_status pass_check_batch(const recur_model *m, const recur_batch *b, int train, size_t *steps,
                              size_t *terms, recur_error *err)
{
    if (!b || b->n < 1 || !b->offsets) return recur_fail(err, RECUR_ERR_ARG, "empty batch");
    const int gen = model_gen(m), dense = model_dense(m), tag = m->cfg.task == RECUR_TASK_TAG;
    const int real = model_real(m), per_seq_class = m->cfg.task == RECUR_TASK_CLASSIFY;
    if (dense && !b->features) return recur_fail(err, RECUR_ERR_ARG, "batch has no features (dense-input model)");
    if (!dense && !b->tokens) return recur_fail(err, RECUR_ERR_ARG, "batch has no tokens");
    if (!b->labels && (gen || (train && per_seq_class)))
        return recur_fail(err, RECUR_ERR_ARG, "batch has no labels");
    if (train && tag && !b->step_labels) return recur_fail(err, RECUR_ERR_ARG, "batch has no step labels (tagging model)");
    if (train && real && !b->targets) return recur_fail(err, RECUR_ERR_ARG, "batch has no targets (regression model)");
    if (b->offsets[0] != 0) return recur_fail(err, RECUR_ERR_ARG, "batch offsets must start at 0");
    size_t N = 0;
    const int use_labels = gen || per_seq_class;
    for (int i = 0; i < b->n; i++) {
        int32_t len = b->offsets[i + 1] - b->offsets[i];
        if (len < 1) return recur_fail(err, RECUR_ERR_ARG, "sequence %d of the batch is empty", i);
        if (use_labels && b->labels && (b->labels[i] < 0 || b->labels[i] >= m->num_labels))
            return recur_fail(err, RECUR_ERR_ARG, "sequence %d has label %d (model has %d)", i,
                              (int)b->labels[i], m->num_labels);
        N += (size_t)len + (gen ? 1 : 0);
        if (N > (size_t)1 << 26) return recur_fail(err, RECUR_ERR_ARG, "batch of %zu steps is too large", N);
    }
    const int32_t S = b->offsets[b->n];
    if (!dense)
        for (int32_t k = 0; k < S; k++)
            if (b->tokens[k] < 0 || b->tokens[k] >= m->V)
                return recur_fail(err, RECUR_ERR_ARG, "token %d is outside the vocabulary of %d", (int)b->tokens[k], m->V);
    /* Non-finite numbers would only surface as a NaN loss: say where. */
    if (dense)
        for (size_t k = 0; k < (size_t)S * m->F; k++)
            if (!isfinite(b->features[k]))
                return recur_fail(err, RECUR_ERR_ARG, "step %zu of the batch: feature %zu is %g", k / m->F,
                                  k % m->F, (double)b->features[k]);
    size_t nt = 0;
    if (gen) nt = N;
    else if (per_seq_class) nt = b->labels ? (size_t)b->n : 0;
    else if (tag && b->step_labels) {
        for (int32_t k = 0; k < S; k++) {
            if (b->step_labels[k] >= m->num_labels)
                return recur_fail(err, RECUR_ERR_ARG, "step %d of the batch has label %d (model has %d)", (int)k,
                                  (int)b->step_labels[k], m->num_labels);
            nt += b->step_labels[k] >= 0;
        }
    } else if (real && b->targets) {
        size_t rows = model_steps(m) ? (size_t)S : (size_t)b->n;
        nt = rows * (size_t)m->C;
        for (size_t k = 0; k < nt; k++)
            if (!isfinite(b->targets[k]))
                return recur_fail(err, RECUR_ERR_ARG, "target %zu of row %zu of the batch is %g", k % m->C, k / m->C,
                                  (double)b->targets[k]);
    }
    if (steps) *steps = N;
    if (terms) *terms = nt;
    return RECUR_OK;
}

recur_status pass_prepare(pass *ps, const recur_model *m, const recur_batch *b, recur_error *err)
{
    size_t N;
    RECUR_TRY(pass_check_batch(m, b, ps->train, &N, &ps->terms, err));
    const int gen = model_gen(m), dense = model_dense(m), steps = model_steps(m), real = model_real(m);
    const int C = m->C, F = m->F;
    RECUR_TRY(reserve(ps, m, (int)N, b->n, err));
    stack_ws_set_stop(ps->ws, ps->stop);
    for (int i = 0; i < b->n; i++) ps->lens[i] = b->offsets[i + 1] - b->offsets[i] + (gen ? 1 : 0);
    RECUR_TRY(pack_build(&ps->pk, b->n, ps->lens, err));
    const pack *p = &ps->pk;
    ps->rows = steps ? p->N : p->B;
    /* Tables cost V rows per batch; with more symbols than steps, embed the
     * steps themselves (training only: a runner builds its tables once).
     * Dense input always goes through the product. */
    ps->dense_input = dense || (ps->train && m->embed && m->V > p->N);
    if (ps->dense_input) {
        size_t need = (size_t)p->N * m->st.I;
        if (need > ps->cap_X0) {
            float *a = realloc(ps->X0, need * sizeof(float));
            if (a) ps->X0 = a;
            float *b2 = a && !dense ? realloc(ps->dX0, need * sizeof(float)) : ps->dX0;
            if (b2) ps->dX0 = b2;
            if (!a || (!dense && !b2)) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a batch of %d steps", p->N);
            ps->cap_X0 = need;
        }
    }
    ps->has_targets = real && b->targets;
    for (int t = 0; t < p->T; t++)
        for (int j = 0; j < p->bs[t]; j++) {
            int row = pack_row(p, t, j), i = p->order[j];
            int n = b->offsets[i + 1] - b->offsets[i];
            int32_t k = b->offsets[i] + t; /* the caller's step (t < n)   */
            ps->row_seq[row] = j;
            if (dense) {
                /* Standardised as the model's input_norm says. */
                const float *x = b->features + (size_t)k * F;
                float *dst = ps->X0 + (size_t)row * F;
                for (int f = 0; f < F; f++) dst[f] = (x[f] - m->norm_mean[f]) / m->norm_std[f];
            } else if (gen) {
                const int32_t *s = b->tokens + b->offsets[i];
                ps->tok[row] = t == 0 ? RECUR_TOKEN_BOUNDARY : s[t - 1];
                ps->target[row] = t < n ? s[t] : RECUR_TOKEN_BOUNDARY;
            } else {
                ps->tok[row] = b->tokens[k];
            }
            if (!steps) continue;
            ps->dest[row] = gen ? k + i : k;
            if (m->cfg.task == RECUR_TASK_TAG)
                ps->target[row] = b->step_labels && b->step_labels[k] >= 0 ? b->step_labels[k] : -1;
            if (ps->has_targets)
                memcpy(ps->ytgt + (size_t)row * C, b->targets + (size_t)k * C, (size_t)C * sizeof(float));
        }
    for (int j = 0; j < p->B; j++) {
        int i = p->order[j];
        ps->seq_label[j] = b->labels && (gen || m->cfg.task == RECUR_TASK_CLASSIFY) ? b->labels[i] : -1;
        if (steps) continue;
        ps->dest[j] = i;
        if (!real) ps->target[j] = ps->seq_label[j];
        else if (ps->has_targets) memcpy(ps->ytgt + (size_t)j * C, b->targets + (size_t)i * C, (size_t)C * sizeof(float));
    }
    return RECUR_OK;
}

/* Layer 0's table traffic, split over the pass's threads by columns of
 * G*H (so that scattered rows of one token never collide): gather fills
 * the projections from the tables, scatter sums their gradients back. */
typedef struct table_job {
    const pass *ps;
    int GH, scatter;
    float *xg;             /* gather: [N][GH] projections out               */
    const float *dxg;      /* scatter: their gradient [N][GH] in            */
    const float *Ps, *Pl;  /* gather: tables                                */
    float *dPs, *dPl;      /* scatter: table gradients (zeroed here)        */
    int V, NL;
} table_job;

static void table_share(void *arg, int tid, int nt)
{
    const table_job *j = arg;
    const pass *ps = j->ps;
    const size_t GH = (size_t)j->GH;
    int g0, g1;
    pool_split(j->GH / 16, tid, nt, &g0, &g1); /* whole cache lines */
    g0 *= 16;
    g1 = tid == nt - 1 ? j->GH : g1 * 16;
    if (g1 <= g0) return;
    size_t n = (size_t)(g1 - g0);
    if (!j->scatter) {
        for (int r = 0; r < ps->pk.N; r++) {
            float *row = j->xg + (size_t)r * GH + g0;
            const float *a = j->Ps + (size_t)ps->tok[r] * GH + g0;
            if (j->Pl) {
                const float *l = j->Pl + (size_t)ps->seq_label[ps->row_seq[r]] * GH + g0;
                for (size_t g = 0; g < n; g++) row[g] = a[g] + l[g];
            } else {
                memcpy(row, a, n * sizeof *row);
            }
        }
        return;
    }
    for (int v = 0; v < j->V; v++) memset(j->dPs + (size_t)v * GH + g0, 0, n * sizeof(float));
    if (j->dPl)
        for (int l = 0; l < j->NL; l++) memset(j->dPl + (size_t)l * GH + g0, 0, n * sizeof(float));
    for (int r = 0; r < ps->pk.N; r++) {
        const float *src = j->dxg + (size_t)r * GH + g0;
        float *a = j->dPs + (size_t)ps->tok[r] * GH + g0;
        for (size_t g = 0; g < n; g++) a[g] += src[g];
        if (j->dPl) {
            float *l = j->dPl + (size_t)ps->seq_label[ps->row_seq[r]] * GH + g0;
            for (size_t g = 0; g < n; g++) l[g] += src[g];
        }
    }
}

/* Fill layer 0's projections of direction d from the lookup tables. */
static void gather_inputs(pass *ps, const recur_model *m, int d)
{
    table_job j = {ps, m->st.G * m->st.H, 0, stack_ws_xg0(ps->ws, d), NULL, ps->P_sym[d], ps->P_lab[d], NULL,
                   NULL, m->V, m->num_labels};
    pool_run(ps->pool, table_share, &j);
}

/* X0 rows: [embedding of the symbol; label vector (generation)]. */
static void embed_inputs(pass *ps, const recur_model *m)
{
    const int I = m->st.I, E = m->cfg.embed;
    for (int r = 0; r < ps->pk.N; r++) {
        float *row = ps->X0 + (size_t)r * I;
        memcpy(row, m->embed + (size_t)ps->tok[r] * E, (size_t)E * sizeof *row);
        if (!m->lab_w) continue;
        int lab = ps->seq_label[ps->row_seq[r]];
        float *lv = row + m->sym_w;
        if (m->label_embed) memcpy(lv, m->label_embed + (size_t)lab * m->cfg.label_embed, (size_t)m->lab_w * sizeof *lv);
        else {
            memset(lv, 0, (size_t)m->lab_w * sizeof *lv);
            lv[lab] = 1.0f;
        }
    }
}

/* Regression losses, summed over the elements of n rows of C (double):
 * MSE (y - t)^2; Huber 0.5 d^2 below delta, delta (|d| - delta/2) above,
 * as torch.nn.functional.huber_loss (which takes |d| < delta as inside). */
static double real_loss_sum(const recur_model *m, const float *y, const float *t, size_t count)
{
    double s = 0;
    const double delta = m->cfg.huber_delta;
    for (size_t k = 0; k < count; k++) {
        double d = (double)y[k] - t[k];
        if (m->cfg.loss == RECUR_LOSS_HUBER) {
            double a = fabs(d);
            s += a < delta ? 0.5 * d * d : delta * (a - 0.5 * delta);
        } else {
            s += d * d;
        }
    }
    return s;
}

/* The values become the gradient of scale * real_loss_sum, in place. */
static void real_loss_grad(const recur_model *m, float *y, const float *t, size_t count, float scale)
{
    const float delta = m->cfg.huber_delta;
    for (size_t k = 0; k < count; k++) {
        float d = y[k] - t[k];
        if (m->cfg.loss == RECUR_LOSS_HUBER) y[k] = scale * (fabsf(d) < delta ? d : d > 0 ? delta : -delta);
        else y[k] = 2.0f * scale * d;
    }
}

void pass_sync_weights(pass *ps, const recur_model *m)
{
    if (!ps->tables_fixed || ps->wgen == m->wgen) return;
    ps->wgen = m->wgen;
    if (ps->ws) stack_ws_weights_changed(ps->ws);
    /* Rebuilt now, not at the next pass (the step API reads them too), and
     * as recur_runner_create makes them, so that the answers are a new
     * runner's to the bit. */
    for (int d = 0; d < m->st.D && !model_dense(m) && ps->P_sym[d]; d++)
        model_input_tables(m, NULL, d, ps->P_sym[d], ps->P_lab[d]);
}

double pass_forward(pass *ps, const recur_model *m, recur_rng *rng)
{
    pass_sync_weights(ps, m);
    const stack *st = &m->st;
    const pack *p = &ps->pk;
    const int H = st->H, DH = model_features(m);
    if (model_dense(m)) {
        /* X0 holds the standardised features (pass_prepare). */
    } else if (ps->dense_input) {
        embed_inputs(ps, m);
    } else {
        for (int d = 0; d < st->D; d++) {
            if (!ps->tables_fixed || !ps->tables_ready) model_input_tables(m, ps->ws, d, ps->P_sym[d], ps->P_lab[d]);
            gather_inputs(ps, m, d);
        }
        ps->tables_ready = 1;
    }
    stack_forward(st, ps->ws, p, ps->dense_input ? ps->X0 : NULL, NULL, NULL, ps->hn, NULL, ps->train, rng);
    const float *X;
    if (!model_steps(m)) {
        /* Features: the last layer's final state, per direction. */
        for (int j = 0; j < p->B; j++)
            for (int d = 0; d < st->D; d++)
                memcpy(ps->feat + (size_t)j * DH + (size_t)d * H,
                       ps->hn + (((size_t)(st->L - 1) * st->D + d) * p->B + j) * H, (size_t)H * sizeof(float));
        X = ps->feat;
    } else {
        X = stack_ws_output(ps->ws);
    }
    if (m->q && !ps->train) qmodel_head(m, stack_ws_qkernels(ps->ws), ps->rows, X, DH, ps->logp); /* reduced weights */
    else linear_forward(ps->rows, DH, m->C, X, DH, m->out_w, m->out_b, ps->logp);
    if (model_real(m))
        return ps->has_targets ? real_loss_sum(m, ps->logp, ps->ytgt, (size_t)ps->rows * m->C) : 0.0;
    log_softmax_rows(ps->logp, ps->rows, m->C);
    return nll_sum(ps->logp, ps->rows, m->C, ps->target);
}

int pass_stopped(const pass *ps) { return ps->ws && stack_ws_stopped(ps->ws); }

size_t pass_correct(const pass *ps, const recur_model *m)
{
    size_t ok = 0;
    if (model_real(m)) return 0;
    for (int r = 0; r < ps->rows; r++) {
        const float *row = ps->logp + (size_t)r * m->C;
        int best = 0;
        for (int c = 1; c < m->C; c++)
            if (row[c] > row[best]) best = c;
        ok += best == ps->target[r];
    }
    return ok;
}

void pass_backward(pass *ps, recur_model *m, float scale)
{
    const stack *st = &m->st;
    const pack *p = &ps->pk;
    const int H = st->H, DH = model_features(m), GH = st->G * H;
    if (model_real(m)) {
        if (ps->has_targets) real_loss_grad(m, ps->logp, ps->ytgt, (size_t)ps->rows * m->C, scale);
        else memset(ps->logp, 0, (size_t)ps->rows * m->C * sizeof(float));
    } else {
        nll_grad_in_place(ps->logp, ps->rows, m->C, ps->target, scale);
    }
    float *dW = model_grad(m, m->out_w), *db = model_grad(m, m->out_b);
    const float *X0 = ps->dense_input ? ps->X0 : NULL;
    float *dX0 = ps->dense_input && !model_dense(m) ? ps->dX0 : NULL;
    if (!model_steps(m)) {
        linear_backward(ps->rows, DH, m->C, ps->feat, DH, m->out_w, ps->logp, dW, db, ps->dfeat, DH);
        size_t LDBH = (size_t)st->L * st->D * p->B * H;
        memset(ps->dhn, 0, LDBH * sizeof(float));
        for (int j = 0; j < p->B; j++)
            for (int d = 0; d < st->D; d++)
                memcpy(ps->dhn + (((size_t)(st->L - 1) * st->D + d) * p->B + j) * H,
                       ps->dfeat + (size_t)j * DH + (size_t)d * H, (size_t)H * sizeof(float));
        stack_backward(st, ps->ws, p, X0, NULL, ps->dhn, NULL, dX0, NULL, NULL);
    } else {
        linear_backward(ps->rows, DH, m->C, stack_ws_output(ps->ws), DH, m->out_w, ps->logp, dW, db,
                        ps->dfeat, DH);
        stack_backward(st, ps->ws, p, X0, ps->dfeat, NULL, NULL, dX0, NULL, NULL);
    }
    /* Dense input: the stack did W_ih and b_ih; the statistics are fixed. */
    if (model_dense(m)) return;
    if (ps->dense_input) {
        /* The stack did W_ih and b_ih; scatter dX0 into the embeddings. */
        const int I = st->I, E = m->cfg.embed;
        float *dE = model_grad(m, m->embed), *dL = model_grad(m, m->label_embed);
        for (int r = 0; r < p->N; r++) {
            const float *src = ps->dX0 + (size_t)r * I;
            float *e = dE + (size_t)ps->tok[r] * E;
            for (int j = 0; j < E; j++) e[j] += src[j];
            if (dL) {
                float *l = dL + (size_t)ps->seq_label[ps->row_seq[r]] * m->cfg.label_embed;
                for (int j = 0; j < m->cfg.label_embed; j++) l[j] += src[m->sym_w + j];
            }
        }
        return;
    }
    /* Layer 0: scatter the projections' gradients into table gradients. */
    for (int d = 0; d < st->D; d++) {
        float *dPs = ps->dP_sym[d], *dPl = ps->dP_lab[d];
        table_job j = {ps, GH, 1, NULL, stack_ws_dxg0(ps->ws, d), NULL, NULL, dPs, dPl, m->V, m->num_labels};
        pool_run(ps->pool, table_share, &j);
        model_input_tables_backward(m, ps->ws, d, dPs, dPl);
    }
}
