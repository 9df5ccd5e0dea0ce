/* Conformance, section 3 (C017-C018): timers fire in deadline order whatever the start order,
 * and sleep(0) (or a negative sleep) yields exactly one loop turn, so two yielding tasks
 * alternate strictly and callbacks queued before the yield run before it returns. */
#include "conflog.h"

/* ------------------------------------------------------------------------------ C017 */

struct c017_nap {
    const char *name;
    int ms;
    const char *woke; /* sleep(d, result=...) has no C counterpart: the task returns it */
};

static intptr_t c017_napper(void *arg)
{
    struct c017_nap *n = arg;
    intptr_t r = tt_sleep(TT_MS(n->ms));
    if (r < 0)
        return r;
    cl_log("%s woke after %d ms -> %s", n->name, n->ms, n->woke);
    return STR(n->woke);
}

static intptr_t c017_main(void *arg)
{
    (void)arg;
    static struct c017_nap naps[] = {{"A", 60, "A-woke"}, {"B", 20, "B-woke"}, {"C", 40, "C-woke"}};
    tt_future *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tt_spawn(c017_napper, &naps[i]);
    intptr_t res[3] = {0};
    int rc = tt_gather(ts, 3, res, 0);
    if (rc == 0)
        cl_log("gather (input order): ['%s', '%s', '%s']", (const char *)res[0],
               (const char *)res[1], (const char *)res[2]);
    else
        cl_log("gather failed %s", cl_err(rc, NULL));
    for (int i = 0; i < 3; i++)
        tt_unref(ts[i]);
    return 0;
}

START_TEST(c017_sleep_wakes_in_deadline_order)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c017_main, NULL), 0);
    cl_expect("B woke after 20 ms -> B-woke\n"
              "C woke after 40 ms -> C-woke\n"
              "A woke after 60 ms -> A-woke\n"
              "gather (input order): ['A-woke', 'B-woke', 'C-woke']\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C018 */

static void c018_log_cb(void *text) { cl_log("%s", (const char *)text); }

static intptr_t c018_ping(void *name)
{
    for (int i = 0; i < 3; i++) {
        cl_log("%s %d", (const char *)name, i);
        intptr_t r = tt_sleep(0);
        if (r < 0)
            return r;
    }
    return 0;
}

static intptr_t c018_main(void *arg)
{
    (void)arg;
    tt_call_soon(tt_loop_current(), c018_log_cb, "call_soon callback");
    /* sleep(0, result='r0') / sleep(-1, result='rneg'): C's sleep has no result argument; it
     * returns 0, so the port logs that 0 (after the callback, which proves the yield). */
    cl_log("sleep(0) returned %d", tt_sleep(0));
    cl_log("sleep(-1) returned %d", tt_sleep(-1));
    tt_future *ts[] = {tt_spawn(c018_ping, "A"), tt_spawn(c018_ping, "B")};
    tt_gather(ts, 2, NULL, 0);
    tt_unref(ts[0]);
    tt_unref(ts[1]);
    return 0;
}

START_TEST(c018_sleep_zero_yields_one_turn)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c018_main, NULL), 0);
    cl_expect("call_soon callback\n"
              "sleep(0) returned 0\n"    /* Python: r0 */
              "sleep(-1) returned 0\n"   /* Python: rneg */
              "A 0\n"
              "B 0\n"
              "A 1\n"
              "B 1\n"
              "A 2\n"
              "B 2\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *sleep_loop_suite(void)
{
    Suite *s = suite_create("conformance-sleep-loop");
    TCase *tc = tcase_create("sleep");
    tcase_add_test(tc, c017_sleep_wakes_in_deadline_order);
    tcase_add_test(tc, c018_sleep_zero_yields_one_turn);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(sleep_loop_suite)
