/* The per-class table and the confusion heat map of classification metrics
 * (recur_metrics, computed by the library) in a terminal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ------------------------------------------------------------------------ */
/* Terminal output                                                           */
/* ------------------------------------------------------------------------ */

/* Display width of UTF-8 text, counting each code point as one column. */
static int text_width(const char *s)
{
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) w++;
    return w;
}

/* Print s in exactly `width` columns: cut (with "…") or padded. */
static void put_cell(FILE *f, const char *s, int width, int right)
{
    int w = text_width(s);
    if (w > width) {
        int keep = width - 1, cols = 0;
        const unsigned char *p = (const unsigned char *)s;
        while (*p) {
            if ((*p & 0xC0) != 0x80) {
                if (cols == keep) break;
                cols++;
            }
            fputc(*p++, f);
        }
        fputs("…", f);
        return;
    }
    if (right) fprintf(f, "%*s%s", width - w, "", s);
    else fprintf(f, "%s%*s", s, width - w, "");
}

static int label_column(const recur_metrics *m, const char *const *labels, int cap)
{
    int w = 5;
    for (int c = 0; c < m->num_labels; c++) {
        int k = text_width(labels[c]);
        if (k > w) w = k;
    }
    return w > cap ? cap : w;
}

void cli_print_class_table(FILE *f, const recur_metrics *m, const char *const *labels)
{
    int lw = label_column(m, labels, 24);
    put_cell(f, "label", lw, 0);
    fprintf(f, "  precision  recall      F1  support\n");
    double sp = 0, sr = 0, sf = 0;
    int k = 0;
    char cnt[32];
    for (int c = 0; c < m->num_labels; c++) {
        double p, r, f1;
        recur_metrics_class(m, c, &p, &r, &f1);
        size_t sup = recur_metrics_support(m, c);
        put_cell(f, labels[c], lw, 0);
        fprintf(f, "  %8.1f%%  %5.1f%%  %5.1f%%  %7s\n", 100 * p, 100 * r, 100 * f1, cli_count(cnt, sup));
        if (sup) {
            sp += p;
            sr += r;
            sf += f1;
            k++;
        }
    }
    if (k) {
        put_cell(f, "macro", lw, 0);
        fprintf(f, "  %8.1f%%  %5.1f%%  %5.1f%%  %7s\n", 100 * sp / k, 100 * sr / k, 100 * sf / k,
                cli_count(cnt, m->n));
    }
}

/* Column headers: the first three characters of each label, or numbers
 * when two labels would share a header. Returns 1 when numbered. */
static int short_names(const recur_metrics *m, const char *const *labels, char (*out)[16])
{
    for (int c = 0; c < m->num_labels; c++) {
        const unsigned char *p = (const unsigned char *)labels[c];
        int cols = 0;
        size_t k = 0;
        while (p[k] && k < 15) {
            if ((p[k] & 0xC0) != 0x80) {
                if (cols == 3) break;
                cols++;
            }
            k++;
        }
        while (k > 0 && (p[k] & 0xC0) == 0x80) k--; /* never cut a character */
        memcpy(out[c], labels[c], k);
        out[c][k] = '\0';
    }
    for (int a = 0; a < m->num_labels; a++)
        for (int b = a + 1; b < m->num_labels; b++)
            if (strcmp(out[a], out[b]) == 0) {
                for (int c = 0; c < m->num_labels; c++) snprintf(out[c], 16, "%d", c + 1);
                return 1;
            }
    return 0;
}

/* 256-colour ramp from white to deep blue. */
static const int ramp[] = {231, 195, 153, 117, 111, 75, 69, 33, 27, 26, 20, 19, 18, 17};
#define RAMP_N ((int)(sizeof ramp / sizeof ramp[0]))

void cli_print_confusion(FILE *f, const recur_metrics *m, const char *const *labels, int color)
{
    const int C = m->num_labels;
    if (C > 60) {
        fprintf(f, "confusion matrix: %d labels are too many to draw here; use --svg or --json\n", C);
        return;
    }
    char(*hdr)[16] = malloc((size_t)C * sizeof *hdr);
    if (!hdr) return;
    int numbered = short_names(m, labels, hdr);
    int lw = label_column(m, labels, 16);
    fprintf(f, "confusion matrix: rows are the true labels, columns the predicted ones;\n"
               "each cell is the percentage of its row%s\n",
            color == 1 ? " (darker = more)" : color == 2 ? " (░ ▒ ▓ █ = more)" : " (. = none)");
    put_cell(f, "", lw + (numbered ? 4 : 0), 0);
    for (int c = 0; c < C; c++) {
        fputc(' ', f);
        put_cell(f, hdr[c], 3, 0);
    }
    fprintf(f, "  recall\n");
    for (int r = 0; r < C; r++) {
        size_t sup = recur_metrics_support(m, r);
        if (numbered) fprintf(f, "%3d ", r + 1);
        put_cell(f, labels[r], lw, 0);
        for (int c = 0; c < C; c++) {
            size_t v = m->confusion[(size_t)r * C + c];
            double frac = sup ? (double)v / (double)sup : 0.0;
            int pct = (int)floor(100.0 * frac + 0.5);
            char num[8];
            if (v == 0) snprintf(num, sizeof num, "  .");
            else if (pct == 0) snprintf(num, sizeof num, " <1");
            else snprintf(num, sizeof num, "%3d", pct);
            fputc(' ', f);
            if (color == 1) {
                if (v == 0) {
                    fprintf(f, "\033[2m  ·\033[0m");
                    continue;
                }
                int k = (int)ceil(frac * (RAMP_N - 1));
                if (k < 1) k = 1;
                if (k > RAMP_N - 1) k = RAMP_N - 1;
                int fg = k >= RAMP_N / 2 ? 231 : 16;
                fprintf(f, "\033[48;5;%dm\033[38;5;%dm%s\033[0m", ramp[k], fg, num);
            } else if (color == 2) {
                static const char *const shades[] = {"   ", "░░░", "▒▒▒", "▓▓▓", "███"};
                int k = v == 0 ? 0 : 1 + (int)(frac * 3.999);
                fputs(shades[k], f);
            } else {
                fputs(num, f);
            }
        }
        double rec = sup ? (double)m->confusion[(size_t)r * C + r] / (double)sup : 0.0;
        if (sup) fprintf(f, "  %5.1f%%\n", 100 * rec);
        else fprintf(f, "       -\n");
    }
    free(hdr);
}
