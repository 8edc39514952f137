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

/* A moment stuck in the subnormal range (x * 0.9 rounds back to x there)
 * costs a microcode assist per vector operation for ever; the optimisers
 * flush it, and give the caller's floating-point mode back unchanged. */
static void optimisers_flush_subnormal_moments(void)
{
    float w[4] = {1, 1, 1, 1}, g[4] = {0}, m[4], v[4] = {0}, buf[4];
    for (int i = 0; i < 4; i++) m[i] = buf[i] = 3 * 1.4e-45f; /* three ulps of the smallest subnormal */
    CHECK(m[0] > 0.0f && 0.9f * m[0] == m[0]);                  /* stuck without the flush */
#if defined(__x86_64__) || defined(__SSE__)
    const unsigned before = _mm_getcsr();
#endif
    adam_step(w, g, m, v, 4, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 5);
    sgd_step(w, g, buf, 4, 0.1f, 0.9f, 0.0f, 5);
    for (int i = 0; i < 4; i++) CHECK(m[i] == 0.0f && buf[i] == 0.0f && w[i] == 1.0f);
#if defined(__x86_64__) || defined(__SSE__)
    CHECK(_mm_getcsr() == before);
#endif
    volatile float tiny = 1e-38f;
    CHECK(tiny * 0.01f > 0.0f); /* the caller still computes subnormals */
}

const test_case tests_optim[] = {
    {"optimisers_flush_subnormal_moments", optimisers_flush_subnormal_moments},
    {"sgd_momentum_matches_torch", sgd_momentum_matches_torch},
    {"sgd_plain_matches_torch", sgd_plain_matches_torch},
    {"adam_with_clipping_matches_torch", adam_with_clipping_matches_torch},
    {"clipping_scales_to_max_norm", clipping_scales_to_max_norm},
    {NULL, NULL},
};
