/* Optimisers against torch.optim (fixture optim_steps), and clipping. */
#include <string.h>

#include "io/safetensors.h"
#include "optim/optim.h"
#include "test.h"

static void check_steps(const char *key)
{
    st_file *f = NULL;
    recur_error err;
    CHECK_OK(st_read("tests/fixtures/optim_steps.safetensors", &f, &err), &err);
    if (!f) return;
    int n = atoi(st_meta(f, "n")), steps = atoi(st_meta(f, "steps"));
    float w[64], buf[64] = {0}, v[64] = {0}, g[64];
    memcpy(w, st_find(f, "w0")->data, (size_t)n * 4);
    const float *grads = (const float *)st_find(f, "grads")->data;
    for (int s = 1; s <= steps; s++) {
        memcpy(g, grads + (size_t)(s - 1) * n, (size_t)n * 4);
        if (strcmp(key, "adam") == 0) {
            clip_grad_norm(g, (size_t)n, 2.0f);
            adam_step(w, g, buf, v, (size_t)n, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, (uint64_t)s);
        } else if (strcmp(key, "sgd") == 0) {
            sgd_step(w, g, buf, (size_t)n, 0.1f, 0.9f, 0.01f, (uint64_t)s);
        } else {
            sgd_step(w, g, buf, (size_t)n, 0.1f, 0.0f, 0.0f, (uint64_t)s);
        }
        char name[64];
        snprintf(name, sizeof name, "expect.%s.step%d", key, s);
        const float *e = (const float *)st_find(f, name)->data;
        for (int i = 0; i < n; i++) CHECK_NEAR(w[i], e[i], 1e-6 * (1 + fabs(e[i])));
    }
    st_free(f);
}

static void sgd_momentum_matches_torch(void) { check_steps("sgd"); }
static void sgd_plain_matches_torch(void) { check_steps("sgd_plain"); }
static void adam_with_clipping_matches_torch(void) { check_steps("adam"); }

static void clipping_scales_to_max_norm(void)
{
    float g[4] = {3, 4, 0, 0};
    double before = clip_grad_norm(g, 4, 1.0f);
    CHECK_NEAR(before, 5.0, 1e-9);
    CHECK_NEAR(grad_norm(g, 4), 1.0, 1e-5);
    float h[2] = {0.3f, 0.4f};
    clip_grad_norm(h, 2, 1.0f);
    CHECK(h[0] == 0.3f && h[1] == 0.4f); /* below the limit: untouched */
}

const test_case tests_optim[] = {
    {"sgd_momentum_matches_torch", sgd_momentum_matches_torch},
    {"sgd_plain_matches_torch", sgd_plain_matches_torch},
    {"adam_with_clipping_matches_torch", adam_with_clipping_matches_torch},
    {"clipping_scales_to_max_norm", clipping_scales_to_max_norm},
    {NULL, NULL},
};
