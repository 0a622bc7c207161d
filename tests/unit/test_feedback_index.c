/*
 * test_feedback_index.c - serve/feedback.h's index of recent predictions
 * against a reference model: a ring of the last `capacity` inserts where
 * an id is remembered exactly when its newest insert is still in the ring
 * (a reused id keeps only its newest answer). Ids come from a pool small
 * enough that reuse, eviction of reused ids and long probe chains with
 * backward-shift deletion all happen many times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/feedback.h"
#include "serve/monitor.h"
#include "serve/repo.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t make_id(char *buf, unsigned k)
{
    /* Varying lengths, shared prefixes: ids differ late as UUIDs may not. */
    return (size_t)snprintf(buf, 64, "request-%0*u", (int)(4 + k % 9), k);
}

/* A served version "iris" 1 with a monitor, as the index reads it. */
struct fixture {
    struct served_model m;
    struct model_version v;
    struct monitor mon;
};

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    strcpy(f->m.name, "iris");
    strcpy(f->v.version_str, "1");
    f->v.model = &f->m;
    f->v.mon = &f->mon;
}

static void check_against_model(size_t cap, unsigned pool, unsigned inserts)
{
    struct fixture fx;
    fixture_init(&fx);
    struct model_version v = fx.v;
    struct feedback_index *fi = feedback_index_new(cap, UINT64_MAX);
    assert_non_null(fi);
    /* last[k]: insert number of id k's newest answer + 1 (0: never). */
    unsigned *last = calloc(pool, sizeof(*last));
    assert_non_null(last);
    char id[64];
    for (unsigned t = 1; t <= inserts; t++) {
        unsigned k = (unsigned)(next_rand() % pool);
        uint64_t val = k;
        feedback_remember_at(fi, id, make_id(id, k), &v, &val, 1, 1, (uint64_t)t, 0);
        last[k] = t;
        if (t % 997 == 0 || t == inserts) {
            size_t live = 0;
            for (unsigned q = 0; q < pool; q++) {
                int want = last[q] && t - last[q] < cap;
                uint64_t when = 0;
                char model[REPO_MAX_NAME + 1] = "";
                int got = feedback_index_find(fi, id, make_id(id, q), &when, model);
                if (got != want)
                    fail_msg("after %u inserts id %u: found %d, expected %d", t, q, got, want);
                if (want) {
                    assert_int_equal(when, last[q]);
                    assert_string_equal(model, "iris");
                    live++;
                }
            }
            assert_int_equal(feedback_index_live(fi), live);
        }
    }
    assert_int_equal(feedback_index_find(fi, "request-never", 13, NULL, NULL), 0);
    free(last);
    feedback_index_free(fi);
}

static void ring_forgets_the_oldest_and_keeps_every_recent_id(void **state)
{
    (void)state;
    check_against_model(1000, 50000, 20000); /* mostly unique ids */
}

static void a_reused_id_keeps_its_newest_answer_until_that_one_is_evicted(void **state)
{
    (void)state;
    check_against_model(1000, 1500, 30000); /* most inserts reuse an id */
    check_against_model(64, 70, 5000);
    check_against_model(1, 3, 200);         /* one slot */
}

static void bad_ids_are_ignored(void **state)
{
    (void)state;
    struct fixture fx;
    fixture_init(&fx);
    struct model_version v = fx.v;
    struct feedback_index *fi = feedback_index_new(16, UINT64_MAX);
    uint64_t val = 1;
    char longid[200];
    memset(longid, 'a', sizeof(longid));
    feedback_remember_at(fi, longid, sizeof(longid), &v, &val, 1, 1, 1, 0); /* > 128 bytes */
    feedback_remember_at(fi, "x", 0, &v, &val, 1, 1, 1, 0);                 /* empty */
    feedback_remember_at(fi, "x", 1, &v, &val, 0, 1, 1, 0);                 /* no values */
    assert_int_equal(feedback_index_live(fi), 0);
    assert_int_equal(feedback_index_find(fi, longid, sizeof(longid), NULL, NULL), 0);
    feedback_index_free(fi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_forgets_the_oldest_and_keeps_every_recent_id),
        cmocka_unit_test(a_reused_id_keeps_its_newest_answer_until_that_one_is_evicted),
        cmocka_unit_test(bad_ids_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
