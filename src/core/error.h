/* Internal helpers for filling recur_error. */
#ifndef RECUR_CORE_ERROR_H
#define RECUR_CORE_ERROR_H
#include "recur.h"

/* Set err (if not NULL) to status and a printf-style message; returns status. */
recur_status recur_fail(recur_error *err, recur_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Evaluate a call and return its status from the caller when it failed. */
#define RECUR_TRY(call)                                                       \
    do {                                                                      \
        recur_status try_status_ = (call);                                    \
        if (try_status_ != RECUR_OK) return try_status_;                      \
    } while (0)

#endif
