/*
 * err.h - helpers to fill a struct axle_err.
 *
 * axle_err_set() formats the message (truncating at AXLE_ERR_MSG_LEN) and
 * returns the code, so call sites read `return axle_err_set(err, CODE, ...)`.
 * err may be NULL.
 */
#ifndef AXLE_BASE_ERR_H
#define AXLE_BASE_ERR_H

#include "axle/status.h"

enum axle_status axle_err_set(struct axle_err *err, enum axle_status code,
                              const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context ("node 'conv1': ") to an existing message. */
void axle_err_prefix(struct axle_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void axle_err_clear(struct axle_err *err);

#endif
