/* Conformance, section 2 (C006-C016): tasks start lazily and FIFO, results and errors, cancel
 * requests delivered only at suspension points, catching / swallowing / converting a
 * cancellation, cancellation travelling down an await chain, self-cancellation. */
#include "conflog.h"

/* The message of the cancel request the running task just received. */
static const char *my_cancel(void)
{
    return cl_err(-ECANCELED, tt_cancel_message(tt_current_task()));
}

/* ------------------------------------------------------------------------------ C006 */

static intptr_t c006_child(void *name)
{
    cl_log("%s start", (const char *)name);
    tt_yield();
    cl_log("%s resumed", (const char *)name);
    return STR(name);
}

static intptr_t c006_main(void *arg)
{
    (void)arg;
    tt_future *t1 = tt_spawn(c006_child, "T1");
    tt_future *t2 = tt_spawn(c006_child, "T2");
    cl_log("main after create_task, T1 done: %s", cl_bool(tt_done(t1)));
    cl_log("main still running synchronously");
    tt_yield();
    cl_log("main after first yield");
    intptr_t r1 = tt_await(t1);
    intptr_t r2 = tt_await(t2);
    cl_log("results %s %s", (const char *)r1, (const char *)r2);
    return 0;
}

START_TEST(c006_spawn_schedules_fifo_not_inline)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c006_main, NULL), 0);
    cl_expect("main after create_task, T1 done: False\n"
              "main still running synchronously\n"
              "T1 start\n"
              "T2 start\n"
              "main after first yield\n"
              "T1 resumed\n"
              "T2 resumed\n"
              "results T1 T2\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C007 */

static intptr_t c007_ok(void *arg)
{
    (void)arg;
    intptr_t r = tt_sleep(TT_MS(10));
    return r < 0 ? r : 5;
}

static intptr_t c007_bad(void *arg)
{
    (void)arg;
    intptr_t r = tt_sleep(TT_MS(10));
    return r < 0 ? r : E1;
}

static intptr_t c007_main(void *arg)
{
    (void)arg;
    tt_future *a = tt_spawn(c007_ok, NULL);
    tt_future *b = tt_spawn(c007_bad, NULL);
    if (tt_result(a) == -EAGAIN)
        cl_log("pending exception() raises InvalidStateError");
    cl_log("await a -> %ld", (long)tt_await(tt_ref(a)));
    intptr_t r = tt_await(tt_ref(b));
    if (r < 0)
        cl_log("await b raises %s", cl_err(r, NULL));
    cl_log("a: %s", cl_outcome_i(a));
    cl_log("b: %s cancelled: %s", cl_outcome_i(b), cl_bool(tt_cancelled(b)));
    tt_unref(a);
    tt_unref(b);
    return 0;
}

START_TEST(c007_task_result_and_error)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c007_main, NULL), 0);
    cl_expect("pending exception() raises InvalidStateError\n"
              "await a -> 5\n"
              "await b raises AppError('E1')\n"
              "a: result 5\n"
              "b: error AppError('E1') cancelled: False\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C008 */

static intptr_t c008_sleeper(void *arg)
{
    (void)arg;
    cl_log("sleeper start");
    intptr_t r = tt_sleep(TT_SEC(1));
    if (r < 0)
        return r;
    cl_log("not reached");
    return 0;
}

static intptr_t c008_never(void *arg)
{
    (void)arg;
    cl_log("body started (must not happen)");
    return 1;
}

static intptr_t c008_main(void *arg)
{
    (void)arg;
    cl_log("-- sleeping task");
    tt_future *t = tt_spawn(c008_sleeper, NULL);
    tt_sleep(TT_MS(10));
    cl_log("cancel('stop') -> %s", cl_bool(tt_cancel(t, "stop") == 1));
    cl_log("right after cancel: done %s cancelled %s cancelling %d", cl_bool(tt_done(t)),
           cl_bool(tt_cancelled(t)), tt_cancelling(t));
    intptr_t r = tt_await(tt_ref(t));
    if (r < 0)
        cl_log("await t raises %s", cl_ferr(t));
    cl_log("after: done %s cancelled %s", cl_bool(tt_done(t)), cl_bool(tt_cancelled(t)));
    cl_log("cancel() again -> %s", cl_bool(tt_cancel(t, NULL) == 1));

    cl_log("-- task not yet started");
    tt_future *u = tt_spawn(c008_never, NULL);
    cl_log("cancel('early') -> %s", cl_bool(tt_cancel(u, "early") == 1));
    r = tt_await(tt_ref(u));
    if (r < 0)
        cl_log("await u raises %s", cl_ferr(u));
    cl_log("cancelled: %s", cl_bool(tt_cancelled(u)));
    tt_unref(t);
    tt_unref(u);
    return 0;
}

START_TEST(c008_cancel_delivered_at_wait_point_or_before_start)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c008_main, NULL), 0);
    cl_expect("-- sleeping task\n"
              "sleeper start\n"
              "cancel('stop') -> True\n"
              "right after cancel: done False cancelled False cancelling 1\n"
              "await t raises CancelledError('stop')\n"
              "after: done True cancelled True\n"
              "cancel() again -> False\n"
              "-- task not yet started\n"
              "cancel('early') -> True\n"
              "await u raises CancelledError('early')\n"
              "cancelled: True\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C009 */

static intptr_t c009_worker(void *arg)
{
    (void)arg;
    cl_log("worker waiting");
    intptr_t r = tt_sleep(TT_SEC(1));
    if (r == -ECANCELED) {
        cl_log("worker caught %s", my_cancel());
        tt_sleep(TT_MS(20)); /* awaiting again during cleanup is allowed */
        cl_log("worker cleanup finished");
        return r; /* re-raise */
    }
    return 0;
}

static intptr_t c009_stubborn(void *arg)
{
    (void)arg;
    if (tt_sleep(TT_SEC(1)) == -ECANCELED) {
        cl_log("stubborn caught cancel, returning 42");
        return 42;
    }
    return 0;
}

static intptr_t c009_main(void *arg)
{
    (void)arg;
    cl_log("-- cleanup and re-raise");
    tt_future *t = tt_spawn(c009_worker, NULL);
    tt_sleep(TT_MS(10));
    tt_cancel(t, "m");
    cl_log("main cancelled worker");
    intptr_t r = tt_await(tt_ref(t));
    if (r < 0)
        cl_log("main got %s", cl_ferr(t));
    cl_log("worker cancelled: %s", cl_bool(tt_cancelled(t)));

    cl_log("-- swallow");
    tt_future *s = tt_spawn(c009_stubborn, NULL);
    tt_sleep(TT_MS(10));
    cl_log("cancel -> %s", cl_bool(tt_cancel(s, NULL) == 1));
    cl_log("await -> %ld", (long)tt_await(tt_ref(s)));
    cl_log("cancelled: %s cancelling: %d", cl_bool(tt_cancelled(s)), tt_cancelling(s));
    tt_unref(t);
    tt_unref(s);
    return 0;
}

START_TEST(c009_catch_cleanup_reraise_or_swallow)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c009_main, NULL), 0);
    cl_expect("-- cleanup and re-raise\n"
              "worker waiting\n"
              "main cancelled worker\n"
              "worker caught CancelledError('m')\n"
              "worker cleanup finished\n"
              "main got CancelledError('m')\n"
              "worker cancelled: True\n"
              "-- swallow\n"
              "cancel -> True\n"
              "stubborn caught cancel, returning 42\n"
              "await -> 42\n"
              "cancelled: False cancelling: 1\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C011 */

static intptr_t c011_inner(void *arg)
{
    (void)arg;
    intptr_t r = tt_sleep(TT_SEC(1));
    if (r == -ECANCELED)
        cl_log("inner caught %s", my_cancel());
    return r;
}

static intptr_t c011_outer(void *inner)
{
    intptr_t r = tt_await(tt_ref(inner));
    if (r == -ECANCELED)
        cl_log("outer caught %s", my_cancel());
    return r;
}

static intptr_t c011_main(void *arg)
{
    (void)arg;
    tt_future *ti = tt_spawn(c011_inner, NULL);
    tt_future *to = tt_spawn(c011_outer, ti);
    tt_sleep(TT_MS(10));
    cl_log("cancel outer -> %s", cl_bool(tt_cancel(to, "m") == 1));
    tt_future *both[] = {to, ti};
    tt_wait(both, 2, TT_ALL_COMPLETED, TT_FOREVER);
    cl_log("outer cancelled: %s inner cancelled: %s", cl_bool(tt_cancelled(to)),
           cl_bool(tt_cancelled(ti)));
    tt_unref(ti);
    tt_unref(to);
    return 0;
}

START_TEST(c011_cancel_travels_to_awaited_task)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c011_main, NULL), 0);
    cl_expect("cancel outer -> True\n"
              "inner caught CancelledError('m')\n"
              "outer caught CancelledError('m')\n"
              "outer cancelled: True inner cancelled: True\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C012 */

static intptr_t c012_a(void *arg)
{
    (void)arg;
    tt_cancel(tt_current_task(), NULL);
    cl_log("A: still running after self-cancel");
    int x = 0;
    for (int i = 0; i < 10; i++)
        x += i;
    cl_log("A: sync work done %d", x);
    intptr_t r = tt_sleep(TT_SEC(1));
    if (r == -ECANCELED) {
        cl_log("A: cancelled at first await");
        return r;
    }
    cl_log("A: not reached");
    return 0;
}

static intptr_t c012_b(void *arg)
{
    (void)arg;
    tt_cancel(tt_current_task(), NULL);
    cl_log("B: self-cancelled, returning 12 without awaiting");
    return 12;
}

static intptr_t c012_main(void *arg)
{
    (void)arg;
    tt_future *ts[] = {tt_spawn(c012_a, NULL), tt_spawn(c012_b, NULL)};
    tt_wait(ts, 2, TT_ALL_COMPLETED, TT_FOREVER);
    cl_log("A cancelled: %s", cl_bool(tt_cancelled(ts[0])));
    cl_log("B cancelled: %s", cl_bool(tt_cancelled(ts[1])));
    tt_unref(ts[0]);
    tt_unref(ts[1]);
    return 0;
}

START_TEST(c012_self_cancellation)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c012_main, NULL), 0);
    cl_expect("A: still running after self-cancel\n"
              "A: sync work done 45\n"
              "B: self-cancelled, returning 12 without awaiting\n"
              "A: cancelled at first await\n"
              "A cancelled: True\n"
              "B cancelled: True\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C014 */

static intptr_t c014_spinner(void *arg)
{
    (void)arg;
    for (int i = 0;;) {
        cl_log("spinner step %d", i);
        i++;
        intptr_t r = tt_yield();
        if (r == -ECANCELED) {
            cl_log("spinner cancelled while suspended after step %d", i - 1);
            return r;
        }
    }
}

static intptr_t c014_main(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(c014_spinner, NULL);
    tt_yield();
    tt_yield();
    cl_log("main cancels spinner");
    tt_cancel(t, NULL);
    tt_wait(&t, 1, TT_ALL_COMPLETED, TT_FOREVER);
    cl_log("cancelled: %s", cl_bool(tt_cancelled(t)));
    tt_unref(t);
    return 0;
}

START_TEST(c014_cancel_runnable_task_at_its_yield)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c014_main, NULL), 0);
    cl_expect("spinner step 0\n"
              "spinner step 1\n"
              "main cancels spinner\n"
              "spinner cancelled while suspended after step 1\n"
              "cancelled: True\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C016 */

static intptr_t c016_quitter(void *arg)
{
    (void)arg;
    intptr_t r = tt_sleep(TT_MS(10));
    (void)r;
    return -ECANCELED; /* raise CancelledError('self-made'): nobody called cancel */
}

static intptr_t c016_converter(void *arg)
{
    (void)arg;
    if (tt_sleep(TT_SEC(1)) == -ECANCELED)
        return E2;
    return 0;
}

static intptr_t c016_main(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(c016_quitter, NULL);
    intptr_t r = tt_await(tt_ref(t));
    /* C: a returned -ECANCELED carries no message (there was no cancel request to take one
     * from), so Python's CancelledError('self-made') reads CancelledError() here. */
    if (r == -ECANCELED)
        cl_log("quitter: await raises %s", cl_ferr(t));
    cl_log("quitter cancelled: %s cancelling: %d", cl_bool(tt_cancelled(t)), tt_cancelling(t));
    tt_future *u = tt_spawn(c016_converter, NULL);
    tt_sleep(TT_MS(10));
    tt_cancel(u, NULL);
    r = tt_await(tt_ref(u));
    cl_log("converter: await raises %s", cl_ferr(u));
    cl_log("converter: %s", cl_outcome_i(u));
    (void)r;
    tt_unref(t);
    tt_unref(u);
    return 0;
}

START_TEST(c016_task_ends_cancelled_by_itself_or_converts)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c016_main, NULL), 0);
    cl_expect("quitter: await raises CancelledError()\n" /* Python: CancelledError('self-made') */
              "quitter cancelled: True cancelling: 0\n"
              "converter: await raises AppError('E2')\n"
              "converter: error AppError('E2')\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *task_suite(void)
{
    Suite *s = suite_create("conformance-task");
    TCase *tc = tcase_create("task");
    tcase_add_test(tc, c006_spawn_schedules_fifo_not_inline);
    tcase_add_test(tc, c007_task_result_and_error);
    tcase_add_test(tc, c008_cancel_delivered_at_wait_point_or_before_start);
    tcase_add_test(tc, c009_catch_cleanup_reraise_or_swallow);
    tcase_add_test(tc, c011_cancel_travels_to_awaited_task);
    tcase_add_test(tc, c012_self_cancellation);
    tcase_add_test(tc, c014_cancel_runnable_task_at_its_yield);
    tcase_add_test(tc, c016_task_ends_cancelled_by_itself_or_converts);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(task_suite)
