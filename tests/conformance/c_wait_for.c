/* Conformance, section 7 (C042-C048): tt_wait_for gives -ETIMEDOUT only once the inner has ended
 * cancelled, lets an error raised in the inner's cleanup win, forwards the caller's cancellation,
 * and stays cancellable while a stubborn inner ignores the timeout, forwarding the caller's
 * cancel to it and returning only once it has ended (3.12). */
#include "conflog.h"

static const char *val(intptr_t r)
{
    return r >= 0 ? (const char *)r : cl_err(r, NULL);
}

/* ------------------------------------------------------------------------------ C042 */

static intptr_t c042_main(void *arg)
{
    (void)arg;
    static struct job ok = {"ok", 10, 0, NULL}, slow = {"slow-but-fine", 30, 0, NULL},
                      bad = {"bad", 10, E1, NULL};
    tt_future *t = tt_spawn(job_run, &ok);
    cl_log("wait_for -> %s", val(tt_wait_for(tt_ref(t), TT_MS(300))));
    cl_log("task: %s", cl_outcome_s(t));
    tt_unref(t);
    cl_log("timeout=None -> %s", val(tt_wait_for(tt_spawn(job_run, &slow), TT_FOREVER)));
    intptr_t r = tt_wait_for(tt_spawn(job_run, &bad), TT_MS(300));
    cl_log("inner error -> %s", val(r));
    if (tt_sleep(TT_MS(350)) == 0)
        cl_log("no late TimeoutError/cancellation");
    return 0;
}

START_TEST(c042_wait_for_basics)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c042_main, NULL), 0);
    cl_expect("wait_for -> ok\n"
              "task: result 'ok'\n"
              "timeout=None -> slow-but-fine\n"
              "inner error -> AppError('E1')\n"
              "no late TimeoutError/cancellation\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C044 */

static int c044_started;

static intptr_t c044_quick(void *arg)
{
    (void)arg;
    return STR("q");
}

static intptr_t c044_foo(void *arg)
{
    (void)arg;
    c044_started++;
    return 1;
}

static intptr_t c044_inner(void *arg)
{
    (void)arg;
    intptr_t r = tt_sleep(TT_SEC(1));
    if (r == -ECANCELED) {
        tt_sleep(TT_MS(10));
        cl_log("running task: cleanup done");
    }
    return r;
}

static intptr_t c044_main(void *arg)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    tt_future_set(f, STR("done"));
    cl_log("completed future -> %s", val(tt_wait_for(f, 0)));
    tt_future *t = tt_spawn(c044_quick, NULL);
    tt_yield();
    cl_log("finished task -> %s", val(tt_wait_for(t, 0)));
    tt_future *g = tt_future_new(NULL);
    tt_future_set(g, E1);
    cl_log("failed future -> %s", val(tt_wait_for(g, 0)));

    /* A coroutine handed to wait_for is, in C, a task spawned but not yet started: timeout 0
     * cancels it before its first step. Python's timeout -1 is not ported: a negative duration
     * is TT_FOREVER (no limit) in C. */
    c044_started = 0;
    cl_log("coroutine, timeout 0 -> %s", val(tt_wait_for(tt_spawn(c044_foo, NULL), 0)));
    cl_log("coroutine bodies started: %d", c044_started);

    tt_future *r = tt_spawn(c044_inner, NULL);
    tt_sleep(TT_MS(5));
    cl_log("running task -> %s", val(tt_wait_for(tt_ref(r), 0)));
    cl_log("running task: %s", cl_outcome_s(r));
    tt_unref(r);
    return 0;
}

START_TEST(c044_wait_for_zero_timeout)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c044_main, NULL), 0);
    cl_expect("completed future -> done\n"
              "finished task -> q\n"
              "failed future -> AppError('E1')\n"
              "coroutine, timeout 0 -> TimeoutError()\n"
              "coroutine bodies started: 0\n" /* Python: [] (and the timeout -1 case) */
              "running task: cleanup done\n"
              "running task -> TimeoutError()\n"
              "running task: cancelled\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C046 */

static intptr_t c046_inner(void *arg)
{
    (void)arg;
    tt_sleep(TT_SEC(1));
    return E_CLEANUP; /* finally: raise AppError('E-cleanup') */
}

static intptr_t c046_main(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(c046_inner, NULL);
    cl_log("caller got %s", val(tt_wait_for(tt_ref(t), TT_MS(10))));
    cl_log("inner: %s", cl_outcome_s(t));
    tt_unref(t);
    return 0;
}

START_TEST(c046_cleanup_error_replaces_timeout)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c046_main, NULL), 0);
    cl_expect("caller got AppError('E-cleanup')\n"
              "inner: error AppError('E-cleanup')\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C047 */

static intptr_t c047_inner(void *arg)
{
    (void)arg;
    intptr_t r = tt_sleep(TT_SEC(1));
    if (r == -ECANCELED)
        cl_log("inner cancelled");
    return r;
}

static intptr_t c047_caller(void *t)
{
    intptr_t r = tt_wait_for(tt_ref(t), TT_MS(500));
    cl_log("caller got %s", cl_err(r, tt_cancel_message(tt_current_task())));
    return r;
}

static intptr_t c047_main(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(c047_inner, NULL);
    tt_future *c = tt_spawn(c047_caller, t);
    tt_sleep(TT_MS(10));
    tt_cancel(c, NULL);
    tt_wait(&c, 1, TT_ALL_COMPLETED, TT_FOREVER);
    cl_log("caller cancelled: %s inner cancelled: %s", cl_bool(tt_cancelled(c)),
           cl_bool(tt_cancelled(t)));
    tt_unref(t);
    tt_unref(c);
    return 0;
}

START_TEST(c047_cancel_caller_cancels_inner)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c047_main, NULL), 0);
    cl_expect("inner cancelled\n"
              "caller got CancelledError()\n"
              "caller cancelled: True inner cancelled: True\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C048 */

static intptr_t c048_inner(void *arg)
{
    (void)arg;
    if (tt_sleep(TT_SEC(1)) == -ECANCELED) {
        cl_log("inner: timeout cancel caught, continuing");
        if (tt_sleep(TT_MS(200)) == -ECANCELED)
            return -ECANCELED; /* Python's CancelledError propagates out of the except block */
    }
    cl_log("inner: returning 42");
    return 42;
}

static intptr_t c048_wait_for_task(void *it)
{
    return tt_wait_for(tt_ref(it), TT_MS(20));
}

static intptr_t c048_main(void *arg)
{
    (void)arg;
    tt_future *it = tt_spawn(c048_inner, NULL);
    tt_future *w = tt_spawn(c048_wait_for_task, it);
    tt_sleep(TT_MS(100));
    cl_log("cancelling the wait_for task");
    tt_cancel(w, NULL);
    if (tt_await(tt_ref(w)) == -ECANCELED)
        cl_log("wait_for task cancelled; inner done: %s", cl_bool(tt_done(it)));
    intptr_t r = tt_await(tt_ref(it));
    if (r >= 0)
        cl_log("inner result %ld", (long)r);
    else
        cl_log("inner result %s", cl_err(r, NULL));
    tt_unref(w);
    tt_unref(it);
    return 0;
}

START_TEST(c048_wait_for_cancellable_while_inner_stubborn)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c048_main, NULL), 0);
    /* 3.12's outcome (DESIGN.md, "Contract changes for 0.2"): the second cancel is forwarded to
     * the inner, which ends cancelled before tt_wait_for returns. */
    cl_expect("inner: timeout cancel caught, continuing\n"
              "cancelling the wait_for task\n"
              "wait_for task cancelled; inner done: True\n"
              "inner result CancelledError()\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *wait_for_suite(void)
{
    Suite *s = suite_create("conformance-wait-for");
    TCase *tc = tcase_create("wait_for");
    tcase_add_test(tc, c042_wait_for_basics);
    tcase_add_test(tc, c044_wait_for_zero_timeout);
    tcase_add_test(tc, c046_cleanup_error_replaces_timeout);
    tcase_add_test(tc, c047_cancel_caller_cancels_inner);
    tcase_add_test(tc, c048_wait_for_cancellable_while_inner_stubborn);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(wait_for_suite)
