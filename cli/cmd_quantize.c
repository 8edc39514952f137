/* recur quantize MODEL -o OUT --dtype int8|bf16: reduced-precision weights
 * for inference (recur_model_quantize). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct quant_opts {
    const char *output;
    int dtype; /* index into dtype_choices */
} quant_opts;

static const char *const dtype_choices[] = {"int8", "bf16", NULL};

static const char summary[] =
    "Write a copy of MODEL whose recurrent and head weight matrices are int8 (one\n"
    "scale per output row) or bfloat16, for faster inference: predict, eval, sample\n"
    "and the library's runners read it like any model file and run the recurrent\n"
    "products on the reduced weights. Embeddings and biases stay fp32; training\n"
    "refuses a quantized model (train the fp32 one and quantize again). The format is\n"
    "in docs/FORMAT.md (PyTorch loads it with safetensors).";

enum { QUANT_SPECS = 3 };

static void quant_table(arg_command *cmd, arg_spec *s, quant_opts *o)
{
    *o = (quant_opts){NULL, 0};
    arg_spec specs[] = {
        {"--output", "-o", ARG_STRING, &o->output, 0, 0, 0, 0, NULL, "FILE", "where the quantized model goes (default MODEL's name with .int8 or .bf16 before .safetensors)", 0},
        {"--dtype", NULL, ARG_CHOICE, &o->dtype, 0, 0, 0, 0, dtype_choices, "int8|bf16", "weight precision", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == QUANT_SPECS * sizeof specs[0], "QUANT_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"quantize", "recur quantize MODEL [-o FILE] [--dtype int8|bf16]", summary, s, 1, 1};
}

CLI_DEFINE_TABLE(cmd_quantize_table, quant_table, quant_opts, QUANT_SPECS)

int cmd_quantize(int argc, char **argv)
{
    quant_opts o;
    arg_spec specs[QUANT_SPECS];
    arg_command cmd;
    quant_table(&cmd, specs, &o);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) return rc;
    recur_dtype dt = o.dtype == 1 ? RECUR_DTYPE_BF16 : RECUR_DTYPE_INT8;
    char *out = NULL;
    recur_error err;
    recur_model *m = NULL;
    rc = EXIT_RUNTIME;
    if (!o.output) {
        /* model.safetensors -> model.int8.safetensors */
        const char *in = pos[0], *ext = ".safetensors";
        size_t n = strlen(in), e = strlen(ext);
        size_t stem = n > e && strcmp(in + n - e, ext) == 0 ? n - e : n;
        out = malloc(stem + 32);
        if (!out) {
            cli_error("out of memory");
            goto done;
        }
        snprintf(out, stem + 32, "%.*s.%s%s", (int)stem, in, recur_dtype_name(dt), ext);
    }
    const char *path = o.output ? o.output : out;
    if (cli_check_writable(path, "output")) goto done;
    if (recur_model_load(pos[0], &m, &err) || recur_model_quantize(m, dt, &err) ||
        recur_model_save(m, path, &err)) {
        cli_lib_error(NULL, &err);
        goto done;
    }
    printf("%s: %s weights -> %s\n", pos[0], recur_dtype_name(dt), path);
    rc = EXIT_OK;
done:
    recur_model_free(m);
    free(out);
    free(pos);
    return rc;
}
