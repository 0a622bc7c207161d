/*
 * axle/status.h - status codes and the error record of the axle C API.
 *
 * Every fallible function returns an enum axle_status and, when given a
 * struct axle_err, writes a one-line human-readable message into it. The
 * numeric values are the gRPC canonical codes and never change.
 */
#ifndef AXLE_STATUS_H
#define AXLE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

enum axle_status {
    AXLE_OK = 0,
    AXLE_CANCELLED = 1,
    AXLE_UNKNOWN = 2,
    AXLE_INVALID_ARGUMENT = 3,
    AXLE_DEADLINE_EXCEEDED = 4,
    AXLE_NOT_FOUND = 5,
    AXLE_ALREADY_EXISTS = 6,
    AXLE_PERMISSION_DENIED = 7,
    AXLE_RESOURCE_EXHAUSTED = 8,
    AXLE_FAILED_PRECONDITION = 9,
    AXLE_ABORTED = 10,
    AXLE_OUT_OF_RANGE = 11,
    AXLE_UNIMPLEMENTED = 12,
    AXLE_INTERNAL = 13,
    AXLE_UNAVAILABLE = 14,
    AXLE_DATA_LOSS = 15,
    AXLE_UNAUTHENTICATED = 16,
};

#define AXLE_ERR_MSG_LEN 256

/* Caller-provided error record. code mirrors the returned status. */
struct axle_err {
    enum axle_status code;
    char msg[AXLE_ERR_MSG_LEN];
};

/* Stable lower-case name of a status ("ok", "invalid_argument", ...). */
const char *axle_status_str(enum axle_status s);

#ifdef __cplusplus
}
#endif

#endif
