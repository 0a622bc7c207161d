/*
 * infer_mon.c - what a successful inference leaves behind for monitoring
 * besides its answer: a request id (a version-4 UUID made here when the
 * client sent none and the version is monitored, so that the client can
 * send its label later), the feedback index entry and the drift sample.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "serve/feedback.h"
#include "serve/infer.h"
#include "serve/monitor.h"

static __thread uint64_t rng_s[2];

uint64_t infer_rand(void)
{
    if (!rng_s[0] && !rng_s[1]) {
        if (getrandom(rng_s, sizeof(rng_s), 0) != (ssize_t)sizeof(rng_s) ||
            (!rng_s[0] && !rng_s[1])) {
            rng_s[0] = http_now_ns() | 1;
            rng_s[1] = (uint64_t)(uintptr_t)&rng_s;
        }
    }
    /* xorshift128+ */
    uint64_t x = rng_s[0], y = rng_s[1];
    rng_s[0] = y;
    x ^= x << 23;
    rng_s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return rng_s[1] + y;
}

/* A version-4 UUID (RFC 9562 section 5.4) in out[37]. Unique, not secret:
 * ids are keys for feedback, never credentials. */
void infer_make_uuid(char *out)
{
    uint64_t a = infer_rand(), b = infer_rand();
    unsigned char u[16];
    memcpy(u, &a, 8);
    memcpy(u + 8, &b, 8);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[u[i] >> 4];
        out[k++] = hex[u[i] & 15];
    }
    out[k] = 0;
}

void infer_ensure_id(struct job *j)
{
    int remembered = j->v->mon && j->v->mon->output >= 0 && j->srv->feedback;
    if (!j->id && (j->log_this || remembered)) {
        infer_make_uuid(j->uuid);
        j->id = j->uuid;
        j->id_len = 36;
    }
    if (remembered && j->id)
        feedback_prefetch(j->srv->feedback, j->id, j->id_len); /* inserted in infer_finish */
}

void infer_finish(struct job *j, struct http_req *r, const struct axle_tensor *out,
                  const char *ct, const char *hdr, const struct http_iov *iov, int n_iov)
{
    struct model_version *v = j->v;
    struct monitor *m = v->mon;
    if (m) {
        if (m->output >= 0 && j->id && j->srv->feedback) {
            uint64_t vals[MON_MAX_VALUES];
            int64_t rows;
            int n = monitor_predictions(m, &out[m->output], vals, &rows);
            if (n > 0)
                feedback_remember_at(j->srv->feedback, j->id, j->id_len, v, vals, n, rows,
                                     j->t_end, 0);
        }
        if (m->window && j->have_in[m->drift_input])
            monitor_observe_inputs(m, &j->in[m->drift_input]);
    }
    if (j->log_this)
        infer_log_respond(j, r, out, ct, hdr, iov, n_iov);
    else
        http_respond_iov(r, 200, ct, hdr, iov, n_iov);
}
