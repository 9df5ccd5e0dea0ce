/* Conformance, section 8 (C049-C053): a shield lets its awaiter be cancelled while the inner runs
 * on untouched, passes results and errors through, returns a done input itself, and cancelling
 * the shield (directly or through a gather of shields) leaves the inner futures alone. */
#include "conflog.h"

/* ------------------------------------------------------------------------------ C049 */

static intptr_t c049_caller(void *it)
{
    intptr_t r = tt_await(tt_shield(it));
    if (r == -ECANCELED)
        cl_log("caller got CancelledError; inner done: %s", cl_bool(tt_done(it)));
    return r;
}

static intptr_t c049_main(void *arg)
{
    (void)arg;
    static struct job inner = {"inner-result", 200, 0, "inner completed"};
    tt_future *it = tt_spawn(job_run, &inner);
    tt_future *c = tt_spawn(c049_caller, it);
    tt_sleep(TT_MS(10));
    tt_cancel(c, NULL);
    tt_wait(&c, 1, TT_ALL_COMPLETED, TT_FOREVER);
    cl_log("caller cancelled: %s", cl_bool(tt_cancelled(c)));
    intptr_t r = tt_await(tt_ref(it));
    cl_log("inner -> %s | inner cancelled: %s", r >= 0 ? (const char *)r : cl_err(r, NULL),
           cl_bool(tt_cancelled(it)));
    tt_unref(it);
    tt_unref(c);
    return 0;
}

START_TEST(c049_outer_cancelled_inner_completes)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c049_main, NULL), 0);
    cl_expect("caller got CancelledError; inner done: False\n"
              "caller cancelled: True\n"
              "inner completed\n"
              "inner -> inner-result | inner cancelled: False\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C051 */

static intptr_t c051_ok(void *arg)
{
    (void)arg;
    intptr_t r = tt_sleep(TT_MS(10));
    return r < 0 ? r : 7;
}

static intptr_t c051_bad(void *arg)
{
    (void)arg;
    intptr_t r = tt_sleep(TT_MS(10));
    return r < 0 ? r : E1;
}

static intptr_t c051_main(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(c051_ok, NULL);
    cl_log("ok -> %ld", (long)tt_await(tt_shield(t)));
    tt_unref(t);
    t = tt_spawn(c051_bad, NULL);
    intptr_t r = tt_await(tt_shield(t));
    cl_log("bad -> %s", cl_err(r, NULL));
    tt_unref(t);

    tt_future *f = tt_future_new(NULL);
    tt_future_set(f, 42);
    tt_future *s = tt_shield(f);
    cl_log("completed input: same object: %s -> %ld", cl_bool(s == f), (long)tt_await(s));
    tt_unref(f);
    tt_future *g = tt_future_new(NULL);
    tt_future *s2 = tt_shield(g);
    cl_log("pending input: new object: %s", cl_bool(s2 != g));
    tt_future_set(g, 1);
    cl_log("-> %ld", (long)tt_await(s2));
    tt_unref(g);
    return 0;
}

START_TEST(c051_pass_through_and_shortcut)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c051_main, NULL), 0);
    cl_expect("ok -> 7\n"
              "bad -> AppError('E1')\n"
              "completed input: same object: True -> 42\n"
              "pending input: new object: True\n"
              "-> 1\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C053 */

static intptr_t c053_main(void *arg)
{
    (void)arg;
    tt_future *inner = tt_future_new(NULL);
    tt_future *outer = tt_shield(inner);
    cl_log("outer.cancel() -> %s", cl_bool(tt_cancel(outer, NULL) == 1));
    tt_yield();
    cl_log("outer cancelled: %s inner done: %s", cl_bool(tt_cancelled(outer)), cl_bool(tt_done(inner)));
    tt_future_set(inner, 5);
    tt_yield();
    cl_log("inner result: %ld", (long)tt_result(inner));
    tt_unref(outer);
    tt_unref(inner);

    tt_future *c1 = tt_future_new(NULL), *c2 = tt_future_new(NULL);
    tt_future *ss[] = {tt_shield(c1), tt_shield(c2)};
    tt_future *g = tt_gather_future(ss, 2, 0);
    tt_cancel(g, NULL);
    tt_yield();
    cl_log("shields cancelled: %s %s children done: %s %s", cl_bool(tt_cancelled(ss[0])),
           cl_bool(tt_cancelled(ss[1])), cl_bool(tt_done(c1)), cl_bool(tt_done(c2)));
    if (tt_await(g) == -ECANCELED)
        cl_log("gather -> CancelledError");
    tt_unref(ss[0]);
    tt_unref(ss[1]);
    tt_unref(c1);
    tt_unref(c2);
    return 0;
}

START_TEST(c053_cancel_shield_directly_and_gather_of_shields)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c053_main, NULL), 0);
    cl_expect("outer.cancel() -> True\n"
              "outer cancelled: True inner done: False\n"
              "inner result: 5\n"
              "shields cancelled: True True children done: False False\n"
              "gather -> CancelledError\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *shield_suite(void)
{
    Suite *s = suite_create("conformance-shield");
    TCase *tc = tcase_create("shield");
    tcase_add_test(tc, c049_outer_cancelled_inner_completes);
    tcase_add_test(tc, c051_pass_through_and_shortcut);
    tcase_add_test(tc, c053_cancel_shield_directly_and_gather_of_shields);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(shield_suite)
