/* A progress bar on stderr when it is a terminal, rewritten in place. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void progress_init(cli_progress *p, int quiet)
{
    memset(p, 0, sizeof *p);
    p->quiet = quiet;
    p->tty = !quiet && isatty(2);
    p->start = cli_now();
}

static void fmt_eta(char *buf, size_t cap, double s)
{
    if (!(s >= 0) || !isfinite(s)) {
        snprintf(buf, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void progress_update(cli_progress *p, int epoch, int epochs, size_t done, size_t total,
                     double names_per_s, double loss, double eta_s, int force)
{
    if (!p->tty) return;
    double now = cli_now();
    if (!force && p->drawn && now - p->last_draw < 0.1) return;
    p->last_draw = now;
    double frac = total ? (double)done / (double)total : 0;
    enum { WIDTH = 24 };
    char bar[WIDTH * 3 + 1];
    int full = (int)(frac * WIDTH);
    size_t k = 0;
    for (int i = 0; i < WIDTH; i++) {
        const char *c = i < full ? "█" : "░";
        memcpy(bar + k, c, 3);
        k += 3;
    }
    bar[k] = '\0';
    char eta[32];
    fmt_eta(eta, sizeof eta, eta_s);
    fprintf(stderr, "\repoch %d/%d %s %3d%%  %6.0f %s/s  loss %.4f  ETA %s\033[K", epoch, epochs, bar,
            (int)(100 * frac), names_per_s, p->unit ? p->unit : "names", loss, eta);
    fflush(stderr);
    p->drawn = 1;
}

void progress_clear(cli_progress *p)
{
    if (p->tty && p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    p->drawn = 0;
}
