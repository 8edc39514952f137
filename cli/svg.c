/* SVG output: line plots of training curves and confusion heat maps. Plain
 * SVG 1.1 with system fonts; no scripts, no external references. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void xml_text(cli_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': cli_buf_printf(b, "&amp;"); break;
        case '<': cli_buf_printf(b, "&lt;"); break;
        case '>': cli_buf_printf(b, "&gt;"); break;
        case '"': cli_buf_printf(b, "&quot;"); break;
        default: cli_buf_put(b, s, 1);
        }
    }
}

/*
 * Titles fitted to the canvas. No font metrics here: a code point is taken
 * as 0.65 em wide (Helvetica's average is about 0.55 em, its bold capitals
 * about 0.7), which tests/tool.c's check of every SVG also assumes (0.6 em).
 * A title wider than `maxw` is wrapped at spaces into at most MAX_LINES
 * lines; a word wider than a line (a long path) keeps its two ends around
 * an ellipsis. Returns how many lines were written, each `line_h` below the
 * previous, centred on cx.
 */
enum { MAX_LINES = 3 };
#define EM_PER_CHAR 0.65

static size_t utf8_chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xc0) != 0x80;
    return k;
}

/* Byte offset of the start of code point number `k` of s[0..n). */
static size_t utf8_skip(const char *s, size_t n, size_t k)
{
    size_t i = 0;
    for (; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80 && k-- == 0) break;
    return i;
}

/* One line: s[0..n), cut in the middle to `cap` code points if longer. */
static void fit_line(cli_buf *out, double cx, double y, double size, const char *attrs, const char *s,
                     size_t n, size_t cap)
{
    cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"%.0f\"%s>", cx, y,
                   size, attrs);
    char *tmp = malloc(n + 4);
    if (!tmp) {
        out->failed = 1;
        return;
    }
    size_t chars = utf8_chars(s, n);
    if (chars > cap && cap >= 3) {
        size_t head = (cap - 1) / 2, tail = cap - 1 - head;
        size_t a = utf8_skip(s, n, head), b = utf8_skip(s, n, chars - tail);
        memcpy(tmp, s, a);
        memcpy(tmp + a, "\xe2\x80\xa6", 3); /* ... */
        memcpy(tmp + a + 3, s + b, n - b);
        tmp[a + 3 + n - b] = 0;
    } else {
        memcpy(tmp, s, n);
        tmp[n] = 0;
    }
    xml_text(out, tmp);
    free(tmp);
    cli_buf_printf(out, "</text>\n");
}

static int svg_fit_text(cli_buf *out, const char *text, double cx, double y, double size, double maxw,
                        double line_h, const char *attrs)
{
    size_t cap = (size_t)(maxw / (EM_PER_CHAR * size));
    if (cap < 3) cap = 3;
    const char *s = text;
    size_t n = strlen(s);
    int lines = 0;
    while (n && lines < MAX_LINES) {
        size_t take = n;
        if (utf8_chars(s, n) > cap && lines < MAX_LINES - 1) {
            /* The last space at which the line still fits, else the first. */
            size_t lim = utf8_skip(s, n, cap), cut = 0;
            for (size_t i = 0; i < n; i++)
                if (s[i] == ' ' && (i <= lim || !cut)) cut = i;
            if (cut) take = cut;
        }
        fit_line(out, cx, y + line_h * lines, size, attrs, s, take, cap);
        lines++;
        s += take;
        n -= take;
        while (n && *s == ' ') s++, n--;
    }
    return lines ? lines : 1;
}

/* Round step up to 1, 2 or 5 times a power of ten. */
static double nice_step(double raw)
{
    if (!(raw > 0)) return 1;
    double p = pow(10, floor(log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

typedef struct axis {
    double lo, hi, step;
} axis;

static axis nice_axis(double lo, double hi, int ticks)
{
    if (!(hi > lo)) {
        double d = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= d;
        hi += d;
    }
    axis a;
    a.step = nice_step((hi - lo) / ticks);
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    return a;
}

static void tick_label(char *buf, size_t cap, double v, double step)
{
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    snprintf(buf, cap, "%.*f", dec, fabs(v) < step * 1e-6 ? 0.0 : v);
}

int svg_line_plot(cli_buf *out, const char *title, const char *xlabel, const char *ylabel0,
                  const char *ylabel1, int percent1, const svg_series *s, int ns, int n)
{
    const double W = 760, L = 80, R = ylabel1 ? 80 : 30, B = 60;
    /* A long title takes more lines: the rest moves down by as much. */
    cli_buf head = {0};
    const double extra = 22 * (svg_fit_text(&head, title, W / 2, 26, 17, W - 20, 22, " font-weight=\"bold\"") - 1);
    const double H = 460 + extra, T = 70 + extra;
    const double pw = W - L - R, ph = H - T - B;
    /* Ranges per axis. */
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < n; i++) {
            double v = s[k].y[i];
            if (!isfinite(v)) continue;
            if (v < lo[s[k].axis]) lo[s[k].axis] = v;
            if (v > hi[s[k].axis]) hi[s[k].axis] = v;
        }
    if (!isfinite(lo[0])) lo[0] = 0, hi[0] = 1;
    if (!isfinite(lo[1])) lo[1] = 0, hi[1] = 1;
    if (lo[0] > 0) lo[0] = 0; /* losses from zero */
    axis ax[2] = {nice_axis(lo[0], hi[0], 6), {0, 100, 10}};
    if (percent1) {
        double a = floor(lo[1] * 100 / 10) * 10;
        if (a > 90) a = 90;
        ax[1] = (axis){a < 0 ? 0 : a, 100, a >= 60 ? 5 : 10};
    } else ax[1] = nice_axis(lo[1], hi[1], 6);
    axis xa;
    xa.lo = 1;
    xa.hi = n > 1 ? n : 2;
    xa.step = nice_step((xa.hi - xa.lo) / 10);
    if (xa.step < 1) xa.step = 1;

    cli_buf_printf(out,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                   "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">\n"
                   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                   W, H, W, H);
    if (head.failed) out->failed = 1;
    else cli_buf_put(out, head.data, head.len);
    cli_buf_free(&head);
    /* Grid and ticks: left axis. */
    for (double v = ax[0].lo; v <= ax[0].hi + ax[0].step * 1e-6; v += ax[0].step) {
        double y = T + ph - (v - ax[0].lo) / (ax[0].hi - ax[0].lo) * ph;
        char lab[32];
        tick_label(lab, sizeof lab, v, ax[0].step);
        cli_buf_printf(out,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                       L, y, L + pw, y, L - 8, y + 4, lab);
    }
    if (ylabel1)
        for (double v = ax[1].lo; v <= ax[1].hi + ax[1].step * 1e-6; v += ax[1].step) {
            double y = T + ph - (v - ax[1].lo) / (ax[1].hi - ax[1].lo) * ph;
            char lab[32];
            tick_label(lab, sizeof lab, v, ax[1].step);
            cli_buf_printf(out,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n"
                           "<text x=\"%.1f\" y=\"%.1f\">%s%s</text>\n",
                           L + pw, y, L + pw + 5, y, L + pw + 8, y + 4, lab, percent1 ? "%" : "");
        }
    for (double v = xa.lo; v <= xa.hi + 1e-9; v += xa.step) {
        double x = L + (v - xa.lo) / (xa.hi - xa.lo) * pw;
        cli_buf_printf(out,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n",
                       x, T + ph, x, T + ph + 5, x, T + ph + 20, v);
    }
    /* Frame and axis titles. */
    cli_buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n",
                   L, T, pw, ph);
    cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, H - 15);
    xml_text(out, xlabel);
    cli_buf_printf(out, "</text>\n<text transform=\"translate(22 %.1f) rotate(-90)\" text-anchor=\"middle\">",
                   T + ph / 2);
    xml_text(out, ylabel0);
    cli_buf_printf(out, "</text>\n");
    if (ylabel1) {
        cli_buf_printf(out, "<text transform=\"translate(%.1f %.1f) rotate(90)\" text-anchor=\"middle\">",
                       W - 22, T + ph / 2);
        xml_text(out, ylabel1);
        cli_buf_printf(out, "</text>\n");
    }
    /* Series. */
    for (int k = 0; k < ns; k++) {
        const axis *a = &ax[s[k].axis];
        double scale = s[k].axis == 1 && percent1 ? 100 : 1;
        cli_buf_printf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", s[k].color,
                       s[k].dashed ? " stroke-dasharray=\"6 4\"" : "");
        for (int i = 0; i < n; i++) {
            if (!isfinite(s[k].y[i])) continue;
            double x = n > 1 ? L + (double)i / (xa.hi - xa.lo) * pw : L;
            double y = T + ph - (s[k].y[i] * scale - a->lo) / (a->hi - a->lo) * ph;
            cli_buf_printf(out, "%.1f,%.1f ", x, y);
        }
        cli_buf_printf(out, "\"/>\n");
        for (int i = 0; i < n; i++) {
            if (!isfinite(s[k].y[i])) continue;
            double x = n > 1 ? L + (double)i / (xa.hi - xa.lo) * pw : L;
            double y = T + ph - (s[k].y[i] * scale - a->lo) / (a->hi - a->lo) * ph;
            cli_buf_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, y, s[k].color);
        }
    }
    /* Legend: one row under the title. */
    double lx = L;
    for (int k = 0; k < ns; k++) {
        cli_buf_printf(out,
                       "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"3\"%s/>\n"
                       "<text x=\"%.1f\" y=\"%.0f\">",
                       lx, 48 + extra, lx + 24, 48 + extra, s[k].color, s[k].dashed ? " stroke-dasharray=\"6 4\"" : "",
                       lx + 30, 52 + extra);
        xml_text(out, s[k].name);
        cli_buf_printf(out, "</text>\n");
        lx += 30 + 8.0 * (double)strlen(s[k].name) + 24;
    }
    cli_buf_printf(out, "</svg>\n");
    return out->failed ? -1 : 0;
}

/* White to dark blue. */
static void heat_color(double f, char *buf, size_t cap)
{
    if (f < 0) f = 0;
    if (f > 1) f = 1;
    f = sqrt(f); /* small confusions stay visible */
    int r = (int)(255 + (8 - 255) * f), g = (int)(255 + (48 - 255) * f), b = (int)(255 + (107 - 255) * f);
    snprintf(buf, cap, "#%02x%02x%02x", r, g, b);
}

int svg_confusion(cli_buf *out, const char *title, const recur_metrics *m, const char *const *labels)
{
    const int C = m->num_labels;
    int maxw = 4;
    for (int c = 0; c < C; c++) {
        int w = (int)strlen(labels[c]);
        if (w > maxw) maxw = w;
    }
    if (maxw > 40) maxw = 40;
    const double cell = C <= 30 ? 34 : C <= 80 ? 18 : 10;
    const double lab = 7.5 * maxw + 20;
    const double L = lab + 40, W = L + cell * C + 110;
    /* The title (model and data paths: long) wraps; what is below moves down. */
    cli_buf head = {0};
    const double extra = 20 * (svg_fit_text(&head, title, W / 2, 24, 16, W - 20, 20, " font-weight=\"bold\"") - 1);
    const double T = lab + 70 + extra, H = T + cell * C + 30;
    cli_buf_printf(out,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                   "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
                   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                   W, H, W, H);
    if (head.failed) out->failed = 1;
    else cli_buf_put(out, head.data, head.len);
    cli_buf_free(&head);
    svg_fit_text(out, "rows: true label; columns: predicted label; cells: percentage of the row", W / 2, 44 + extra,
                 12, W - 20, 16, " fill=\"#555\"");
    cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-weight=\"bold\">predicted</text>\n",
                   L + cell * C / 2, 64.0 + extra);
    cli_buf_printf(out, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\" "
                        "font-weight=\"bold\">true</text>\n",
                   T + cell * C / 2);
    for (int c = 0; c < C; c++) {
        double x = L + cell * c + cell / 2 + 4, y = T - 6;
        cli_buf_printf(out, "<text transform=\"translate(%.1f %.1f) rotate(-60)\">", x, y);
        xml_text(out, labels[c]);
        cli_buf_printf(out, "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", L - 6,
                       T + cell * c + cell / 2 + 4);
        xml_text(out, labels[c]);
        cli_buf_printf(out, "</text>\n");
    }
    for (int r = 0; r < C; r++) {
        size_t sup = recur_metrics_support(m, r);
        for (int c = 0; c < C; c++) {
            size_t v = m->confusion[(size_t)r * C + c];
            double f = sup ? (double)v / (double)sup : 0;
            char col[8];
            heat_color(f, col, sizeof col);
            double x = L + cell * c, y = T + cell * r;
            cli_buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                                "stroke=\"#ddd\" stroke-width=\"0.5\"><title>",
                           x, y, cell, cell, col);
            xml_text(out, labels[r]);
            cli_buf_printf(out, " as ");
            xml_text(out, labels[c]);
            cli_buf_printf(out, ": %zu of %zu</title></rect>\n", v, sup);
            int pct = (int)floor(100 * f + 0.5);
            if (v && cell >= 18)
                cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"%d\" fill=\"%s\">%s%d</text>\n",
                               x + cell / 2, y + cell / 2 + 4, cell >= 30 ? 11 : 8,
                               f > 0.45 ? "white" : "#222", pct == 0 ? "&lt;" : "", pct == 0 ? 1 : pct);
        }
        double rec = sup ? (double)m->confusion[(size_t)r * C + r] / (double)sup : 0;
        cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\">%.0f%%</text>\n", L + cell * C + 8,
                       T + cell * r + cell / 2 + 4, 100 * rec);
    }
    cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\">recall</text>\n", L + cell * C + 4, T - 6);
    cli_buf_printf(out, "</svg>\n");
    return out->failed ? -1 : 0;
}

int svg_gates(cli_buf *out, const char *model, const char *text, const recur_model *m, const recur_inspection *x,
              int l, int d)
{
    const int T = x->steps, S = x->n_series, gen = recur_model_get_config(m)->task == RECUR_TASK_GENERATE;
    const double cw = 34, rh = 26, L = 90, top = 84;
    const double W = L + cw * T + 40, H = top + rh * (S + 1) + 70;
    cli_buf_printf(out,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                   "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
                   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                   W < 420 ? 420 : W, H, W < 420 ? 420 : W, H);
    cli_buf_printf(out, "<text x=\"12\" y=\"24\" font-size=\"16\" font-weight=\"bold\">");
    xml_text(out, model);
    cli_buf_printf(out, " reads &#8220;");
    xml_text(out, text);
    cli_buf_printf(out, "&#8221;</text>\n<text x=\"12\" y=\"44\" fill=\"#555\">%s, layer %d of %d, %s direction: "
                        "each cell is the mean over %d units (darker = higher; gates 0..1, states -1..1)</text>\n",
                   recur_cell_name(recur_model_get_config(m)->cell), l + 1, x->layers, d ? "reverse" : "forward",
                   x->hidden);
    for (int t = 0; t < T; t++) {
        int id = x->tokens[t];
        const char *sym = id == RECUR_TOKEN_BOUNDARY ? "&lt;s&gt;" : NULL;
        cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"15\">", L + cw * t + cw / 2,
                       top - 8);
        if (sym) cli_buf_printf(out, "%s", sym);
        else xml_text(out, id == RECUR_TOKEN_UNKNOWN ? "?" : recur_vocab_symbol(recur_model_vocab(m), id));
        cli_buf_printf(out, "</text>\n");
    }
    for (int s = 0; s < S; s++) {
        double lo, hi, y = top + rh * s;
        inspect_range(x, s, &lo, &hi);
        cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", L - 8, y + rh / 2 + 4,
                       x->series[s]);
        const float *v = inspect_series(x, s, l, d);
        for (int t = 0; t < T; t++) {
            double mean = 0;
            for (int j = 0; j < x->hidden; j++) mean += v[(size_t)t * x->hidden + j];
            mean /= x->hidden;
            double f = (mean - lo) / (hi - lo);
            char col[8];
            heat_color(f * f, col, sizeof col); /* heat_color takes a square root */
            cli_buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                                "stroke=\"#ddd\" stroke-width=\"0.5\"><title>%s %.3f</title></rect>\n"
                                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"9\" fill=\"%s\">%.2f</text>\n",
                           L + cw * t, y, cw, rh, col, x->series[s], mean, L + cw * t + cw / 2, y + rh / 2 + 3,
                           f > 0.55 ? "white" : "#222", mean);
        }
    }
    /* The output after each step: the prefix's top label (classify) or
     * the probability of the real next symbol (generate), as bars. */
    const float *last = x->logprobs + (size_t)(T - 1) * x->outputs;
    int final = 0;
    for (int k = 1; k < x->outputs; k++)
        if (last[k] > last[final]) final = k;
    double y0 = top + rh * S + 8, bh = rh + 20;
    cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">p(", L - 8, y0 + bh / 2);
    if (gen) cli_buf_printf(out, "next");
    else xml_text(out, recur_model_label_name(m, final));
    cli_buf_printf(out, ")</text>\n");
    for (int t = 0; t < T; t++) {
        int k = gen ? (t + 1 < T ? x->tokens[t + 1] : RECUR_TOKEN_BOUNDARY) : final;
        double p = exp(x->logprobs[(size_t)t * x->outputs + k]);
        cli_buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#3a7\"/>\n"
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"9\">%.2f</text>\n",
                       L + cw * t + 4, y0 + bh * (1 - p), cw - 8, bh * p, L + cw * t + cw / 2, y0 + bh + 12, p);
    }
    cli_buf_printf(out, "</svg>\n");
    return out->failed ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* XY panels (recur experiment): series over their own x values, each axis  */
/* linear or logarithmic, one or more panels side by side.                  */
/* ------------------------------------------------------------------------ */

typedef struct scale {
    double lo, hi;
    int log;
} scale;

static double scale_pos(const scale *s, double v)
{
    if (s->log) return (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo));
    return (v - s->lo) / (s->hi - s->lo);
}

static int usable(double v, int log_axis) { return isfinite(v) && (!log_axis || v > 0); }

/* A data range made into an axis: whole decades on a log axis. */
static scale make_scale(double lo, double hi, int log_axis, double fixed_lo, double fixed_hi)
{
    scale s = {lo, hi, log_axis};
    if (fixed_lo < fixed_hi) {
        s.lo = fixed_lo;
        s.hi = fixed_hi;
    } else if (!isfinite(lo)) {
        s.lo = log_axis ? 1 : 0;
        s.hi = log_axis ? 10 : 1;
    } else if (log_axis) {
        s.lo = pow(10, floor(log10(lo) + 1e-9));
        s.hi = pow(10, ceil(log10(hi) - 1e-9));
        if (!(s.hi > s.lo)) s.hi = s.lo * 10;
    } else {
        axis a = nice_axis(lo, hi, 6);
        s.lo = a.lo;
        s.hi = a.hi;
    }
    return s;
}

/* Tick values of a scale into v (at most cap); their count. */
static int scale_ticks(const scale *s, double *v, int cap, double *step_out)
{
    int n = 0;
    if (s->log) {
        int e0 = (int)floor(log10(s->lo) + 1e-9), e1 = (int)ceil(log10(s->hi) - 1e-9);
        int every = (e1 - e0 + 7) / 8;
        if (every < 1) every = 1;
        for (int e = e0; e <= e1 && n < cap; e += every) v[n++] = pow(10, e);
        *step_out = 0;
    } else {
        double step = nice_step((s->hi - s->lo) / 6);
        for (double x = s->lo; x <= s->hi + step * 1e-6 && n < cap; x += step) v[n++] = x;
        *step_out = step;
    }
    return n;
}

/* A tick label: powers of ten outside 0.001..10000 as 10 with a superscript. */
static void svg_tick_text(cli_buf *b, double v, int log_axis, double step, const char *unit)
{
    if (log_axis) {
        int e = (int)floor(log10(v) + 0.5);
        if (e >= -3 && e <= 4) cli_buf_printf(b, "%.*f", e < 0 ? -e : 0, v);
        else cli_buf_printf(b, "10<tspan dy=\"-6\" font-size=\"10\">%d</tspan>", e);
    } else {
        char lab[32];
        tick_label(lab, sizeof lab, v, step);
        cli_buf_printf(b, "%s", lab);
    }
    if (unit) xml_text(b, unit);
}

static void draw_panel(cli_buf *out, const svg_panel *p, double X, double Y, double W, double H)
{
    /* Legend rows under the panel title, wrapped to the panel's width. */
    double lx = 0;
    int rows = p->ns ? 1 : 0;
    for (int k = 0; k < p->ns; k++) {
        double w = 36 + 7.2 * (double)strlen(p->s[k].name) + 18;
        if (lx > 0 && lx + w > W - 90) rows++, lx = 0;
        lx += w;
    }
    const double L = X + 78, R = X + W - 16, top = Y + 30 + 18.0 * rows + 8, bottom = Y + H - 52;
    const double pw = R - L, ph = bottom - top;
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int k = 0; k < p->ns; k++)
        for (int i = 0; i < p->s[k].n; i++) {
            double x = p->s[k].x[i], y = p->s[k].y[i];
            if (!usable(x, p->logx) || !usable(y, p->logy)) continue;
            lo[0] = fmin(lo[0], x), hi[0] = fmax(hi[0], x);
            lo[1] = fmin(lo[1], y), hi[1] = fmax(hi[1], y);
        }
    for (int i = 0; i < p->nxticks; i++)
        if (usable(p->xticks[i], p->logx)) lo[0] = fmin(lo[0], p->xticks[i]), hi[0] = fmax(hi[0], p->xticks[i]);
    scale sx = make_scale(lo[0], hi[0], p->logx, 0, 0), sy = make_scale(lo[1], hi[1], p->logy, p->ymin, p->ymax);
    if (p->xticks && p->nxticks && !p->logx) sx.lo = lo[0], sx.hi = hi[0] > lo[0] ? hi[0] : lo[0] + 1;
    if (p->xticks && p->nxticks && p->logx) sx.lo = lo[0] / 1.15, sx.hi = hi[0] * 1.15;

    cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">",
                   L + pw / 2, Y + 18);
    xml_text(out, p->title);
    cli_buf_printf(out, "</text>\n");
    /* Grid and tick labels. */
    double tv[64], step;
    int nt = scale_ticks(&sy, tv, 64, &step);
    for (int i = 0; i < nt; i++) {
        double y = bottom - scale_pos(&sy, tv[i]) * ph;
        cli_buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n"
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", L, y, R, y, L - 8, y + 4);
        svg_tick_text(out, tv[i], p->logy, step, p->yunit);
        cli_buf_printf(out, "</text>\n");
    }
    if (p->xticks && p->nxticks) {
        nt = 0;
        for (int i = 0; i < p->nxticks && nt < 64; i++) tv[nt++] = p->xticks[i];
        step = 1;
    } else nt = scale_ticks(&sx, tv, 64, &step);
    for (int i = 0; i < nt; i++) {
        double x = L + scale_pos(&sx, tv[i]) * pw;
        cli_buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n"
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, top, x, bottom, x, bottom + 18);
        svg_tick_text(out, tv[i], p->logx && !p->xticks, step, NULL);
        cli_buf_printf(out, "</text>\n");
    }
    cli_buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n",
                   L, top, pw, ph);
    cli_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, bottom + 40);
    xml_text(out, p->xlabel);
    cli_buf_printf(out, "</text>\n<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\">",
                   X + 18, top + ph / 2);
    xml_text(out, p->ylabel);
    cli_buf_printf(out, "</text>\n");
    /* Series, clipped to the frame by leaving out what falls outside. */
    for (int k = 0; k < p->ns; k++) {
        const svg_xy_series *s = &p->s[k];
        /* Earlier series a little wider, so that one hidden under a later
         * one with the same values still shows at its edges. */
        double sw = p->ns > 1 ? 1.6 + 2.0 * (p->ns - 1 - k) / (p->ns - 1) : 2;
        cli_buf_printf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"%s points=\"", s->color, sw,
                       s->dashed ? " stroke-dasharray=\"6 4\"" : "");
        for (int i = 0; i < s->n; i++) {
            if (!usable(s->x[i], p->logx) || !usable(s->y[i], p->logy)) continue;
            double fx = scale_pos(&sx, s->x[i]), fy = scale_pos(&sy, s->y[i]);
            if (fx < -1e-9 || fx > 1 + 1e-9 || fy < -1e-9 || fy > 1 + 1e-9) continue;
            cli_buf_printf(out, "%.1f,%.1f ", L + fx * pw, bottom - fy * ph);
        }
        cli_buf_printf(out, "\"/>\n");
        for (int i = 0; s->markers && i < s->n; i++) {
            if (!usable(s->x[i], p->logx) || !usable(s->y[i], p->logy)) continue;
            double fx = scale_pos(&sx, s->x[i]), fy = scale_pos(&sy, s->y[i]);
            if (fx < -1e-9 || fx > 1 + 1e-9 || fy < -1e-9 || fy > 1 + 1e-9) continue;
            cli_buf_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>\n", L + fx * pw,
                           bottom - fy * ph, 1.5 + sw, s->color);
        }
    }
    /* Legend. */
    lx = 0;
    double ly = Y + 40;
    for (int k = 0; k < p->ns; k++) {
        double w = 36 + 7.2 * (double)strlen(p->s[k].name) + 18;
        if (lx > 0 && lx + w > W - 90) ly += 18, lx = 0;
        cli_buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"%s/>\n"
                            "<text x=\"%.1f\" y=\"%.1f\">",
                       L + lx, ly - 4, L + lx + 28, ly - 4, p->s[k].color,
                       p->s[k].dashed ? " stroke-dasharray=\"6 4\"" : "", L + lx + 34, ly);
        xml_text(out, p->s[k].name);
        cli_buf_printf(out, "</text>\n");
        lx += w;
    }
}

int svg_xy_plot(cli_buf *out, const char *title, const char *subtitle, const svg_panel *p, int np)
{
    const double PW = np > 1 ? 560 : 760, PH = 470, W = PW * np;
    cli_buf top = {0};
    int tl = svg_fit_text(&top, title, W / 2, 26, 17, W - 20, 22, " font-weight=\"bold\"");
    int sl = subtitle ? svg_fit_text(&top, subtitle, W / 2, 46 + 22 * (tl - 1), 13, W - 20, 18, " fill=\"#555\"") : 0;
    const double head = (subtitle ? 58 : 40) + 22 * (tl - 1) + 18 * (sl > 1 ? sl - 1 : 0), H = PH + head;
    cli_buf_printf(out,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                   "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">\n"
                   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                   W, H, W, H);
    if (top.failed) out->failed = 1;
    else cli_buf_put(out, top.data, top.len);
    cli_buf_free(&top);
    for (int i = 0; i < np; i++) draw_panel(out, &p[i], PW * i, head, PW, PH);
    cli_buf_printf(out, "</svg>\n");
    return out->failed ? -1 : 0;
}
