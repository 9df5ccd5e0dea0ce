/* Conformance, section 1 (C001-C005): the future state machine, deferred and ordered
 * done-callbacks, awaiting futures that fail or are cancelled, done-callbacks on tasks.
 * Each test replays ../shared/conformance/py/CNNN.py and compares the whole log with its output. */
#include "conflog.h"

/* ------------------------------------------------------------------------------ C001 */

/* try_call of the script, for calls that return a status: the invalid-state codes read as
 * InvalidStateError, 0/1 of tt_cancel as False/True. */
static const char *c001_status(int rc)
{
    if (rc == -EBUSY || rc == -EAGAIN)
        return "raises InvalidStateError";
    return rc ? "-> True" : "-> False";
}

/* result(): the value, or what it "raises". */
static const char *c001_result(const tt_future *f)
{
    char *s = cl_scratch();
    intptr_t r = tt_result(f);
    if (r == -EAGAIN && !tt_done(f))
        return "raises InvalidStateError";
    if (r < 0)
        snprintf(s, 512, "raises %s", cl_ferr(f));
    else
        snprintf(s, 512, "-> %ld", (long)r);
    return s;
}

/* exception(): C has one outcome value, so exception() is result() read differently: None for a
 * success, the error returned (not raised) for a failure, and it raises for pending/cancelled. */
static const char *c001_exception(const tt_future *f)
{
    char *s = cl_scratch();
    intptr_t r = tt_result(f);
    if (r == -EAGAIN && !tt_done(f))
        return "raises InvalidStateError";
    if (tt_cancelled(f))
        snprintf(s, 512, "raises %s", cl_ferr(f));
    else if (r < 0)
        snprintf(s, 512, "-> %s", cl_err(r, NULL));
    else
        return "-> None";
    return s;
}

static intptr_t c001_main(void *arg)
{
    (void)arg;
    cl_log("-- result path");
    tt_future *f = tt_future_new(NULL);
    cl_log("pending: done %s cancelled %s", cl_bool(tt_done(f)), cl_bool(tt_cancelled(f)));
    cl_log("pending result() %s", c001_result(f));
    cl_log("pending exception() %s", c001_exception(f));
    tt_future_set(f, 42);
    cl_log("done %s cancelled %s", cl_bool(tt_done(f)), cl_bool(tt_cancelled(f)));
    cl_log("result() %s", c001_result(f));
    cl_log("exception() %s", c001_exception(f));
    cl_log("set_result again %s", c001_status(tt_future_set(f, 1)));
    cl_log("set_exception after result %s", c001_status(tt_future_set(f, E1)));
    cl_log("cancel() on done %s", c001_status(tt_cancel(f, NULL)));

    cl_log("-- error path");
    tt_future *g = tt_future_new(NULL);
    tt_future_set(g, E1);
    cl_log("done %s cancelled %s", cl_bool(tt_done(g)), cl_bool(tt_cancelled(g)));
    cl_log("result() %s", c001_result(g));
    cl_log("exception() %s", c001_exception(g));
    cl_log("cancel() on failed %s", c001_status(tt_cancel(g, NULL)));
    cl_log("set_result after error %s", c001_status(tt_future_set(g, 1)));

    cl_log("-- cancel path");
    tt_future *h = tt_future_new(NULL);
    cl_log("cancel('bye') %s", c001_status(tt_cancel(h, "bye")));
    cl_log("done %s cancelled %s", cl_bool(tt_done(h)), cl_bool(tt_cancelled(h)));
    cl_log("result() %s", c001_result(h));
    cl_log("exception() %s", c001_exception(h));
    cl_log("cancel() again %s", c001_status(tt_cancel(h, NULL)));
    cl_log("set_result after cancel %s", c001_status(tt_future_set(h, 1)));
    tt_future *k = tt_future_new(NULL);
    tt_cancel(k, NULL);
    cl_log("no-message cancel, result() %s", c001_result(k));

    tt_unref(f);
    tt_unref(g);
    tt_unref(h);
    tt_unref(k);
    return 0;
}

START_TEST(c001_future_state_machine)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c001_main, NULL), 0);
    cl_expect("-- result path\n"
              "pending: done False cancelled False\n"
              "pending result() raises InvalidStateError\n"
              "pending exception() raises InvalidStateError\n"
              "done True cancelled False\n"
              "result() -> 42\n"
              "exception() -> None\n"
              "set_result again raises InvalidStateError\n"
              "set_exception after result raises InvalidStateError\n"
              "cancel() on done -> False\n"
              "-- error path\n"
              "done True cancelled False\n"
              "result() raises AppError('E1')\n"
              "exception() -> AppError('E1')\n"
              "cancel() on failed -> False\n"
              "set_result after error raises InvalidStateError\n"
              "-- cancel path\n"
              "cancel('bye') -> True\n"
              "done True cancelled True\n"
              "result() raises CancelledError('bye')\n"
              "exception() raises CancelledError('bye')\n"
              "cancel() again -> False\n"
              "set_result after cancel raises InvalidStateError\n"
              "no-message cancel, result() raises CancelledError()\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C002 */

static void c002_sees(tt_future *f, void *label)
{
    cl_log("%s sees %ld", (const char *)label, (long)tt_result(f));
}

static void c002_named(tt_future *f, void *label)
{
    (void)f;
    cl_log("%s", (const char *)label);
}

/* Distinct objects, so (callback, arg) pairs are told apart by identity as Python tells
 * callables apart. */
static const char c002_r1[] = "r1", c002_r2[] = "r2", c002_r3[] = "r3";

static intptr_t c002_main(void *arg)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    tt_on_done(f, c002_sees, "cb1");
    tt_on_done(f, c002_sees, "cb2");
    cl_log("before set_result");
    tt_future_set(f, 7);
    cl_log("after set_result (callbacks not yet run)");
    tt_on_done(f, c002_sees, "cb3 (added after done)");
    cl_log("after adding cb3");
    tt_yield();
    cl_log("after one loop iteration");

    cl_log("-- removal");
    tt_future *g = tt_future_new(NULL);
    tt_on_done(g, c002_named, (void *)c002_r1);
    tt_on_done(g, c002_named, (void *)c002_r2);
    tt_on_done(g, c002_named, (void *)c002_r1);
    cl_log("remove r1 -> %d", tt_remove_done(g, c002_named, (void *)c002_r1));
    cl_log("remove r3 (never added) -> %d", tt_remove_done(g, c002_named, (void *)c002_r3));
    tt_future_set(g, 0);
    tt_yield();
    cl_log("end");
    tt_unref(f);
    tt_unref(g);
    return 0;
}

START_TEST(c002_callbacks_deferred_ordered_removable)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c002_main, NULL), 0);
    cl_expect("before set_result\n"
              "after set_result (callbacks not yet run)\n"
              "after adding cb3\n"
              "cb1 sees 7\n"
              "cb2 sees 7\n"
              "cb3 (added after done) sees 7\n"
              "after one loop iteration\n"
              "-- removal\n"
              "remove r1 -> 2\n"
              "remove r3 (never added) -> 0\n"
              "r2\n"
              "end\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C004 */

static void c004_fail_f(void *f) { tt_future_set(f, E1); }

static intptr_t c004_consumer_f(void *f)
{
    intptr_t r = tt_await(tt_ref(f));
    if (r < 0)
        cl_log("consumer caught %s", cl_err(r, NULL));
    return r; /* re-raise */
}

static intptr_t c004_consumer_g(void *g)
{
    intptr_t r = tt_await(tt_ref(g));
    if (r == -ECANCELED) {
        /* The error is a bare code; its message is kept on the future that was cancelled. */
        cl_log("consumer caught %s", cl_ferr(g));
        return r;
    }
    cl_log("not reached");
    return r;
}

static intptr_t c004_main(void *arg)
{
    (void)arg;
    cl_log("-- future fails");
    tt_future *f = tt_future_new(NULL);
    tt_future *t = tt_spawn(c004_consumer_f, f);
    tt_call_later(tt_loop_current(), TT_MS(10), c004_fail_f, f);
    intptr_t r = tt_await(tt_ref(t));
    if (r < 0)
        cl_log("main awaiting task caught %s", cl_err(r, NULL));
    cl_log("task: %s | future: %s", cl_outcome_i(t), cl_outcome_i(f));

    cl_log("-- future cancelled");
    tt_future *g = tt_future_new(NULL);
    tt_future *u = tt_spawn(c004_consumer_g, g);
    tt_sleep(TT_MS(10));
    cl_log("g.cancel('stop') -> %s", cl_bool(tt_cancel(g, "stop") == 1));
    r = tt_await(tt_ref(u));
    /* C: u ends cancelled because its body returned -ECANCELED, but nobody made a cancel request
     * on u, so u carries no message (DESIGN: a cancelled future's message is that of the first
     * request). Python's exception object carried 'stop' along; in C 'stop' stays on g. */
    if (r == -ECANCELED)
        cl_log("main awaiting task got %s", cl_ferr(u));
    cl_log("task cancelled: %s | future cancelled: %s", cl_bool(tt_cancelled(u)),
           cl_bool(tt_cancelled(g)));
    tt_unref(f);
    tt_unref(t);
    tt_unref(g);
    tt_unref(u);
    return 0;
}

START_TEST(c004_await_failed_or_cancelled_future)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c004_main, NULL), 0);
    cl_expect("-- future fails\n"
              "consumer caught AppError('E1')\n"
              "main awaiting task caught AppError('E1')\n"
              "task: error AppError('E1') | future: error AppError('E1')\n"
              "-- future cancelled\n"
              "g.cancel('stop') -> True\n"
              "consumer caught CancelledError('stop')\n"
              "main awaiting task got CancelledError()\n" /* Python: CancelledError('stop') */
              "task cancelled: True | future cancelled: True\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C005 */

static intptr_t c005_job(void *ms)
{
    intptr_t r = tt_sleep(TT_MS((intptr_t)ms));
    return r < 0 ? r : STR("v");
}

static void c005_cb(tt_future *f, void *label)
{
    cl_log("%s: %s", (const char *)label, cl_outcome_s(f));
}

static intptr_t c005_main(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(c005_job, (void *)10);
    tt_on_done(t, c005_cb, "cb1");
    tt_on_done(t, c005_cb, "cb2");
    intptr_t r = tt_await(tt_ref(t));
    cl_log("main awaits -> %s", r >= 0 ? (const char *)r : cl_err(r, NULL));
    tt_future *u = tt_spawn(c005_job, (void *)1000);
    tt_on_done(u, c005_cb, "cb on cancelled task");
    tt_yield();
    tt_cancel(u, NULL);
    tt_wait(&u, 1, TT_ALL_COMPLETED, TT_FOREVER);
    cl_log("main after wait");
    tt_unref(t);
    tt_unref(u);
    return 0;
}

START_TEST(c005_task_done_callbacks)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c005_main, NULL), 0);
    cl_expect("cb1: result 'v'\n"
              "cb2: result 'v'\n"
              "main awaits -> v\n"
              "cb on cancelled task: cancelled\n"
              "main after wait\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *future_suite(void)
{
    Suite *s = suite_create("conformance-future");
    TCase *tc = tcase_create("future");
    tcase_add_test(tc, c001_future_state_machine);
    tcase_add_test(tc, c002_callbacks_deferred_ordered_removable);
    tcase_add_test(tc, c004_await_failed_or_cancelled_future);
    tcase_add_test(tc, c005_task_done_callbacks);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(future_suite)
