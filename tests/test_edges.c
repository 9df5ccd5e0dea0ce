/* Edge cases an independent review found: objects freed under their waiters, a loop freed from
 * its own callback, durations near INT64_MAX, oversized options, outcomes below INT_MIN. */
#include "testutil.h"

#include <limits.h>
#include <stdlib.h>

/* tt_timeout_when's deadline, asserting the call itself succeeded. */
static int64_t when_of(const tt_timeout *t)
{
    int64_t d = 12345;
    ck_assert_int_eq(tt_timeout_when(t, &d), 0);
    return d;
}


/* ---------------------------------------------------- freed under a woken waiter */

static tt_lock *LOCK;
static tt_queue *QUEUE;
static tt_semaphore *SEM;

static intptr_t lock_waiter(void *arg)
{
    (void)arg;
    return tt_lock_acquire(LOCK);
}

static intptr_t main_lock_freed(void *arg)
{
    (void)arg;
    LOCK = tt_lock_new();
    ck_assert_int_eq(tt_lock_acquire(LOCK), 0);
    tt_future *w = tt_spawn(lock_waiter, NULL);
    ck_assert_int_eq(tt_yield(), 0);            /* the waiter parks */
    ck_assert_int_eq(tt_lock_release(LOCK), 0); /* hands it the lock; it has not run yet */
    tt_lock_free(LOCK);
    return tt_await(w); /* it must not touch the freed lock */
}

START_TEST(lock_freed_after_handing_over)
{
    ck_assert_int_eq(tu_run(main_lock_freed, NULL), -EIDRM);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t queue_getter(void *arg)
{
    void **slot = arg;
    return tt_queue_get(QUEUE, slot);
}

static intptr_t main_queue_freed(void *arg)
{
    (void)arg;
    void *got = (void *)1;
    QUEUE = tt_queue_new(0);
    tt_future *g = tt_spawn(queue_getter, &got);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_queue_try_put(QUEUE, (void *)7), 0); /* wakes the getter */
    tt_queue_free(QUEUE);
    intptr_t r = tt_await(g);
    ck_assert_ptr_eq(got, (void *)1); /* nothing written through a freed queue */
    return r;
}

START_TEST(queue_freed_after_waking_a_getter)
{
    ck_assert_int_eq(tu_run(main_queue_freed, NULL), -EIDRM);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t sem_waiter(void *arg)
{
    (void)arg;
    return tt_semaphore_acquire(SEM);
}

static intptr_t main_sem_freed(void *arg)
{
    (void)arg;
    SEM = tt_semaphore_new(0);
    tt_future *w = tt_spawn(sem_waiter, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_semaphore_release(SEM), 0);
    tt_semaphore_free(SEM);
    return tt_await(w);
}

START_TEST(semaphore_freed_after_handing_a_unit)
{
    ck_assert_int_eq(tu_run(main_sem_freed, NULL), -EIDRM);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------ the loop's own callbacks */

static int FREE_RC = 1;

static void free_from_callback(void *loop) { FREE_RC = tt_loop_free(loop); }

START_TEST(loop_free_from_its_callback_is_eperm)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_call_soon(loop, free_from_callback, loop), 0);
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(FREE_RC, -EPERM);
    ck_assert_int_eq(tt_future_set(f, 3), 0);
    ck_assert_int_eq(tt_loop_run_until(loop, f), 3); /* the loop still works */
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* --------------------------------------------------------- durations near INT64_MAX */

static intptr_t naps(void *arg)
{
    return tt_sleep((int64_t)(intptr_t)arg) == 0 ? 5 : -1;
}

static intptr_t wait_huge(void *arg)
{
    tt_future *f = arg;
    return tt_wait(&f, 1, TT_ALL_COMPLETED, INT64_MAX);
}

static intptr_t main_huge_timeouts(void *arg)
{
    (void)arg;
    /* A huge timeout is as good as none: no wrap into the past. */
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_wait_for(tt_spawn(naps, (void *)(intptr_t)TT_MS(30)), INT64_MAX), 5);
    ck_assert_int_ge(tt_now() - t0, TT_MS(25));
    /* A waiter with a huge deadline does not stop the loop's other timers. */
    tt_future *never = tt_future_new(NULL);
    tt_future *w = tt_spawn(wait_huge, never);
    t0 = tt_now();
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    ck_assert_int_lt(tt_now() - t0, TT_SEC(2));
    ck_assert_int_eq(tt_future_set(never, 1), 0);
    ck_assert_int_eq(tt_await(w), 1);
    tt_unref(never);
    /* Sleeping and calling back "for ever" can still be cancelled. */
    tt_future *s = tt_spawn(naps, (void *)(intptr_t)INT64_MAX);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_cancel(s, NULL), 1);
    ck_assert_int_eq(tt_await(s), -1);
    int64_t id = tt_call_later(tt_loop_current(), INT64_MAX, free, NULL);
    ck_assert_uint_ne(id, 0);
    ck_assert_int_eq(tt_call_cancel(tt_loop_current(), id), 1);
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, INT64_MAX), 0);
    ck_assert_int_eq(when_of(&t), INT64_MAX);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    ck_assert_int_eq(tt_timeout_exit(&t, 0), 0);
    return 0;
}

START_TEST(huge_timeouts_saturate)
{
    ck_assert_int_eq(tu_run(main_huge_timeouts, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ---------------------------------------------------------------- bad sizes, codes */

START_TEST(oversized_options_are_einval)
{
    tt_loop_opts o = {.stack_size = SIZE_MAX};
    errno = 0;
    ck_assert_ptr_null(tt_loop_new(&o));
    ck_assert_int_eq(errno, EINVAL);
    o.stack_size = ((size_t)1 << 30) + 1;
    ck_assert_ptr_null(tt_loop_new(&o));
    o.stack_size = 0;
    o.ring_entries = 1u << 20;
    ck_assert_ptr_null(tt_loop_new(&o));
    ck_assert_int_eq(errno, EINVAL);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t very_negative(void *arg)
{
    (void)arg;
    return -((intptr_t)1 << 32); /* below INT_MIN */
}

static intptr_t main_truncation(void *arg)
{
    (void)arg;
    tt_future *c = tt_spawn(very_negative, NULL);
    int rc = tt_gather(&c, 1, NULL, 0);
    ck_assert_int_lt(rc, 0); /* a failure must not come back as success */
    tt_unref(c);
    tt_group *g = tt_group_new();
    {
        tt_future *kid = tt_group_spawn(g, very_negative, NULL);
        ck_assert_ptr_nonnull(kid);
        tt_unref(kid);
    }
    rc = tt_group_join(g);
    ck_assert_int_lt(rc, 0);
    tt_group_free(g);
    return 0;
}

START_TEST(outcomes_below_int_min_stay_failures)
{
    ck_assert_int_eq(tu_run(main_truncation, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

static Suite *edges_suite(void)
{
    Suite *s = suite_create("edges");
    TCase *tc = tcase_create("edges");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lock_freed_after_handing_over);
    tcase_add_test(tc, queue_freed_after_waking_a_getter);
    tcase_add_test(tc, semaphore_freed_after_handing_a_unit);
    tcase_add_test(tc, loop_free_from_its_callback_is_eperm);
    tcase_add_test(tc, huge_timeouts_saturate);
    tcase_add_test(tc, oversized_options_are_einval);
    tcase_add_test(tc, outcomes_below_int_min_stay_failures);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(edges_suite)
