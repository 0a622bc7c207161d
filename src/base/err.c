/*
 * err.c - status names and error-record formatting.
 *
 * axle_status_str() is the only place where names for codes live.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"

static const char *const status_names[] = {
    [AXLE_OK] = "ok",
    [AXLE_CANCELLED] = "cancelled",
    [AXLE_UNKNOWN] = "unknown",
    [AXLE_INVALID_ARGUMENT] = "invalid_argument",
    [AXLE_DEADLINE_EXCEEDED] = "deadline_exceeded",
    [AXLE_NOT_FOUND] = "not_found",
    [AXLE_ALREADY_EXISTS] = "already_exists",
    [AXLE_PERMISSION_DENIED] = "permission_denied",
    [AXLE_RESOURCE_EXHAUSTED] = "resource_exhausted",
    [AXLE_FAILED_PRECONDITION] = "failed_precondition",
    [AXLE_ABORTED] = "aborted",
    [AXLE_OUT_OF_RANGE] = "out_of_range",
    [AXLE_UNIMPLEMENTED] = "unimplemented",
    [AXLE_INTERNAL] = "internal",
    [AXLE_UNAVAILABLE] = "unavailable",
    [AXLE_DATA_LOSS] = "data_loss",
    [AXLE_UNAUTHENTICATED] = "unauthenticated",
};

const char *axle_status_str(enum axle_status s)
{
    if ((unsigned)s < sizeof(status_names) / sizeof(status_names[0]) &&
        status_names[s] != NULL)
        return status_names[s];
    return "unknown";
}

enum axle_status axle_err_set(struct axle_err *err, enum axle_status code,
                              const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void axle_err_prefix(struct axle_err *err, const char *fmt, ...)
{
    char head[AXLE_ERR_MSG_LEN];
    char tail[AXLE_ERR_MSG_LEN];
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    size_t hl = strlen(head), tl;

    memcpy(tail, err->msg, sizeof(tail));
    tail[sizeof(tail) - 1] = '\0';
    tl = strlen(tail);
    if (hl >= sizeof(err->msg))
        hl = sizeof(err->msg) - 1;
    if (hl + tl >= sizeof(err->msg))
        tl = sizeof(err->msg) - 1 - hl;
    memcpy(err->msg, head, hl);
    memcpy(err->msg + hl, tail, tl);
    err->msg[hl + tl] = '\0';
}

void axle_err_clear(struct axle_err *err)
{
    if (err != NULL) {
        err->code = AXLE_OK;
        err->msg[0] = '\0';
    }
}
