/* Conformance, section 5 (C030-C037): tt_wait never raises the children's errors, returns at the
 * first error with TT_FIRST_EXCEPTION (a cancellation is not one), rejects bad arguments, counts
 * duplicates, and cancelling the waiter leaves the waited tasks running. */
#include "conflog.h"

/* Python prints sorted([names in done]) and sorted([names in pending]); in C tt_done(fs[i])
 * tells which; the names are given in input order, which is sorted here. */
static const char *names_where(tt_future *const *fs, const char *const *names, size_t n, int done)
{
    char *s = cl_scratch();
    size_t len = (size_t)snprintf(s, 512, "[");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (!!tt_done(fs[i]) != done)
            continue;
        len += (size_t)snprintf(s + len, 512 - len, "%s'%s'", first ? "" : ", ", names[i]);
        first = 0;
    }
    snprintf(s + len, 512 - len, "]");
    return s;
}

/* ------------------------------------------------------------------------------ C030 */

static intptr_t c030_main(void *arg)
{
    (void)arg;
    static struct job jobs[] = {{"a", 30, 0, NULL}, {"E1", 10, E1, NULL}, {"c", 20, 0, NULL}};
    static const char *const names[] = {"A", "B", "C"};
    tt_future *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tt_spawn(job_run, &jobs[i]);
    ssize_t n = tt_wait(ts, 3, TT_ALL_COMPLETED, TT_FOREVER);
    cl_log("done: %s pending: %s", names_where(ts, names, 3, 1), names_where(ts, names, 3, 0));
    for (int i = 0; i < 3; i++)
        cl_log("%s %s", names[i], cl_outcome_s(ts[i]));
    cl_log("wait -> %ld", (long)n);
    for (int i = 0; i < 3; i++)
        tt_unref(ts[i]);
    return 0;
}

START_TEST(c030_all_completed_never_raises)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c030_main, NULL), 0);
    cl_expect("done: ['A', 'B', 'C'] pending: []\n"
              "A result 'a'\n"
              "B error AppError('E1')\n"
              "C result 'c'\n"
              "wait -> 3\n"); /* C only: tt_wait returns how many are done */
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C032 */

static intptr_t c032_main(void *arg)
{
    (void)arg;
    static struct job jobs[] = {{"a", 10, 0, "a completed"}, {"E1", 50, E1, "E1 raising"},
                                {"c", 300, 0, "c completed"}};
    static const char *const names[] = {"A", "B", "C"};
    tt_future *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tt_spawn(job_run, &jobs[i]);
    tt_wait(ts, 3, TT_FIRST_EXCEPTION, TT_FOREVER);
    cl_log("wait returned done: %s pending: %s", names_where(ts, names, 3, 1),
           names_where(ts, names, 3, 0));
    tt_wait(&ts[2], 1, TT_ALL_COMPLETED, TT_FOREVER);
    cl_log("C: %s", cl_outcome_s(ts[2]));
    for (int i = 0; i < 3; i++)
        tt_unref(ts[i]);
    return 0;
}

START_TEST(c032_first_exception_returns_at_first_error)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c032_main, NULL), 0);
    cl_expect("a completed\n"
              "E1 raising\n"
              "wait returned done: ['A', 'B'] pending: ['C']\n"
              "c completed\n"
              "C: result 'c'\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C033 */

static void c033_cancel(void *f) { tt_cancel(f, NULL); }

static intptr_t c033_main(void *arg)
{
    (void)arg;
    static struct job jobs[] = {{"a", 10, 0, "a completed"}, {"b", 1000, 0, "b completed"},
                                {"c", 40, 0, "c completed"}};
    tt_future *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tt_spawn(job_run, &jobs[i]);
    tt_call_later(tt_loop_current(), TT_MS(20), c033_cancel, ts[1]);
    ssize_t n = tt_wait(ts, 3, TT_FIRST_EXCEPTION, TT_FOREVER);
    cl_log("done count: %ld pending count: %ld", (long)n, (long)(3 - n));
    cl_log("a: %s b: %s c: %s", cl_outcome_s(ts[0]), cl_outcome_s(ts[1]), cl_outcome_s(ts[2]));
    for (int i = 0; i < 3; i++)
        tt_unref(ts[i]);
    return 0;
}

START_TEST(c033_first_exception_ignores_cancellation)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c033_main, NULL), 0);
    cl_expect("a completed\n"
              "c completed\n"
              "done count: 3 pending count: 0\n"
              "a: result 'a' b: cancelled c: result 'c'\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C035 */

static const char *c035_rc(ssize_t rc)
{
    if (rc == -EINVAL)
        return "EINVAL";
    char *s = cl_scratch();
    snprintf(s, 512, "no error (%ld)", (long)rc);
    return s;
}

static intptr_t c035_main(void *arg)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    /* Python's ValueError / TypeError become -EINVAL: an empty set, a bad return_when, no array
     * at all (a bare future instead of a collection), and a NULL entry (C's nearest thing to a
     * coroutine in the list: something that is not a future). */
    tt_future *fs[] = {f};
    tt_future *with_null[] = {f, NULL};
    cl_log("empty -> %s", c035_rc(tt_wait(fs, 0, TT_ALL_COMPLETED, TT_FOREVER)));
    cl_log("bad return_when -> %s", c035_rc(tt_wait(fs, 1, (tt_when)42, TT_FOREVER)));
    cl_log("bare future -> %s", c035_rc(tt_wait(NULL, 1, TT_ALL_COMPLETED, TT_FOREVER)));
    cl_log("NULL in list -> %s", c035_rc(tt_wait(with_null, 2, TT_ALL_COMPLETED, TT_FOREVER)));
    tt_unref(f);

    static struct job jt = {"t", 10, 0, NULL}, ju = {"u", 10, 0, NULL};
    tt_future *t = tt_spawn(job_run, &jt), *u = tt_spawn(job_run, &ju);
    tt_future *dup[] = {t, t, u, t};
    ssize_t n = tt_wait(dup, 4, TT_ALL_COMPLETED, TT_FOREVER);
    /* C: tt_wait counts entries (DESIGN), so 4; the distinct done futures are the set. */
    int distinct = tt_done(t) + tt_done(u);
    cl_log("duplicates: wait -> %ld, distinct done: %d pending size: %d results: ['%s', '%s']",
           (long)n, distinct, 2 - distinct, (const char *)tt_result(t), (const char *)tt_result(u));
    tt_unref(t);
    tt_unref(u);
    return 0;
}

START_TEST(c035_wait_bad_arguments_and_duplicates)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c035_main, NULL), 0);
    cl_expect("empty -> EINVAL\n"           /* ValueError */
              "bad return_when -> EINVAL\n" /* ValueError */
              "bare future -> EINVAL\n"     /* TypeError */
              "NULL in list -> EINVAL\n"    /* coroutine in list -> TypeError */
              /* Python: done size: 2 pending size: 0 results: ['t', 'u'] */
              "duplicates: wait -> 4, distinct done: 2 pending size: 0 results: ['t', 'u']\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C037 */

static intptr_t c037_waiter(void *a)
{
    tt_future *fs[] = {a};
    ssize_t r = tt_wait(fs, 1, TT_ALL_COMPLETED, TT_FOREVER);
    if (r == -ECANCELED)
        cl_log("waiter cancelled");
    return r;
}

static intptr_t c037_main(void *arg)
{
    (void)arg;
    static struct job ja = {"a", 200, 0, "a completed"};
    tt_future *a = tt_spawn(job_run, &ja);
    tt_future *w = tt_spawn(c037_waiter, a);
    tt_sleep(TT_MS(10));
    tt_cancel(w, NULL);
    tt_wait(&w, 1, TT_ALL_COMPLETED, TT_FOREVER);
    cl_log("waiter cancelled: %s a done yet: %s", cl_bool(tt_cancelled(w)), cl_bool(tt_done(a)));
    intptr_t r = tt_await(tt_ref(a));
    cl_log("await a -> %s", r >= 0 ? (const char *)r : cl_err(r, NULL));
    tt_unref(a);
    tt_unref(w);
    return 0;
}

START_TEST(c037_cancel_waiter_leaves_waited_running)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c037_main, NULL), 0);
    cl_expect("waiter cancelled\n"
              "waiter cancelled: True a done yet: False\n"
              "a completed\n"
              "await a -> a\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *wait_suite(void)
{
    Suite *s = suite_create("conformance-wait");
    TCase *tc = tcase_create("wait");
    tcase_add_test(tc, c030_all_completed_never_raises);
    tcase_add_test(tc, c032_first_exception_returns_at_first_error);
    tcase_add_test(tc, c033_first_exception_ignores_cancellation);
    tcase_add_test(tc, c035_wait_bad_arguments_and_duplicates);
    tcase_add_test(tc, c037_cancel_waiter_leaves_waited_running);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(wait_suite)
