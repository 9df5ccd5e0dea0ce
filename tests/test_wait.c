/* Unit suite for the waiting combinators: tt_wait (the three modes, timeouts, duplicates, a
 * cancelled waiter), tt_as_completed (completion order, timeout, empty input, duplicates,
 * cancellation), tt_wait_for (timeouts, polling, swallowed and replaced cancellations, a
 * cancelled caller, a stubborn inner) and tt_shield; bad input and wrong-place calls for each. */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tt_as_completed_next in the 0.1 shape these older tests were written in: the future or NULL,
 * and the code (0 at the end) in *err. */
static tt_future *ac_next(tt_as_completed *it, intptr_t *err)
{
    tt_future *f = NULL;
    int rc = tt_as_completed_next(it, &f, NULL);
    if (err)
        *err = rc < 0 ? rc : 0;
    return f;
}


#define E1 (-1001)
#define E2 (-1002)

/* A task body: sleeps ms, returns ret; when cancelled, optionally sleeps cleanup_ms more and
 * returns on_cancel (by default -ECANCELED: it ends cancelled). */
typedef struct spec {
    int ms;
    intptr_t ret;
    intptr_t on_cancel;
    int cleanup_ms;
    int started, saw_cancel, finished;
} spec;

#define SPEC(ms_, ret_) {.ms = (ms_), .ret = (ret_), .on_cancel = -ECANCELED}

static intptr_t sleeper(void *arg)
{
    spec *s = arg;
    s->started = 1;
    int rc = tt_sleep(TT_MS(s->ms));
    if (rc == -ECANCELED) {
        s->saw_cancel = 1;
        if (s->cleanup_ms)
            ck_assert_int_eq(tt_sleep(TT_MS(s->cleanup_ms)), 0);
        s->finished = 1;
        return s->on_cancel;
    }
    ck_assert_int_eq(rc, 0);
    s->finished = 1;
    return s->ret;
}

static void cancel_cb(void *arg) { tt_cancel(arg, NULL); }
static void set_cb(void *arg) { tt_future_set(arg, 5); }

static int64_t ms_since(int64_t t0) { return (tt_now() - t0) / 1000000; }

/* Awaits a task we hold and returns its outcome (consumes our reference). */
static intptr_t finish(tt_future *t) { return tt_await(t); }

/* ============================================================================ tt_wait */

TU_TASK_TEST(wait_all_completed_never_raises, 7)
{
    (void)arg;
    static spec a = SPEC(30, 1), b = SPEC(10, E1), c = SPEC(20, 3);
    tt_future *fs[3] = {tt_spawn(sleeper, &a), tt_spawn(sleeper, &b), tt_spawn(sleeper, &c)};
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_wait(fs, 3, TT_ALL_COMPLETED, TT_FOREVER), 3);
    ck_assert_int_ge(ms_since(t0), 29);
    ck_assert_int_eq(tt_result(fs[0]), 1);
    ck_assert_int_eq(tt_result(fs[1]), E1); /* not raised by wait */
    ck_assert_int_eq(tt_result(fs[2]), 3);
    for (int i = 0; i < 3; i++)
        tt_unref(fs[i]);
    return 7;
}

TU_TASK_TEST(wait_first_completed, 0)
{
    (void)arg;
    static spec a = SPEC(10, 1), b = SPEC(1000, 2);
    tt_future *fs[2] = {tt_spawn(sleeper, &b), tt_spawn(sleeper, &a)};
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_wait(fs, 2, TT_FIRST_COMPLETED, TT_FOREVER), 1);
    ck_assert_int_lt(ms_since(t0), 500);
    ck_assert(!tt_done(fs[0]));
    ck_assert(tt_done(fs[1]));
    tt_cancel(fs[0], NULL);
    ck_assert_int_eq(finish(fs[0]), -ECANCELED);
    ck_assert_int_eq(finish(fs[1]), 1);
    return 0;
}

TU_TASK_TEST(wait_first_exception_returns_at_first_error, 0)
{
    (void)arg;
    static spec a = SPEC(10, 1), b = SPEC(50, E1), c = SPEC(300, 3);
    tt_future *fs[3] = {tt_spawn(sleeper, &a), tt_spawn(sleeper, &b), tt_spawn(sleeper, &c)};
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_wait(fs, 3, TT_FIRST_EXCEPTION, TT_FOREVER), 2);
    int64_t el = ms_since(t0);
    ck_assert_int_ge(el, 49);
    ck_assert_int_lt(el, 290);
    ck_assert(tt_done(fs[0]) && tt_done(fs[1]) && !tt_done(fs[2]));
    ck_assert_int_eq(finish(fs[2]), 3); /* C completes later on its own */
    ck_assert_int_eq(finish(fs[0]), 1);
    ck_assert_int_eq(finish(fs[1]), E1);
    return 0;
}

TU_TASK_TEST(wait_first_exception_ignores_cancellation, 0)
{
    (void)arg;
    static spec a = SPEC(10, 1), b = SPEC(1000, 2), c = SPEC(40, 3);
    tt_future *fs[3] = {tt_spawn(sleeper, &a), tt_spawn(sleeper, &b), tt_spawn(sleeper, &c)};
    ck_assert(tt_call_later(tt_loop_current(), TT_MS(20), cancel_cb, fs[1]) > 0);
    int64_t t0 = tt_now();
    /* A cancellation is not an "exception": the wait goes on until everything is done. */
    ck_assert_int_eq(tt_wait(fs, 3, TT_FIRST_EXCEPTION, TT_FOREVER), 3);
    ck_assert_int_ge(ms_since(t0), 39);
    ck_assert_int_eq(tt_result(fs[0]), 1);
    ck_assert(tt_cancelled(fs[1]));
    ck_assert_int_eq(tt_result(fs[2]), 3);
    for (int i = 0; i < 3; i++)
        tt_unref(fs[i]);
    return 0;
}

TU_TASK_TEST(wait_timeout_is_not_an_error, 0)
{
    (void)arg;
    static spec a = SPEC(1000, 1), b = SPEC(5, 2);
    tt_future *fs[2] = {tt_spawn(sleeper, &a), tt_spawn(sleeper, &b)};
    int64_t t0 = tt_now();
    /* A timeout is not an error: the count of done entries comes back. */
    ck_assert_int_eq(tt_wait(fs, 2, TT_ALL_COMPLETED, TT_MS(40)), 1);
    int64_t el = ms_since(t0);
    ck_assert_int_ge(el, 39);
    ck_assert_int_lt(el, 800);
    ck_assert(!tt_done(fs[0]) && tt_done(fs[1]));
    /* Timeout 0 only polls. */
    ck_assert_int_eq(tt_wait(fs, 2, TT_ALL_COMPLETED, 0), 1);
    ck_assert(!tt_done(fs[0]));
    tt_cancel(fs[0], NULL);
    ck_assert_int_eq(finish(fs[0]), -ECANCELED);
    ck_assert_int_eq(finish(fs[1]), 2);
    return 0;
}

TU_TASK_TEST(wait_counts_duplicate_entries, 0)
{
    (void)arg;
    static spec t = SPEC(10, 't'), u = SPEC(20, 'u');
    tt_future *ft = tt_spawn(sleeper, &t), *fu = tt_spawn(sleeper, &u);
    tt_future *fs[4] = {ft, ft, fu, ft};
    /* Entries are counted, so a future listed three times counts three times. */
    ck_assert_int_eq(tt_wait(fs, 4, TT_ALL_COMPLETED, TT_FOREVER), 4);
    ck_assert_int_eq(tt_result(ft), 't');
    ck_assert_int_eq(tt_result(fu), 'u');
    /* Already-done inputs: returns after one wake-up, every entry counted. */
    ck_assert_int_eq(tt_wait(fs, 4, TT_FIRST_COMPLETED, TT_FOREVER), 4);
    tt_future *one[3] = {ft, ft, ft};
    ck_assert_int_eq(tt_wait(one, 3, TT_FIRST_COMPLETED, TT_MS(500)), 3);
    tt_unref(ft);
    tt_unref(fu);
    return 0;
}

static tt_future *WAITED;

static intptr_t waiter_body(void *arg)
{
    (void)arg;
    return tt_wait(&WAITED, 1, TT_ALL_COMPLETED, TT_FOREVER);
}

TU_TASK_TEST(cancelled_waiter_does_not_cancel_waited, 0)
{
    (void)arg;
    static spec a = SPEC(200, 'a');
    WAITED = tt_spawn(sleeper, &a);
    tt_future *w = tt_spawn(waiter_body, NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    ck_assert_int_eq(tt_cancel(w, NULL), 1);
    ck_assert_int_eq(finish(w), -ECANCELED);
    /* Cancelling the waiter leaves what it waited on alone. */
    ck_assert(!tt_done(WAITED));
    ck_assert_int_eq(finish(WAITED), 'a');
    ck_assert(!a.saw_cancel);
    return 0;
}

/* Counts the loop turns (yields) another task takes until f is done. */
typedef struct turn_counter {
    tt_future *f;
    int turns;
} turn_counter;

static intptr_t count_turns(void *arg)
{
    turn_counter *tc = arg;
    while (!tt_done(tc->f) && tt_yield() == 0)
        tc->turns++;
    return 0;
}

TU_TASK_TEST(wait_suspends_even_when_all_done, 0)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    ck_assert_int_eq(tt_future_set(f, 9), 0);
    tt_future *fs[1] = {f};
    /* asyncio: the done-callback runs one turn, then the waiter wakes the task: the wait
     * suspends even when every input is already done. */
    static turn_counter tc;
    tc.f = tt_current_task();
    tc.turns = 0;
    tt_future *other = tt_spawn(count_turns, &tc);
    tt_yield(); /* let the counter start */
    int before = tc.turns;
    ck_assert_int_eq(tt_wait(fs, 1, TT_ALL_COMPLETED, TT_FOREVER), 1);
    ck_assert_int_ge(tc.turns - before, 1);
    tt_unref(f);
    tt_cancel(other, NULL);
    tt_unref(other);
    return 0;
}

static intptr_t main_wait_errors(void *arg)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    tt_future *fs[2] = {f, NULL};
    ck_assert_int_eq(tt_wait(NULL, 1, TT_ALL_COMPLETED, TT_FOREVER), -EINVAL);
    ck_assert_int_eq(tt_wait(fs, 0, TT_ALL_COMPLETED, TT_FOREVER), -EINVAL);
    ck_assert_int_eq(tt_wait(fs, 1, (tt_when)7, TT_FOREVER), -EINVAL);
    ck_assert_int_eq(tt_wait(fs, 2, TT_ALL_COMPLETED, TT_FOREVER), -EINVAL);
    ck_assert(!tt_done(f));
    tt_unref(f);
    return 0;
}

static ssize_t WAIT_CB_RC;
static void wait_from_callback(void *arg)
{
    tt_future *f = arg;
    WAIT_CB_RC = tt_wait(&f, 1, TT_ALL_COMPLETED, 0);
}

static intptr_t main_wait_eperm(void *arg)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    WAIT_CB_RC = 0;
    ck_assert_int_eq(tt_call_soon(tt_loop_current(), wait_from_callback, f), 0);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(WAIT_CB_RC, -EPERM); /* on the loop thread, but not in a task */
    tt_unref(f);
    return 0;
}

START_TEST(wait_bad_input)
{
    ck_assert_int_eq(tu_run(main_wait_errors, NULL), 0);
    ck_assert_int_eq(tu_run(main_wait_eperm, NULL), 0);
    tt_future *none[1] = {NULL};
    ck_assert_int_eq(tt_wait(none, 1, TT_ALL_COMPLETED, 0), -EPERM); /* no loop at all */
    ck_assert_int_eq(tt_wait(NULL, 1, TT_ALL_COMPLETED, 0), -EINVAL);
    tu_assert_no_leaks();
}
END_TEST

TU_TASK_TEST(wait_many_futures, 0)
{
    (void)arg;
    enum { N = 300 };
    static tt_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = tt_future_new(NULL);
    for (int i = 0; i < N; i += 2)
        tt_future_set(fs[i], i);
    ck_assert_int_eq(tt_wait(fs, N, TT_ALL_COMPLETED, TT_MS(20)), N / 2);
    for (int i = 1; i < N; i += 2)
        tt_future_set(fs[i], i);
    ck_assert_int_eq(tt_wait(fs, N, TT_ALL_COMPLETED, TT_FOREVER), N);
    for (int i = 0; i < N; i++)
        tt_unref(fs[i]);
    return 0;
}

/* ====================================================================== as_completed */

TU_TASK_TEST(as_completed_completion_order, 0)
{
    (void)arg;
    static spec a = SPEC(300, 'a'), b = SPEC(100, 'b'), c = SPEC(200, 'c'); /* wide gaps: sanitizers */
    tt_future *fs[3] = {tt_spawn(sleeper, &a), tt_spawn(sleeper, &b), tt_spawn(sleeper, &c)};
    tt_as_completed *it = tt_as_completed_new(fs, 3, TT_FOREVER);
    ck_assert_ptr_nonnull(it);
    intptr_t err = 99;
    const intptr_t want[3] = {'b', 'c', 'a'};
    const int idx[3] = {1, 2, 0};
    for (int i = 0; i < 3; i++) {
        tt_future *f = ac_next(it, &err);
        ck_assert_ptr_eq(f, fs[idx[i]]); /* the original futures */
        ck_assert_int_eq(err, 0);
        ck_assert_int_eq(tt_result(f), want[i]);
    }
    err = 99;
    ck_assert_ptr_null(ac_next(it, &err));
    ck_assert_int_eq(err, 0);
    ck_assert_ptr_null(ac_next(it, NULL)); /* err may be NULL */
    tt_as_completed_free(it);
    for (int i = 0; i < 3; i++)
        tt_unref(fs[i]);
    return 0;
}

TU_TASK_TEST(as_completed_error_at_its_position, 0)
{
    (void)arg;
    static spec x = SPEC(40, 'x'), e = SPEC(10, E1), z = SPEC(25, 'z');
    tt_future *fs[3] = {tt_spawn(sleeper, &x), tt_spawn(sleeper, &e), tt_spawn(sleeper, &z)};
    tt_as_completed *it = tt_as_completed_new(fs, 3, TT_SEC(5));
    ck_assert_ptr_nonnull(it);
    intptr_t err;
    ck_assert_int_eq(tt_result(ac_next(it, &err)), E1);
    ck_assert_int_eq(tt_result(ac_next(it, &err)), 'z');
    ck_assert_int_eq(tt_result(ac_next(it, &err)), 'x');
    ck_assert_int_eq(err, 0);
    ck_assert_ptr_null(ac_next(it, &err));
    ck_assert_int_eq(err, 0);
    tt_as_completed_free(it);
    for (int i = 0; i < 3; i++)
        tt_unref(fs[i]);
    return 0;
}

TU_TASK_TEST(as_completed_empty_and_duplicates, 0)
{
    (void)arg;
    intptr_t err = 99;
    tt_as_completed *it = tt_as_completed_new(NULL, 0, TT_FOREVER);
    ck_assert_ptr_nonnull(it);
    ck_assert_ptr_null(ac_next(it, &err));
    ck_assert_int_eq(err, 0);
    tt_as_completed_free(it);
    it = tt_as_completed_new(NULL, 0, TT_MS(1));
    ck_assert_ptr_nonnull(it);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    err = 99;
    ck_assert_ptr_null(ac_next(it, &err));
    ck_assert_int_eq(err, 0); /* nothing to wait for cannot time out */
    tt_as_completed_free(it);

    static spec t = SPEC(10, 't'), u = SPEC(20, 'u');
    tt_future *ft = tt_spawn(sleeper, &t), *fu = tt_spawn(sleeper, &u);
    tt_future *fs[4] = {ft, ft, fu, ft};
    it = tt_as_completed_new(fs, 4, TT_FOREVER);
    ck_assert_ptr_eq(ac_next(it, &err), ft);
    ck_assert_ptr_eq(ac_next(it, &err), fu);
    ck_assert_ptr_null(ac_next(it, &err));
    ck_assert_int_eq(err, 0);
    tt_as_completed_free(it);
    tt_unref(ft);
    tt_unref(fu);
    return 0;
}

TU_TASK_TEST(as_completed_timeout_sticks, 0)
{
    (void)arg;
    static spec a = SPEC(10, 'a'), b = SPEC(1000, 'b');
    tt_future *done = tt_future_new(NULL);
    tt_future_set(done, 'd');
    tt_future *fs[3] = {tt_spawn(sleeper, &b), done, tt_spawn(sleeper, &a)};
    int64_t t0 = tt_now();
    tt_as_completed *it = tt_as_completed_new(fs, 3, TT_MS(50));
    intptr_t err = 99;
    ck_assert_ptr_eq(ac_next(it, &err), done);
    ck_assert_ptr_eq(ac_next(it, &err), fs[2]);
    ck_assert_int_eq(err, 0);
    ck_assert_ptr_null(ac_next(it, &err));
    ck_assert_int_eq(err, -ETIMEDOUT);
    int64_t el = ms_since(t0);
    ck_assert_int_ge(el, 49);
    ck_assert_int_lt(el, 900);
    /* Every later call times out too, even once the straggler has finished. */
    tt_cancel(fs[0], NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert(tt_cancelled(fs[0]));
    err = 99;
    ck_assert_ptr_null(ac_next(it, &err));
    ck_assert_int_eq(err, -ETIMEDOUT);
    tt_as_completed_free(it);
    for (int i = 0; i < 3; i++)
        tt_unref(fs[i]);
    return 0;
}

static tt_as_completed *AC;

static intptr_t ac_consumer(void *arg)
{
    intptr_t *err = arg;
    tt_future *f = ac_next(AC, err);
    ck_assert_ptr_null(f);
    return *err;
}

TU_TASK_TEST(as_completed_cancelled_next, 0)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    AC = tt_as_completed_new(&f, 1, TT_FOREVER);
    static intptr_t err;
    tt_future *c = tt_spawn(ac_consumer, &err);
    ck_assert_int_eq(tt_yield(), 0);
    /* A second task may not wait on the same iterator meanwhile. */
    intptr_t e2 = 0;
    ck_assert_ptr_null(ac_next(AC, &e2));
    ck_assert_int_eq(e2, -EBUSY);
    tt_cancel(c, NULL);
    ck_assert_int_eq(finish(c), -ECANCELED);
    ck_assert_int_eq(err, -ECANCELED);
    /* Nothing was lost: the completion is still handed out afterwards. */
    tt_future_set(f, 3);
    ck_assert_ptr_eq(ac_next(AC, &e2), f);
    ck_assert_int_eq(e2, 0);
    tt_as_completed_free(AC);
    tt_unref(f);
    return 0;
}

static intptr_t main_ac_free_early(void *arg)
{
    (void)arg;
    /* Freed with completions pending and callbacks already scheduled. */
    tt_future *fs[3] = {tt_future_new(NULL), tt_future_new(NULL), tt_future_new(NULL)};
    tt_as_completed *it = tt_as_completed_new(fs, 3, TT_MS(30));
    tt_future_set(fs[0], 1);
    tt_as_completed_free(it);
    tt_as_completed_free(NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(40)), 0);
    for (int i = 0; i < 3; i++)
        tt_unref(fs[i]);
    return 0;
}

static intptr_t main_ac_errors(void *arg)
{
    (void)arg;
    tt_future *fs[2] = {tt_future_new(NULL), NULL};
    errno = 0;
    ck_assert_ptr_null(tt_as_completed_new(fs, 2, TT_FOREVER));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(tt_as_completed_new(NULL, 1, TT_FOREVER));
    ck_assert_int_eq(errno, EINVAL);
    intptr_t err = 0;
    ck_assert_ptr_null(ac_next(NULL, &err));
    ck_assert_int_eq(err, -EINVAL);
    ck_assert_ptr_null(ac_next(NULL, NULL));
    tt_unref(fs[0]);
    return 0;
}

static tt_as_completed *AC_CB;
static intptr_t AC_CB_ERR;
static void ac_next_from_callback(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(ac_next(AC_CB, &AC_CB_ERR));
}

static intptr_t main_ac_eperm(void *arg)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    AC_CB = tt_as_completed_new(&f, 1, TT_FOREVER);
    tt_call_soon(tt_loop_current(), ac_next_from_callback, NULL);
    tt_yield();
    ck_assert_int_eq(AC_CB_ERR, -EPERM);
    tt_as_completed_free(AC_CB);
    tt_unref(f);
    return 0;
}

START_TEST(as_completed_bad_input)
{
    errno = 0;
    ck_assert_ptr_null(tt_as_completed_new(NULL, 0, TT_FOREVER)); /* no loop */
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(tu_run(main_ac_errors, NULL), 0);
    ck_assert_int_eq(tu_run(main_ac_eperm, NULL), 0);
    ck_assert_int_eq(tu_run(main_ac_free_early, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------- as_completed, 0.2: index and growth */

static int IN_FLIGHT, MAX_IN_FLIGHT;
static intptr_t item(void *arg)
{
    intptr_t i = (intptr_t)arg;
    if (++IN_FLIGHT > MAX_IN_FLIGHT)
        MAX_IN_FLIGHT = IN_FLIGHT;
    int rc = tt_sleep(TT_MS(1 + (i * 7) % 5));
    IN_FLIGHT--;
    return rc < 0 ? rc : 1000 + i;
}

static intptr_t main_as_completed_index(void *arg)
{
    (void)arg;
    tt_future *fs[4];
    for (int i = 0; i < 3; i++)
        fs[i] = tt_future_new(NULL);
    fs[3] = fs[1]; /* a duplicate: one input, index 1 */
    tt_as_completed *it = tt_as_completed_new(fs, 4, TT_FOREVER);
    ck_assert_ptr_nonnull(it);
    tt_future_set(fs[2], 20);
    tt_future_set(fs[0], 0);
    tt_future_set(fs[1], 10);
    tt_future *f = NULL;
    size_t idx = 99;
    size_t want[3] = {2, 0, 1};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(tt_as_completed_next(it, &f, &idx), 1);
        ck_assert_uint_eq(idx, want[k]);
        ck_assert_ptr_eq(f, fs[want[k]]);
        ck_assert_int_eq(tt_result(f), 10 * (intptr_t)want[k]);
    }
    ck_assert_int_eq(tt_as_completed_next(it, &f, &idx), 0);
    ck_assert_ptr_null(f);
    /* Adding after the end resumes the iteration; every add is a new input. */
    tt_future *late = tt_future_new(NULL);
    ck_assert_int_eq(tt_as_completed_add(it, late), 4);
    ck_assert_int_eq(tt_as_completed_add(it, late), 5);
    tt_future_set(late, 7);
    ck_assert_int_eq(tt_as_completed_next(it, NULL, &idx), 1);
    ck_assert_uint_eq(idx, 4);
    ck_assert_int_eq(tt_as_completed_next(it, &f, &idx), 1);
    ck_assert_ptr_eq(f, late);
    ck_assert_uint_eq(idx, 5);
    ck_assert_int_eq(tt_as_completed_next(it, NULL, NULL), 0);
    /* Bad input. */
    ck_assert_int_eq(tt_as_completed_add(it, NULL), -EINVAL);
    ck_assert_int_eq(tt_as_completed_add(NULL, late), -EINVAL);
    tt_as_completed_free(it);
    tt_unref(late);
    for (int i = 0; i < 3; i++)
        tt_unref(fs[i]);
    return 0;
}

START_TEST(as_completed_tells_the_index)
{
    ck_assert_int_eq(tu_run(main_as_completed_index, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* "N items, K in flight": start K, add one each time one finishes. */
static long AC_MAX_LIVE;
static intptr_t main_as_completed_grows(void *arg)
{
    (void)arg;
    enum { N = 1000, K = 4 };
    static char seen[N];
    memset(seen, 0, sizeof seen);
    IN_FLIGHT = MAX_IN_FLIGHT = 0;
    tt_future *first[K];
    for (int i = 0; i < K; i++)
        first[i] = tt_spawn(item, (void *)(intptr_t)i);
    tt_as_completed *it = tt_as_completed_new(first, K, TT_FOREVER);
    for (int i = 0; i < K; i++)
        tt_unref(first[i]); /* the iterator keeps its own references */
    size_t next_item = K, got = 0, idx;
    tt_future *f;
    int rc;
    while ((rc = tt_as_completed_next(it, &f, &idx)) == 1) {
        ck_assert_uint_lt(idx, N);
        ck_assert_int_eq(seen[idx], 0);
        seen[idx] = 1;
        ck_assert_int_eq(tt_result(f), 1000 + (intptr_t)idx); /* index i is item i */
        got++;
        if (next_item < N) {
            tt_future *g = tt_spawn(item, (void *)(intptr_t)next_item);
            ck_assert_int_eq(tt_as_completed_add(it, g), (ssize_t)next_item);
            tt_unref(g);
            next_item++;
        }
        if (got % 100 == 0) {
            tt_live l;
            tt_live_get(&l);
            if (l.futures > AC_MAX_LIVE)
                AC_MAX_LIVE = l.futures;
        }
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(got, N);
    ck_assert_int_eq(MAX_IN_FLIGHT, K);
    tt_as_completed_free(it);
    return 0;
}

START_TEST(as_completed_over_a_growing_set)
{
    AC_MAX_LIVE = 0;
    ck_assert_int_eq(tu_run(main_as_completed_grows, NULL), 0);
    ck_assert_int_gt(AC_MAX_LIVE, 0);
    ck_assert_int_lt(AC_MAX_LIVE, 20); /* K in flight, not N kept */
    tu_assert_no_leaks();
}
END_TEST

static tt_as_completed *AC_GROW;
static intptr_t adder(void *arg)
{
    tt_future *f = arg;
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert_int_eq(tt_as_completed_add(AC_GROW, f), 1);
    tt_future_set(f, 55);
    return 0;
}

static intptr_t main_as_completed_add_while_waiting(void *arg)
{
    (void)arg;
    tt_future *slow = tt_future_new(NULL), *added = tt_future_new(NULL);
    AC_GROW = tt_as_completed_new(&slow, 1, TT_MS(200));
    tt_future *a = tt_spawn(adder, added);
    tt_future *f;
    size_t idx;
    /* next() is already waiting when the other task adds a future that finishes first. */
    ck_assert_int_eq(tt_as_completed_next(AC_GROW, &f, &idx), 1);
    ck_assert_ptr_eq(f, added);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(tt_as_completed_next(AC_GROW, &f, &idx), -ETIMEDOUT);
    ck_assert_int_eq(tt_as_completed_add(AC_GROW, added), -ETIMEDOUT);
    ck_assert_int_eq(tt_await(a), 0);
    tt_as_completed_free(AC_GROW);
    tt_unref(slow);
    tt_unref(added);
    return 0;
}

START_TEST(as_completed_add_wakes_a_waiting_next)
{
    ck_assert_int_eq(tu_run(main_as_completed_add_while_waiting, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ========================================================================= wait_for */

TU_TASK_TEST(wait_for_basics, 0)
{
    (void)arg;
    static spec ok = SPEC(10, 'k'), bad = SPEC(10, E1);
    tt_future *t = tt_spawn(sleeper, &ok);
    tt_ref(t);
    ck_assert_int_eq(tt_wait_for(t, TT_MS(300)), 'k');
    ck_assert(!tt_cancelled(t));
    ck_assert(!ok.saw_cancel);
    tt_unref(t);
    ck_assert_int_eq(tt_wait_for(tt_spawn(sleeper, &bad), TT_MS(300)), E1);
    /* No late timeout or cancellation afterwards. */
    ck_assert_int_eq(tt_sleep(TT_MS(350)), 0);
    ck_assert_int_eq(tt_cancelling(tt_current_task()), 0);
    return 0;
}

TU_TASK_TEST(wait_for_timeout_cancels_and_waits, 0)
{
    (void)arg;
    static spec slow = SPEC(1000, 1);
    tt_future *t = tt_spawn(sleeper, &slow);
    tt_ref(t);
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_wait_for(t, TT_MS(20)), -ETIMEDOUT);
    int64_t el = ms_since(t0);
    ck_assert_int_ge(el, 19);
    ck_assert_int_lt(el, 900);
    ck_assert(tt_cancelled(t)); /* ended before wait_for returned */
    ck_assert(slow.saw_cancel);
    ck_assert_int_eq(tt_cancelling(tt_current_task()), 0);
    tt_unref(t);
    /* A plain future too. */
    tt_future *f = tt_future_new(NULL);
    tt_ref(f);
    ck_assert_int_eq(tt_wait_for(f, TT_MS(5)), -ETIMEDOUT);
    ck_assert(tt_cancelled(f));
    tt_unref(f);
    return 0;
}

static void count_done(tt_future *f, void *arg)
{
    (void)f;
    ++*(int *)arg;
}

/* A plain future ends the moment it is cancelled, so a timed-out wait_for on one returns
 * without another trip through the loop: the future's own callbacks run afterwards, once. */
TU_TASK_TEST(wait_for_plain_future_times_out_without_a_loop_trip, 0)
{
    (void)arg;
    int done = 0;
    tt_future *f = tt_future_new(NULL);
    ck_assert_int_eq(tt_on_done(f, count_done, &done), 0);
    tt_ref(f);
    ck_assert_int_eq(tt_wait_for(f, TT_MS(2)), -ETIMEDOUT);
    ck_assert(tt_cancelled(f));
    ck_assert_int_eq(done, 0);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(done, 1);
    tt_unref(f);
    return 0;
}

static intptr_t quick(void *arg)
{
    (void)arg;
    return 'q';
}

static int STARTED;
static intptr_t mark_started(void *arg)
{
    STARTED++;
    return (intptr_t)arg;
}

TU_TASK_TEST(wait_for_zero_polls, 0)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    tt_future_set(f, 'd');
    ck_assert_int_eq(tt_wait_for(f, 0), 'd');
    tt_future *q = tt_spawn(quick, NULL);
    tt_yield();
    ck_assert_int_eq(tt_wait_for(q, 0), 'q');
    tt_future *g = tt_future_new(NULL);
    tt_future_set(g, E1);
    ck_assert_int_eq(tt_wait_for(g, 0), E1);
    /* A task that has not started never starts. */
    STARTED = 0;
    ck_assert_int_eq(tt_wait_for(tt_spawn(mark_started, NULL), 0), -ETIMEDOUT);
    ck_assert_int_eq(STARTED, 0);
    /* A negative timeout is no limit (TT_FOREVER), as for every duration. */
    ck_assert_int_eq(tt_wait_for(tt_spawn(mark_started, (void *)8), TT_FOREVER), 8);
    ck_assert_int_eq(tt_wait_for(tt_spawn(mark_started, (void *)9), TT_MS(-1)), 9);
    ck_assert_int_eq(STARTED, 2);
    /* A running task is cancelled and its cleanup completes before the timeout returns. */
    static spec r = {.ms = 1000, .ret = 1, .on_cancel = -ECANCELED, .cleanup_ms = 10};
    tt_future *rt = tt_spawn(sleeper, &r);
    tt_ref(rt);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert_int_eq(tt_wait_for(rt, 0), -ETIMEDOUT);
    ck_assert(r.finished);
    ck_assert(tt_cancelled(rt));
    tt_unref(rt);
    /* A pending plain future is cancelled. */
    tt_future *p = tt_future_new(NULL);
    tt_ref(p);
    ck_assert_int_eq(tt_wait_for(p, 0), -ETIMEDOUT);
    ck_assert(tt_cancelled(p));
    tt_unref(p);
    return 0;
}

TU_TASK_TEST(wait_for_swallowed_and_replaced, 0)
{
    (void)arg;
    /* The inner swallows the timeout's cancellation and returns a value: that value wins. */
    static spec s = {.ms = 1000, .ret = 1, .on_cancel = 42, .cleanup_ms = 5};
    ck_assert_int_eq(tt_wait_for(tt_spawn(sleeper, &s), TT_MS(10)), 42);
    ck_assert(s.saw_cancel);
    /* An error raised during the cleanup replaces the timeout. */
    static spec e = {.ms = 1000, .ret = 1, .on_cancel = E2};
    tt_future *t = tt_spawn(sleeper, &e);
    tt_ref(t);
    ck_assert_int_eq(tt_wait_for(t, TT_MS(10)), E2);
    ck_assert_int_eq(tt_result(t), E2);
    tt_unref(t);
    return 0;
}

static tt_future *INNER;
static intptr_t wait_for_inner(void *arg)
{
    return tt_wait_for(tt_ref(INNER), (int64_t)(intptr_t)arg);
}

TU_TASK_TEST(wait_for_cancelled_caller_cancels_inner, 0)
{
    (void)arg;
    static spec in = SPEC(500, 1);
    INNER = tt_spawn(sleeper, &in);
    tt_future *caller = tt_spawn(wait_for_inner, (void *)(intptr_t)TT_MS(500));
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    tt_cancel(caller, NULL);
    ck_assert_int_eq(finish(caller), -ECANCELED);
    /* The inner was cancelled too, and had ended by then. */
    ck_assert(tt_cancelled(INNER));
    ck_assert(in.saw_cancel);
    tt_unref(INNER);
    return 0;
}

static int STUBBORN_SECOND_SLEEP;
static intptr_t stubborn(void *arg)
{
    (void)arg;
    if (tt_sleep(TT_SEC(1)) == -ECANCELED)
        STUBBORN_SECOND_SLEEP = tt_sleep(TT_MS(200)); /* caught the timeout's cancel: carries on */
    return 42; /* and swallows the caller's forwarded cancel too */
}

static intptr_t WF_STUBBORN_RC, WF_NEXT_SUSPENSION;
static int WF_INNER_DONE_AT_RETURN;
static intptr_t wait_for_stubborn_caller(void *arg)
{
    (void)arg;
    WF_STUBBORN_RC = tt_wait_for(tt_ref(INNER), TT_MS(20));
    WF_INNER_DONE_AT_RETURN = tt_done(INNER);
    WF_NEXT_SUSPENSION = tt_yield();
    return 7;
}

TU_TASK_TEST(wait_for_stays_cancellable_with_stubborn_inner, 0)
{
    (void)arg;
    INNER = tt_spawn(stubborn, NULL);
    tt_future *w = tt_spawn(wait_for_stubborn_caller, NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(100)), 0);
    tt_cancel(w, NULL);
    /* 0.2 (3.12, C048): the caller's second cancel is forwarded to the inner (its second sleep
     * is interrupted) and tt_wait_for returns only once the inner has ended. The inner swallowed
     * it and returned 42: the caller gets 42, and its cancellation stays pending. */
    ck_assert_int_eq(finish(w), 7); /* its body took the delivered cancel and returned 7 */
    ck_assert_int_eq(STUBBORN_SECOND_SLEEP, -ECANCELED);
    ck_assert_int_eq(WF_STUBBORN_RC, 42);
    ck_assert_int_eq(WF_INNER_DONE_AT_RETURN, 1);
    ck_assert_int_eq(WF_NEXT_SUSPENSION, -ECANCELED);
    ck_assert_int_eq(finish(INNER), 42);
    return 0;
}

static intptr_t main_wait_for_errors(void *arg)
{
    (void)arg;
    ck_assert_int_eq(tt_wait_for(NULL, TT_MS(1)), -EINVAL);
    return 0;
}

static intptr_t WF_CB_RC;
static void wait_for_from_callback(void *arg)
{
    WF_CB_RC = tt_wait_for(arg, TT_MS(1)); /* consumes even on -EPERM */
}

static intptr_t main_wait_for_eperm(void *arg)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    tt_call_soon(tt_loop_current(), wait_for_from_callback, f);
    tt_yield();
    ck_assert_int_eq(WF_CB_RC, -EPERM);
    return 0;
}

START_TEST(wait_for_bad_input)
{
    ck_assert_int_eq(tt_wait_for(NULL, 0), -EINVAL);
    ck_assert_int_eq(tu_run(main_wait_for_errors, NULL), 0);
    ck_assert_int_eq(tu_run(main_wait_for_eperm, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* =========================================================================== shield */

static intptr_t await_shield_of_inner(void *arg)
{
    (void)arg;
    return tt_await(tt_shield(INNER));
}

TU_TASK_TEST(shield_outer_cancelled_inner_runs_on, 0)
{
    (void)arg;
    static spec in = SPEC(100, 'i');
    INNER = tt_spawn(sleeper, &in);
    tt_future *caller = tt_spawn(await_shield_of_inner, NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    tt_cancel(caller, NULL);
    int64_t t0 = tt_now();
    ck_assert_int_eq(finish(caller), -ECANCELED);
    ck_assert_int_lt(ms_since(t0), 80); /* at once, not when the inner ends */
    ck_assert(!tt_done(INNER));
    ck_assert_int_eq(finish(INNER), 'i');
    ck_assert(!in.saw_cancel);
    return 0;
}

TU_TASK_TEST(shield_passes_results_through, 0)
{
    (void)arg;
    static spec ok = SPEC(5, 7), bad = SPEC(5, E1);
    tt_future *t = tt_spawn(sleeper, &ok);
    ck_assert_int_eq(tt_await(tt_shield(t)), 7);
    tt_unref(t);
    t = tt_spawn(sleeper, &bad);
    ck_assert_int_eq(tt_await(tt_shield(t)), E1);
    tt_unref(t);
    /* Shortcut: a done future is its own shield. */
    tt_future *d = tt_future_new(NULL);
    tt_future_set(d, 42);
    tt_future *s = tt_shield(d);
    ck_assert_ptr_eq(s, d);
    ck_assert_int_eq(tt_await(s), 42);
    tt_unref(d);
    /* A pending future gets a new future that follows it. */
    tt_future *p = tt_future_new(NULL);
    s = tt_shield(p);
    ck_assert_ptr_ne(s, p);
    ck_assert_int_eq(tt_future_set(s, 3), -EINVAL); /* it completes itself */
    tt_call_soon(tt_loop_current(), set_cb, p);
    ck_assert_int_eq(tt_await(s), 5);
    tt_unref(p);
    return 0;
}

TU_TASK_TEST(shield_cancel_outer_directly, 0)
{
    (void)arg;
    tt_future *inner = tt_future_new(NULL);
    tt_future *outer = tt_shield(inner);
    ck_assert_int_eq(tt_cancel(outer, "bye"), 1);
    ck_assert(tt_cancelled(outer));
    ck_assert_str_eq(tt_cancel_message(outer), "bye");
    ck_assert(!tt_done(inner));
    tt_future_set(inner, 5);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_result(inner), 5);
    ck_assert(tt_cancelled(outer));
    tt_unref(outer);
    tt_unref(inner);
    /* The inner cancelled: the outer is cancelled. */
    inner = tt_future_new(NULL);
    outer = tt_shield(inner);
    tt_cancel(inner, NULL);
    ck_assert_int_eq(tt_await(outer), -ECANCELED);
    tt_unref(inner);
    return 0;
}

TU_TASK_TEST(wait_for_shield_times_out_the_wait_only, 0)
{
    (void)arg;
    /* wait_for(shield(f)) times out the wait, not the work. */
    static spec w = SPEC(60, 'w');
    tt_future *t = tt_spawn(sleeper, &w);
    ck_assert_int_eq(tt_wait_for(tt_shield(t), TT_MS(10)), -ETIMEDOUT);
    ck_assert(!tt_done(t));
    ck_assert_int_eq(finish(t), 'w');
    ck_assert(!w.saw_cancel);
    return 0;
}

TU_TASK_TEST(gather_of_shields_cancelled, 0)
{
    (void)arg;
    tt_future *c1 = tt_future_new(NULL), *c2 = tt_future_new(NULL);
    tt_future *sh[2] = {tt_shield(c1), tt_shield(c2)};
    tt_future *g = tt_gather_future(sh, 2, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(tt_cancel(g, NULL), 1);
    ck_assert_int_eq(tt_await(g), -ECANCELED);
    ck_assert(tt_cancelled(sh[0]) && tt_cancelled(sh[1]));
    ck_assert(!tt_done(c1) && !tt_done(c2));
    for (int i = 0; i < 2; i++)
        tt_unref(sh[i]);
    tt_unref(c1);
    tt_unref(c2);
    return 0;
}

START_TEST(shield_bad_input)
{
    errno = 0;
    ck_assert_ptr_null(tt_shield(NULL));
    ck_assert_int_eq(errno, EINVAL);
    tu_assert_no_leaks();
}
END_TEST

/* The caller is cancelled in the same turn as the inner finishes: the inner's result is
 * returned (nothing it owns is lost) and the cancellation stays pending for the next
 * suspension point instead of being swallowed. */
static tt_future *WF_INNER, *WF_CALLER;
static void cancel_caller(tt_future *f, void *arg)
{
    (void)f;
    (void)arg;
    ck_assert_int_eq(tt_cancel(WF_CALLER, "x"), 1);
}

static intptr_t wf_caller(void *arg)
{
    (void)arg;
    ck_assert_int_eq(tt_wait_for(tt_ref(WF_INNER), TT_SEC(5)), 42);
    ck_assert_int_eq(tt_cancelling(tt_current_task()), 1);
    ck_assert_int_eq(tt_sleep(TT_SEC(5)), -ECANCELED); /* delivered here, at once */
    return 7;
}

TU_TASK_TEST(wait_for_keeps_a_cancel_that_raced_the_result, 0)
{
    (void)arg;
    WF_INNER = tt_future_new(NULL);
    ck_assert_int_eq(tt_on_done(WF_INNER, cancel_caller, NULL), 0); /* runs before wait_for's */
    WF_CALLER = tt_spawn(wf_caller, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_future_set(WF_INNER, 42), 0);
    ck_assert_int_eq(tt_await(WF_CALLER), 7);
    ck_assert_int_lt(tt_now() - t0, TT_SEC(2));
    tt_unref(WF_INNER);
    return 0;
}

/* The caller waits in the inner's own list (3.12's wait_for awaits the inner): it resumes in
 * the turn right after the inner completes, as after a plain tt_await, and its timer is gone. */
static int WF_RETURNED;
static intptr_t waits_for_long(void *arg)
{
    intptr_t r = tt_wait_for(tt_ref(arg), TT_SEC(5));
    WF_RETURNED = 1;
    return r;
}

TU_TASK_TEST(wait_for_resumes_the_turn_after_the_inner, 0)
{
    (void)arg;
    WF_RETURNED = 0;
    tt_future *f = tt_future_new(NULL);
    tt_future *w = tt_spawn(waits_for_long, f);
    ck_assert_int_eq(tt_yield(), 0); /* w waits */
    ck_assert_int_eq(tt_future_set(f, 5), 0);
    int turns = 0;
    while (!WF_RETURNED && turns < 10) {
        ck_assert_int_eq(tt_yield(), 0);
        turns++;
    }
    ck_assert_int_eq(turns, 1);
    ck_assert_int_eq(tt_await(w), 5);
    int64_t d = 0;
    ck_assert_int_eq(tt_loop_next_deadline(NULL, &d), 0);
    ck_assert_int_eq(d, TT_FOREVER); /* w's timer was disarmed */
    tt_unref(f);
    return 0;
}

/* A task cannot wait on itself: refused at once, the reference consumed. */
TU_TASK_TEST(wait_for_itself_is_einval, 0)
{
    (void)arg;
    tt_future *me = tt_current_task();
    ck_assert_int_eq(tt_wait_for(tt_ref(me), TT_MS(1)), -EINVAL);
    ck_assert_int_eq(tt_wait_for(tt_ref(me), 0), -EINVAL);
    ck_assert_int_eq(tt_cancelling(me), 0);
    return 0;
}

/* A cancel requested while the caller ran is delivered by the wait: the inner is cancelled and
 * has ended, the caller gets -ECANCELED once, and nothing stays pending. */
TU_TASK_TEST(wait_for_delivers_a_cancel_requested_before_it, 0)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    ck_assert_int_eq(tt_cancel(tt_current_task(), NULL), 1);
    ck_assert_int_eq(tt_wait_for(tt_ref(f), TT_SEC(5)), -ECANCELED);
    ck_assert(tt_cancelled(f));
    ck_assert_int_eq(tt_cancelling(tt_current_task()), 1);
    ck_assert_int_eq(tt_sleep(0), 0);
    ck_assert_int_eq(tt_uncancel(tt_current_task()), 0);
    int64_t d = 0;
    ck_assert_int_eq(tt_loop_next_deadline(NULL, &d), 0);
    ck_assert_int_eq(d, TT_FOREVER);
    tt_unref(f);
    return 0;
}

static void set_42(void *f) { ck_assert_int_eq(tt_future_set(f, 42), 0); }
static void cancel_task(void *t) { ck_assert_int_eq(tt_cancel(t, NULL), 1); }

/* The inner is completed by a timer armed just before wait_for's, with the same delay: whether
 * both fire in one iteration (the caller is woken by its timeout, then the inner completes
 * before it runs) or one after the other, the inner's value wins. */
TU_TASK_TEST(wait_for_inner_completed_at_the_deadline_wins, 0)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    ck_assert_int_gt(tt_call_later(NULL, TT_MS(3), set_42, f), 0);
    ck_assert_int_eq(tt_wait_for(tt_ref(f), TT_MS(3)), 42);
    ck_assert_int_eq(tt_cancelling(tt_current_task()), 0);
    ck_assert_int_eq(tt_sleep(0), 0);
    tt_unref(f);
    return 0;
}

/* The caller is cancelled by a timer armed just before wait_for's, with the same delay: whether
 * the cancel finds it waiting or already woken by its timeout, the cancel wins over the
 * timeout, once, and the inner has ended cancelled. */
TU_TASK_TEST(wait_for_cancel_at_the_deadline_wins_over_the_timeout, 0)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    ck_assert_int_gt(tt_call_later(NULL, TT_MS(3), cancel_task, tt_current_task()), 0);
    ck_assert_int_eq(tt_wait_for(tt_ref(f), TT_MS(3)), -ECANCELED);
    ck_assert(tt_cancelled(f));
    ck_assert_int_eq(tt_uncancel(tt_current_task()), 0);
    ck_assert_int_eq(tt_sleep(0), 0);
    tt_unref(f);
    return 0;
}

/* Several callers wait on one future; the first to time out is taken out of the middle of the
 * future's list of waiters, and the future's end still wakes the others in order. */
static char WF_ORDER[8];
static int WF_ORDER_N;
typedef struct wf_one {
    tt_future *f;
    int64_t ms;
    char tag;
} wf_one;
static intptr_t waits_tagged(void *arg)
{
    const wf_one *o = arg;
    intptr_t r = tt_wait_for(tt_ref(o->f), o->ms < 0 ? TT_FOREVER : TT_MS(o->ms));
    WF_ORDER[WF_ORDER_N++] = o->tag;
    return r;
}

TU_TASK_TEST(wait_for_many_waiters_on_one_future, 0)
{
    (void)arg;
    WF_ORDER_N = 0;
    memset(WF_ORDER, 0, sizeof WF_ORDER);
    tt_future *f = tt_future_new(NULL);
    static wf_one o[4];
    o[0] = (wf_one){f, 30, 'a'};
    o[1] = (wf_one){f, 10, 'b'};
    o[2] = (wf_one){f, 20, 'c'};
    o[3] = (wf_one){f, -1, 'd'};
    tt_future *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = tt_spawn(waits_tagged, &o[i]);
    /* f's waiters are a b c d: b times out first (taken out of the middle) and cancels f,
     * whose completion wakes the other three in their order. */
    ck_assert_int_eq(tt_await(t[1]), -ETIMEDOUT);
    ck_assert_int_eq(tt_await(t[0]), -ECANCELED);
    ck_assert_int_eq(tt_await(t[2]), -ECANCELED);
    ck_assert_int_eq(tt_await(t[3]), -ECANCELED);
    ck_assert_str_eq(WF_ORDER, "bacd");
    ck_assert(tt_cancelled(f));
    tt_unref(f);
    return 0;
}

/* After its timeout the caller waits in the inner task's own list while the inner cleans up:
 * no other future is alive for it, and the dump says what it waits for. */
static tt_future *CLEANUP_GATE;
static int CLEANING_UP;
static intptr_t cleans_up_at_the_gate(void *arg)
{
    (void)arg;
    ck_assert_int_eq(tt_sleep(TT_SEC(10)), -ECANCELED);
    CLEANING_UP = 1;
    ck_assert_int_eq(tt_await(tt_ref(CLEANUP_GATE)), 0);
    return -ECANCELED;
}

static intptr_t times_out_on_slow_cleanup(void *arg)
{
    (void)arg;
    return tt_wait_for(tt_spawn(cleans_up_at_the_gate, NULL), TT_MS(2));
}

TU_TASK_TEST(wait_for_waits_for_the_inner_to_end_without_a_future, 0)
{
    (void)arg;
    CLEANUP_GATE = tt_future_new(NULL);
    CLEANING_UP = 0;
    tt_task_opts o = {.name = "caller"};
    tt_future *c = tt_spawn_on(NULL, &o, times_out_on_slow_cleanup, NULL);
    for (int i = 0; i < 5000 && !CLEANING_UP; i++)
        ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    ck_assert_int_eq(CLEANING_UP, 1);
    tt_live l;
    tt_live_get(&l);
    ck_assert_int_eq(l.futures, 4); /* main, the caller, the inner, the gate: no waiter */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_int_eq(tt_loop_dump(NULL, out), 0);
    fclose(out);
    ck_assert_msg(strstr(buf, " 'caller': awaiting task 0x"), "%s", buf);
    ck_assert_msg(strstr(buf, " to end, cancelling=0\n"), "%s", buf);
    free(buf);
    ck_assert_int_eq(tt_future_set(CLEANUP_GATE, 0), 0);
    ck_assert_int_eq(tt_await(c), -ETIMEDOUT);
    tt_unref(CLEANUP_GATE);
    return 0;
}

static Suite *wait_suite(void)
{
    Suite *s = suite_create("wait");
    TCase *tc = tcase_create("wait");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, wait_all_completed_never_raises);
    tcase_add_test(tc, wait_for_keeps_a_cancel_that_raced_the_result);
    tcase_add_test(tc, wait_for_resumes_the_turn_after_the_inner);
    tcase_add_test(tc, wait_for_itself_is_einval);
    tcase_add_test(tc, wait_for_delivers_a_cancel_requested_before_it);
    tcase_add_test(tc, wait_for_inner_completed_at_the_deadline_wins);
    tcase_add_test(tc, wait_for_cancel_at_the_deadline_wins_over_the_timeout);
    tcase_add_test(tc, wait_for_many_waiters_on_one_future);
    tcase_add_test(tc, wait_for_waits_for_the_inner_to_end_without_a_future);
    tcase_add_test(tc, wait_first_completed);
    tcase_add_test(tc, wait_first_exception_returns_at_first_error);
    tcase_add_test(tc, wait_first_exception_ignores_cancellation);
    tcase_add_test(tc, wait_timeout_is_not_an_error);
    tcase_add_test(tc, wait_counts_duplicate_entries);
    tcase_add_test(tc, cancelled_waiter_does_not_cancel_waited);
    tcase_add_test(tc, wait_suspends_even_when_all_done);
    tcase_add_test(tc, wait_bad_input);
    tcase_add_test(tc, wait_many_futures);
    suite_add_tcase(s, tc);

    tc = tcase_create("as_completed");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, as_completed_completion_order);
    tcase_add_test(tc, as_completed_error_at_its_position);
    tcase_add_test(tc, as_completed_empty_and_duplicates);
    tcase_add_test(tc, as_completed_timeout_sticks);
    tcase_add_test(tc, as_completed_cancelled_next);
    tcase_add_test(tc, as_completed_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("wait_for");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, wait_for_basics);
    tcase_add_test(tc, wait_for_timeout_cancels_and_waits);
    tcase_add_test(tc, wait_for_plain_future_times_out_without_a_loop_trip);
    tcase_add_test(tc, wait_for_zero_polls);
    tcase_add_test(tc, wait_for_swallowed_and_replaced);
    tcase_add_test(tc, wait_for_cancelled_caller_cancels_inner);
    tcase_add_test(tc, wait_for_stays_cancellable_with_stubborn_inner);
    tcase_add_test(tc, wait_for_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("shield");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, shield_outer_cancelled_inner_runs_on);
    tcase_add_test(tc, shield_passes_results_through);
    tcase_add_test(tc, shield_cancel_outer_directly);
    tcase_add_test(tc, wait_for_shield_times_out_the_wait_only);
    tcase_add_test(tc, gather_of_shields_cancelled);
    tcase_add_test(tc, shield_bad_input);
    tcase_add_test(tc, as_completed_tells_the_index);
    tcase_add_test(tc, as_completed_over_a_growing_set);
    tcase_add_test(tc, as_completed_add_wakes_a_waiting_next);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(wait_suite)
