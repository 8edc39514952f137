#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

recur_status recur_fail(recur_error *err, recur_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        /* Format into a copy first: callers may pass err->message itself
         * as an argument, to prefix it with context. */
        char buf[sizeof err->message];
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        err->status = status;
        memcpy(err->message, buf, sizeof buf);
    }
    return status;
}

const char *recur_status_string(recur_status status)
{
    switch (status) {
    case RECUR_OK: return "ok";
    case RECUR_ERR_ARG: return "invalid argument";
    case RECUR_ERR_NOMEM: return "out of memory";
    case RECUR_ERR_IO: return "input/output error";
    case RECUR_ERR_FORMAT: return "malformed model file";
    case RECUR_ERR_DATA: return "malformed data";
    case RECUR_ERR_NUMERIC: return "numerical fault";
    case RECUR_ERR_UNSUPPORTED: return "unsupported";
    case RECUR_ERR_NETWORK: return "network error";
    case RECUR_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

const char *recur_version(void) { return RECUR_VERSION; }
