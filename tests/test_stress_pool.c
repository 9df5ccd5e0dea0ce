/* Concurrency hammer for the pool: two loops on two threads share one pool and offload many
 * short jobs, cancelling them at random points (before submission, right after it, at a random
 * moment by timer, after completion) in both cancel modes. Checks that every future resolves
 * exactly once, every unread result is discarded exactly once, the default mode never resumes
 * a waiter while its job runs and delivers the result of every job that ran, pool statistics
 * add up, and nothing leaks. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


enum { CP_NONE, CP_BEFORE_START, CP_AFTER_SUBMIT, CP_TIMER, CP_AFTER_DONE, CP_N };
enum { BATCH = 256 };

typedef struct op {
    unsigned id;
    uint8_t abandon, point;
    /* touched by workers */
    atomic_int ran, returned, discards, saw_cancelled;
    /* loop thread only */
    uint8_t submitted, resolved, bad_resume, late_cancel_rc;
    intptr_t outcome;
    tt_future *task;
    int64_t timer;
    unsigned spin_us;
} op;

typedef struct lane {
    tt_pool *pool;
    op *ops;
    size_t n;
    uint64_t rng;
    long submit_failures;
} lane;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static intptr_t job_fn(void *arg)
{
    op *o = arg;
    atomic_fetch_add(&o->ran, 1);
    /* Some jobs take a little while and watch for a cooperative stop. */
    for (unsigned i = 0; i < o->spin_us / 10 && !tt_job_cancelled(); i++)
        usleep(10);
    if (tt_job_cancelled())
        atomic_store(&o->saw_cancelled, 1);
    atomic_store(&o->returned, 1);
    return (intptr_t)o->id + 1;
}

static void on_discard(intptr_t result, void *arg)
{
    op *o = arg;
    ck_assert_int_eq(result, (intptr_t)o->id + 1);
    atomic_fetch_add(&o->discards, 1);
}

static void on_resolved(tt_future *f, void *arg)
{
    op *o = arg;
    o->resolved++;
    o->outcome = tt_result(f);
    if (o->point == CP_AFTER_DONE)
        o->late_cancel_rc = (uint8_t)tt_cancel(f, NULL); /* done: must be 0 */
}

static tt_pool *POOL;

static intptr_t op_task(void *arg)
{
    op *o = arg;
    tt_job_opts jo = {.flags = o->abandon ? TT_JOB_ABANDON_ON_CANCEL : 0, .discard = on_discard};
    tt_future *f = tt_to_thread_on(POOL, &jo, job_fn, o);
    if (!f)
        return -errno;
    o->submitted = 1;
    ck_assert_int_eq(tt_on_done(f, on_resolved, o), 0);
    if (o->point == CP_AFTER_SUBMIT)
        ck_assert_int_eq(tt_cancel(f, NULL), 1);
    intptr_t r = tt_await(f);
    /* The default mode keeps the waiter suspended while fn runs. */
    if (!o->abandon && atomic_load(&o->ran) && !atomic_load(&o->returned))
        o->bad_resume = 1;
    return r;
}

static void cancel_task_cb(void *arg)
{
    op *o = arg;
    o->timer = 0;
    tt_cancel(o->task, NULL);
}

static intptr_t lane_main(void *arg)
{
    lane *l = arg;
    tt_loop *loop = tt_loop_current();
    tt_future *batch[BATCH];
    for (size_t base = 0; base < l->n; base += BATCH) {
        size_t m = l->n - base < BATCH ? l->n - base : BATCH;
        for (size_t k = 0; k < m; k++) {
            op *o = &l->ops[base + k];
            o->task = tt_spawn(op_task, o);
            ck_assert_ptr_nonnull(o->task);
            batch[k] = o->task;
            if (o->point == CP_BEFORE_START)
                ck_assert_int_eq(tt_cancel(o->task, NULL), 1);
            else if (o->point == CP_TIMER) {
                int64_t delay = (int64_t)(next_rand(&l->rng) % 300) * 1000;
                o->timer = tt_call_later(loop, delay, cancel_task_cb, o);
                ck_assert(o->timer > 0);
            }
        }
        ck_assert_int_eq(tt_gather(batch, m, NULL, TT_GATHER_RETURN_ERRORS), 0);
        for (size_t k = 0; k < m; k++) {
            op *o = &l->ops[base + k];
            if (o->timer) /* not fired yet: it must not fire on a released task */
                ck_assert_int_eq(tt_call_cancel(loop, o->timer), 1);
            if (tt_result(o->task) < 0 && tt_result(o->task) != -ECANCELED)
                l->submit_failures++;
            tt_unref(o->task);
            o->task = NULL;
        }
    }
    return 0;
}

static void *lane_thread(void *arg)
{
    intptr_t r = -1;
    ck_assert_int_eq(tt_run(lane_main, arg, &r), 0);
    ck_assert_int_eq(r, 0);
    return NULL;
}

START_TEST(offload_and_cancel_from_two_loops)
{
    size_t per_lane = (size_t)(50000 * tu_scale());
    if (per_lane < 2000)
        per_lane = 2000;
    tt_pool_opts po = {.max_threads = 4, .name = "stress"};
    POOL = tt_pool_new(&po);
    ck_assert_ptr_nonnull(POOL);
    lane lanes[2];
    for (int t = 0; t < 2; t++) {
        lanes[t] = (lane){.pool = POOL, .n = per_lane, .rng = 0x9e3779b97f4a7c15ull + (uint64_t)t};
        lanes[t].ops = calloc(per_lane, sizeof(op));
        ck_assert_ptr_nonnull(lanes[t].ops);
        for (size_t i = 0; i < per_lane; i++) {
            op *o = &lanes[t].ops[i];
            uint64_t r = next_rand(&lanes[t].rng);
            o->id = (unsigned)i;
            o->abandon = (uint8_t)(r & 1);
            o->point = (uint8_t)((r >> 1) % CP_N);
            o->spin_us = (r >> 8) % 4 == 0 ? (unsigned)((r >> 12) % 200) : 0;
        }
    }
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, lane_thread, &lanes[t]), 0);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);

    /* Abandoned jobs may still be finishing: wait until the pool is quiet. */
    tt_pool_stats s;
    for (int i = 0; i < 3000; i++) {
        s = tu_pool_stats(POOL);
        if (s.running == 0 && s.queued == 0)
            break;
        usleep(10000);
    }
    usleep(100000); /* discards of the last late results */
    s = tu_pool_stats(POOL);

    size_t submitted = 0, by_point[CP_N] = {0}, cancelled = 0, succeeded = 0, discarded = 0;
    for (int t = 0; t < 2; t++) {
        ck_assert_int_eq(lanes[t].submit_failures, 0);
        for (size_t i = 0; i < per_lane; i++) {
            op *o = &lanes[t].ops[i];
            int ran = atomic_load(&o->ran), disc = atomic_load(&o->discards);
            by_point[o->point]++;
            ck_assert_msg(ran <= 1, "op %u ran %d times", o->id, ran);
            ck_assert_msg(!o->bad_resume, "op %u: waiter resumed while its job ran", o->id);
            if (o->point == CP_BEFORE_START)
                ck_assert_msg(!o->submitted && !ran, "op %u cancelled before start but ran", o->id);
            if (!o->submitted) {
                ck_assert_int_eq(o->resolved, 0);
                ck_assert_int_eq(ran, 0);
                continue;
            }
            submitted++;
            ck_assert_msg(o->resolved == 1, "op %u resolved %d times", o->id, o->resolved);
            if (o->outcome >= 0) {
                succeeded++;
                ck_assert_int_eq(o->outcome, (intptr_t)o->id + 1);
                ck_assert_int_eq(ran, 1);
                ck_assert_msg(disc == 0, "op %u: read result also discarded", o->id);
            } else {
                ck_assert_int_eq(o->outcome, -ECANCELED);
                /* 0.2: a default-mode job that ran ends with what fn returned (never
                 * -ECANCELED here): only a job cancelled before it started ends cancelled. */
                if (!o->abandon)
                    ck_assert_msg(ran == 0, "op %u: ran, yet its result was lost", o->id);
                cancelled++;
                /* A result nobody reads goes to discard exactly once; no result, no discard. */
                ck_assert_msg(disc == ran, "op %u: ran %d, discarded %d", o->id, ran, disc);
                discarded += (size_t)disc;
            }
            if (o->point == CP_AFTER_DONE)
                ck_assert_int_eq(o->late_cancel_rc, 0);
        }
    }
    ck_assert_uint_eq(submitted + by_point[CP_BEFORE_START], 2 * per_lane);
    ck_assert_uint_eq(succeeded + cancelled, submitted);
    ck_assert_uint_gt(cancelled, 0);
    ck_assert_uint_gt(succeeded, 0);
    ck_assert_uint_eq(s.completed + s.cancelled, submitted);
    ck_assert_uint_eq(s.queued, 0);
    ck_assert_uint_eq(s.running, 0);
    ck_assert_int_eq(tt_pool_free(POOL), 0);
    for (int t = 0; t < 2; t++)
        free(lanes[t].ops);
    tu_assert_no_leaks();
}
END_TEST

static Suite *stress_suite(void)
{
    Suite *s = suite_create("stress_pool");
    TCase *tc = tcase_create("stress_pool");
    tcase_set_timeout(tc, 280);
    tcase_add_test(tc, offload_and_cancel_from_two_loops);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(stress_suite)
