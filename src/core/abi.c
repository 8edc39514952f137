/*
 * recur_abi_check: the layout check a binding calls once at load time.
 *
 * A binding that does not compile against recur.h (Python's ctypes, any
 * other FFI) restates the public structs by hand; if it meets a librecur.so
 * of another version, calls would read and write past those structs. The
 * binding passes the sizes it computed and the version it was written for,
 * and gets one line naming the first thing that differs. The message goes
 * to a plain char buffer, not a recur_error: recur_error's own size is one
 * of the things being checked.
 */
#include <stdio.h>

#include "recur.h"

static const struct {
    const char *name;
    size_t size;
} abi_structs[RECUR_ABI_COUNT] = {
    [RECUR_ABI_ERROR] = {"recur_error", sizeof(recur_error)},
    [RECUR_ABI_RNN_CONFIG] = {"recur_rnn_config", sizeof(recur_rnn_config)},
    [RECUR_ABI_PARAM] = {"recur_param", sizeof(recur_param)},
    [RECUR_ABI_DATASET_STATS] = {"recur_dataset_stats", sizeof(recur_dataset_stats)},
    [RECUR_ABI_MODEL_CONFIG] = {"recur_model_config", sizeof(recur_model_config)},
    [RECUR_ABI_TRAIN_CONFIG] = {"recur_train_config", sizeof(recur_train_config)},
    [RECUR_ABI_BATCH] = {"recur_batch", sizeof(recur_batch)},
    [RECUR_ABI_METRICS] = {"recur_metrics", sizeof(recur_metrics)},
    [RECUR_ABI_FIT_STEP] = {"recur_fit_step", sizeof(recur_fit_step)},
    [RECUR_ABI_FIT_EPOCH] = {"recur_fit_epoch", sizeof(recur_fit_epoch)},
    [RECUR_ABI_FIT_CONFIG] = {"recur_fit_config", sizeof(recur_fit_config)},
    [RECUR_ABI_FIT_RESULT] = {"recur_fit_result", sizeof(recur_fit_result)},
};

recur_status recur_abi_check(int major, int minor, const size_t *sizes, int n, char *message,
                             size_t cap)
{
    char scratch[1];
    if (!message || cap == 0) message = scratch, cap = sizeof scratch;
    message[0] = '\0';
    if (major != RECUR_VERSION_MAJOR || minor != RECUR_VERSION_MINOR) {
        snprintf(message, cap,
                 "librecur %s does not match the binding, written for version %d.%d: "
                 "install the matching library or binding",
                 RECUR_VERSION, major, minor);
        return RECUR_ERR_UNSUPPORTED;
    }
    if (n < 0 || (n > 0 && !sizes)) {
        snprintf(message, cap, "recur_abi_check: %d sizes given%s", n, n > 0 ? " but no array" : "");
        return RECUR_ERR_ARG;
    }
    if (n > RECUR_ABI_COUNT) {
        snprintf(message, cap,
                 "librecur %s knows %d public structs, the binding checks %d: the library is "
                 "older than the binding",
                 RECUR_VERSION, RECUR_ABI_COUNT, n);
        return RECUR_ERR_UNSUPPORTED;
    }
    for (int i = 0; i < n; i++)
        if (sizes[i] != abi_structs[i].size) {
            snprintf(message, cap,
                     "librecur %s: %s is %zu bytes, the binding expects %zu: the library and "
                     "the binding are from different builds",
                     RECUR_VERSION, abi_structs[i].name, abi_structs[i].size, sizes[i]);
            return RECUR_ERR_UNSUPPORTED;
        }
    return RECUR_OK;
}
