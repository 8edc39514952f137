/* Data folders: where they come from and what they hold (the library
 * encodes them: recur_data_encode). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_resolve_data(const char *given, char *out, size_t cap)
{
    if (given && *given) {
        snprintf(out, cap, "%s", given);
        return 0;
    }
    const char *env = getenv("RECUR_DATA");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    char cache[4096];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0] == '/') snprintf(cache, sizeof cache, "%s/recur", xdg);
    else if (home && *home) snprintf(cache, sizeof cache, "%s/.cache/recur", home);
    else {
        cli_error("no DATA folder given, RECUR_DATA is unset, and there is no HOME for a cache "
                  "to fetch the tutorial's names into");
        return EXIT_RUNTIME;
    }
    recur_error err;
    if (recur_fetch_names(cache, out, cap, &err) != RECUR_OK) {
        cli_error("no DATA folder given and RECUR_DATA is unset; fetching the tutorial's names "
                  "into %s failed: %s",
                  cache, err.message);
        return EXIT_RUNTIME;
    }
    return 0;
}

int cli_load_data(const char *dir, recur_dataset **out)
{
    recur_error err;
    /* A SIGINT or SIGTERM caught (cli_catch_interrupts) stops a long load. */
    recur_load_options lo = {cli_interrupt_flag()};
    recur_status st = recur_dataset_load_opts(dir, &lo, out, &err);
    if (st == RECUR_ERR_INTERRUPTED) {
        cli_error("interrupted while loading %s; nothing written", dir);
        return EXIT_INTERRUPTED;
    }
    if (st != RECUR_OK) {
        cli_lib_error(NULL, &err);
        return EXIT_RUNTIME;
    }
    return 0;
}

void cli_print_data_summary(FILE *f, const char *dir, const recur_dataset *ds)
{
    recur_dataset_stats st;
    recur_dataset_stats_get(ds, &st);
    char a[32], b[32], c[32], d[32], e[32];
    int L = recur_dataset_num_labels(ds);
    fprintf(f, "data    %s: %s names, %d labels, %s distinct spellings, longest %zu bytes\n", dir,
            cli_count(a, st.lines), L, cli_count(b, st.distinct), st.max_bytes);
    /* Per-class counts, wrapped at about 78 columns. */
    int col = 0;
    for (int l = 0; l < L; l++) {
        char item[300];
        int k = snprintf(item, sizeof item, "%s %s", recur_dataset_label_name(ds, l),
                         cli_count(a, recur_dataset_label_size(ds, l)));
        if (col == 0) col = fprintf(f, "       ");
        else if (col + 2 + k > 78) {
            fprintf(f, "\n");
            col = fprintf(f, "       ");
        } else col += fprintf(f, " ·");
        col += fprintf(f, " %s", item);
    }
    if (col) fprintf(f, "\n");
    fprintf(f, "        %s repeated lines (same name, same label), %s spellings under several labels, "
               "%s blank lines skipped\n",
            cli_count(c, st.duplicates), cli_count(d, st.ambiguous), cli_count(e, st.empty));
}
