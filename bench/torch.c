/*
 * The PyTorch side: writes the names data and the jobs to a JSON spec,
 * runs bench/torch_ref.py once per thread count with every library's
 * thread count pinned in its environment, and reads its JSON lines back
 * into the rows.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const char *section_key(int s)
{
    return s == SEC_TRAIN ? "train" : s == SEC_LATENCY ? "latency" : s == SEC_BULK ? "bulk" : s == SEC_TASK ? "task" : "kernel";
}

static cJSON *spec_json(const bench_opts *o, const names_data *nd, int have_names, const rows *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "trials", o->trials);
    cJSON_AddNumberToObject(j, "trial_s", o->trial_s);
    cJSON_AddNumberToObject(j, "warm_s", o->warm_s);
    cJSON_AddNumberToObject(j, "bulk_trial_s", o->bulk_trial_s);
    cJSON_AddNumberToObject(j, "bulk_names", o->bulk_names);
    cJSON_AddBoolToObject(j, "bulk_full", o->bulk_full);
    cJSON_AddNumberToObject(j, "latency_min_calls", o->lat_min_calls);
    cJSON_AddNumberToObject(j, "seed", (double)(o->seed & 0xffffffffu));
    cJSON_AddNumberToObject(j, "embed", 64);
    cJSON_AddNumberToObject(j, "train_batch", 64);
    cJSON_AddNumberToObject(j, "bulk_batch", 256);
    cJSON_AddNumberToObject(j, "kernel_batch", 64);
    cJSON_AddNumberToObject(j, "kernel_input", 64);
    if (have_names) {
        cJSON *names = cJSON_AddArrayToObject(j, "names");
        cJSON *ids = cJSON_AddArrayToObject(j, "ids");
        cJSON *label = cJSON_AddArrayToObject(j, "label");
        for (int i = 0; i < nd->n; i++) {
            cJSON_AddItemToArray(names, cJSON_CreateString(nd->text[i]));
            cJSON *a = cJSON_CreateArray();
            for (int32_t k = nd->off[i]; k < nd->off[i + 1]; k++)
                cJSON_AddItemToArray(a, cJSON_CreateNumber(nd->ids[k]));
            cJSON_AddItemToArray(ids, a);
            cJSON_AddItemToArray(label, cJSON_CreateNumber(nd->label[i]));
        }
        cJSON_AddItemToObject(j, "labels", cJSON_CreateStringArray(nd->labels, nd->num_labels));
        cJSON *vocab = cJSON_AddArrayToObject(j, "vocab");
        for (int i = 0; i < recur_vocab_size(nd->vocab); i++)
            cJSON_AddItemToArray(vocab, cJSON_CreateString(recur_vocab_symbol(nd->vocab, i)));
    }
    cJSON *jobs = cJSON_AddArrayToObject(j, "jobs");
    for (int i = 0; i < r->n; i++) {
        const row *w = &r->v[i];
        if (w->p99) continue; /* filled from its median row's job */
        if (w->section != SEC_KERNEL && w->section != SEC_TASK && !have_names) continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", w->id);
        cJSON_AddStringToObject(x, "section", section_key(w->section));
        cJSON_AddStringToObject(x, "cell", recur_cell_name((recur_cell)w->cell));
        cJSON_AddNumberToObject(x, "hidden", w->hidden);
        cJSON_AddNumberToObject(x, "threads", w->threads);
        cJSON_AddNumberToObject(x, "steps", w->steps);
        cJSON_AddNumberToObject(x, "fwdbwd", w->fwdbwd);
        cJSON_AddStringToObject(x, "dtype", recur_dtype_name((recur_dtype)w->dtype));
        cJSON_AddItemToArray(jobs, x);
    }
    return j;
}

static int doubles(const cJSON *a, double *out, int cap)
{
    int n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a)
    {
        if (n < cap && cJSON_IsNumber(x)) out[n++] = x->valuedouble;
    }
    return n;
}

static void fill(side *s, const double *v, int n, const double *gf, int ngf, double units, double reps)
{
    s->have = 1;
    s->n = n;
    memcpy(s->trial, v, sizeof(double) * (size_t)n);
    s->s = stat_of(v, n);
    if (ngf > 0) {
        s->gflops = stat_of(gf, ngf);
        s->have_gflops = 1;
    }
    s->units = units;
    s->reps = reps;
}

static void take_result(rows *r, const cJSON *res)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res, "job");
    if (!cJSON_IsString(id)) return;
    row *w = rows_find(r, id->valuestring);
    if (!w) return;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(res, "error");
    if (cJSON_IsString(e)) {
        snprintf(w->torch.note, sizeof w->torch.note, "failed: %.140s", e->valuestring);
        return;
    }
    double v[MAX_TRIALS], g[MAX_TRIALS];
    const cJSON *p50 = cJSON_GetObjectItemCaseSensitive(res, "p50");
    if (p50) {
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(res, "calls");
        double c = cJSON_IsNumber(calls) ? calls->valuedouble : 0;
        int n = doubles(p50, v, MAX_TRIALS);
        if (n > 0) fill(&w->torch, v, n, NULL, 0, c, c);
        char id99[80];
        snprintf(id99, sizeof id99, "%s/p99", w->id);
        row *w99 = rows_find(r, id99);
        n = doubles(cJSON_GetObjectItemCaseSensitive(res, "p99"), v, MAX_TRIALS);
        if (w99 && n > 0) fill(&w99->torch, v, n, NULL, 0, c, c);
        return;
    }
    int n = doubles(cJSON_GetObjectItemCaseSensitive(res, "rates"), v, MAX_TRIALS);
    int ng = doubles(cJSON_GetObjectItemCaseSensitive(res, "gflops"), g, MAX_TRIALS);
    const cJSON *units = cJSON_GetObjectItemCaseSensitive(res, "units");
    const cJSON *reps = cJSON_GetObjectItemCaseSensitive(res, "reps");
    if (w->section == SEC_BULK) ng = 0; /* as on recur's side: no FLOP figure */
    if (n > 0)
        fill(&w->torch, v, n, g, ng, cJSON_IsNumber(units) ? units->valuedouble : 0,
             cJSON_IsNumber(reps) ? reps->valuedouble : 0);
}

/* Single-quote a string for sh. */
static void shell_quote(char *out, size_t cap, const char *s)
{
    size_t k = 0;
    if (cap < 3) return;
    out[k++] = '\'';
    for (; *s && k + 6 < cap; s++) {
        if (*s == '\'') {
            memcpy(out + k, "'\\''", 4);
            k += 4;
        } else {
            out[k++] = *s;
        }
    }
    out[k++] = '\'';
    out[k] = 0;
}

static void mark_all(rows *r, const char *note)
{
    for (int i = 0; i < r->n; i++)
        if (!r->v[i].torch.have && !r->v[i].torch.note[0])
            snprintf(r->v[i].torch.note, sizeof r->v[i].torch.note, "%.150s", note);
}

void torch_run(const bench_opts *o, const names_data *nd, int have_names, rows *r, char *info,
               size_t cap, char *threads_info, size_t tcap)
{
    snprintf(info, cap, "not run");
    threads_info[0] = 0;
    if (!o->torch) {
        snprintf(info, cap, "skipped (--no-torch)");
        mark_all(r, "PyTorch skipped (--no-torch)");
        return;
    }
    if (access(o->torch_script, R_OK) != 0) {
        snprintf(info, cap, "skipped: %s not found", o->torch_script);
        mark_all(r, "PyTorch skipped: torch_ref.py not found");
        return;
    }
    char dir[] = "/tmp/recur-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        snprintf(info, cap, "skipped: no temporary folder");
        mark_all(r, "PyTorch skipped: no temporary folder");
        return;
    }
    char spec_path[64];
    snprintf(spec_path, sizeof spec_path, "%s/spec.json", dir);
    cJSON *spec = spec_json(o, nd, have_names, r);
    char *text = cJSON_PrintUnformatted(spec);
    cJSON_Delete(spec);
    FILE *f = fopen(spec_path, "w");
    if (!text || !f || fputs(text, f) < 0) {
        if (f) fclose(f);
        free(text);
        snprintf(info, cap, "skipped: cannot write %s", spec_path);
        mark_all(r, "PyTorch skipped: cannot write its spec");
        rmdir(dir);
        return;
    }
    fclose(f);
    free(text);
    char qpy[1100], qscript[1100], qspec[200];
    shell_quote(qpy, sizeof qpy, o->python);
    shell_quote(qscript, sizeof qscript, o->torch_script);
    shell_quote(qspec, sizeof qspec, spec_path);
    int ran = 0;
    for (int t = 0; t < o->n_threads; t++) {
        int n = o->threads[t], jobs = 0;
        for (int i = 0; i < r->n; i++)
            if (r->v[i].threads == n && (have_names || r->v[i].section == SEC_KERNEL || r->v[i].section == SEC_TASK)) jobs++;
        if (!jobs) continue;
        char cmd[4096];
        snprintf(cmd, sizeof cmd,
                 "OMP_NUM_THREADS=%d OPENBLAS_NUM_THREADS=%d MKL_NUM_THREADS=%d exec %s %s --threads %d %s",
                 n, n, n, qpy, qscript, n, qspec);
        progress("torch: %d thread(s): %s", n, cmd);
        FILE *p = popen(cmd, "r");
        if (!p) {
            snprintf(info, cap, "skipped: cannot start %s", o->python);
            break;
        }
        static char line[1 << 16];
        int got_info = 0;
        while (fgets(line, sizeof line, p)) {
            cJSON *j = cJSON_Parse(line);
            if (!j) continue;
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
            const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "info");
            if (in) {
                got_info = 1;
                const cJSON *ver = cJSON_GetObjectItemCaseSensitive(in, "torch");
                const cJSON *tt = cJSON_GetObjectItemCaseSensitive(in, "torch_threads");
                const cJSON *it = cJSON_GetObjectItemCaseSensitive(in, "interop_threads");
                const cJSON *ob = cJSON_GetObjectItemCaseSensitive(in, "openblas");
                const cJSON *obt = ob ? cJSON_GetObjectItemCaseSensitive(ob, "threads") : NULL;
                const cJSON *obc = ob ? cJSON_GetObjectItemCaseSensitive(ob, "core") : NULL;
                const cJSON *cc = cJSON_GetObjectItemCaseSensitive(in, "cpu_capability");
                const cJSON *mm = cJSON_GetObjectItemCaseSensitive(in, "encoding_mismatches");
                snprintf(info, cap, "PyTorch %s (%s, cpu capability %s)",
                         cJSON_IsString(ver) ? ver->valuestring : "?", o->python,
                         cJSON_IsString(cc) ? cc->valuestring : "?");
                size_t k = strlen(threads_info);
                snprintf(threads_info + k, tcap - k,
                         "%s[run %d] torch.get_num_threads()=%d, interop=%d, OpenBLAS in torch: %d thread(s), core %s, "
                         "OMP/OPENBLAS/MKL_NUM_THREADS=%d",
                         k ? "; " : "", n, cJSON_IsNumber(tt) ? tt->valueint : -1,
                         cJSON_IsNumber(it) ? it->valueint : -1, cJSON_IsNumber(obt) ? obt->valueint : -1,
                         cJSON_IsString(obc) ? obc->valuestring : "?", n);
                if (cJSON_IsNumber(mm) && mm->valueint > 0)
                    progress("torch: WARNING: %d names encode differently with a dict lookup", mm->valueint);
            } else if (cJSON_IsString(e) && !cJSON_GetObjectItemCaseSensitive(j, "job")) {
                snprintf(info, cap, "skipped: %s", e->valuestring);
            } else {
                take_result(r, j);
            }
            cJSON_Delete(j);
        }
        int rc = pclose(p);
        if (!got_info) {
            if (strncmp(info, "skipped", 7) != 0)
                snprintf(info, cap, "skipped: %s %s exited with status %d and no output", o->python,
                         o->torch_script, rc);
            break;
        }
        ran = 1;
    }
    char note[200];
    snprintf(note, sizeof note, "PyTorch %.180s", ran ? "gave no figure" : info);
    mark_all(r, note);
    unlink(spec_path);
    rmdir(dir);
}
