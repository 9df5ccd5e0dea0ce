/* Conformance, section 10 (C069-C078): timeout scopes. An expiry turns -ECANCELED into -ETIMEDOUT
 * at exit and leaves the task uncancelled; nested scopes tell their expiry from an outer one's; a
 * zero or past deadline interrupts the first suspension only; foreign errors pass through. */
#include "conflog.h"

/* tt_timeout_when's deadline, asserting the call itself succeeded. */
static int64_t when_of(const tt_timeout *t)
{
    int64_t d = 12345;
    ck_assert_int_eq(tt_timeout_when(t, &d), 0);
    return d;
}


/* ------------------------------------------------------------------------------ C069 */

static intptr_t c069_worker(void *arg)
{
    (void)arg;
    int64_t t0 = tt_now();
    tt_timeout cm;
    tt_timeout_enter(&cm, TT_MS(10));
    intptr_t r = tt_sleep(TT_SEC(1));
    if (r == -ECANCELED)
        cl_log("block saw CancelledError");
    r = tt_timeout_exit(&cm, r);
    if (r == -ETIMEDOUT)
        cl_log("got %s | interrupted early (<500ms): %s", cl_err(r, NULL),
               cl_bool(tt_now() - t0 < TT_MS(500)));
    /* "cause is CancelledError" has no C counterpart (no exception chaining): not ported. */
    cl_log("expired: %s | cancelling(): %d", cl_bool(tt_timeout_expired(&cm)),
           tt_cancelling(tt_current_task()));
    if (tt_sleep(TT_MS(10)) < 0)
        return -ECANCELED;
    return STR("after-timeout");
}

static intptr_t c069_main(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(c069_worker, NULL);
    intptr_t r = tt_await(tt_ref(t));
    cl_log("-> %s | task cancelled: %s", r >= 0 ? (const char *)r : cl_err(r, NULL),
           cl_bool(tt_cancelled(t)));
    tt_unref(t);
    return 0;
}

START_TEST(c069_expiry_gives_timedout_task_not_cancelled)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c069_main, NULL), 0);
    cl_expect("block saw CancelledError\n"
              "got TimeoutError() | interrupted early (<500ms): True\n"
              "expired: True | cancelling(): 0\n"
              "-> after-timeout | task cancelled: False\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C070 */

static intptr_t c070_main(void *arg)
{
    (void)arg;
    tt_timeout cm;
    tt_timeout_enter(&cm, TT_MS(500));
    intptr_t r = tt_sleep(TT_MS(10));
    if (r == 0)
        cl_log("block finished");
    r = tt_timeout_exit(&cm, r);
    cl_log("expired: %s deadline in future: %s (exit -> %ld)", cl_bool(tt_timeout_expired(&cm)),
           cl_bool(when_of(&cm) > tt_now()), (long)r);
    tt_timeout cm2;
    tt_timeout_enter(&cm2, TT_FOREVER);
    r = tt_timeout_exit(&cm2, tt_sleep(TT_MS(20)));
    cl_log("None timeout expired: %s when: %s (exit -> %ld)", cl_bool(tt_timeout_expired(&cm2)),
           when_of(&cm2) == TT_FOREVER ? "None" : "a deadline", (long)r);
    if (tt_sleep(TT_MS(550)) == 0)
        cl_log("no late cancellation");
    return 0;
}

START_TEST(c070_not_reached_and_unlimited)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c070_main, NULL), 0);
    cl_expect("block finished\n"
              "expired: False deadline in future: True (exit -> 0)\n"
              "None timeout expired: False when: None (exit -> 0)\n"
              "no late cancellation\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C072 */

static intptr_t c072_main(void *arg)
{
    (void)arg;
    tt_timeout outer, inner;
    tt_timeout_enter(&outer, TT_MS(500));
    tt_timeout_enter(&inner, TT_MS(10));
    intptr_t r = tt_timeout_exit(&inner, tt_sleep(TT_SEC(1)));
    if (r == -ETIMEDOUT)
        cl_log("(a) inner TimeoutError caught inside outer");
    r = tt_sleep(TT_MS(10));
    if (r == 0)
        cl_log("(a) outer block continued");
    tt_timeout_exit(&outer, r);
    cl_log("(a) inner expired: %s | outer expired: %s", cl_bool(tt_timeout_expired(&inner)),
           cl_bool(tt_timeout_expired(&outer)));

    tt_timeout_enter(&outer, TT_MS(10));
    tt_timeout_enter(&inner, TT_MS(500));
    r = tt_timeout_exit(&inner, tt_sleep(TT_SEC(1)));
    const char *inner_saw = cl_err(r, NULL);
    r = tt_timeout_exit(&outer, r);
    cl_log("(b) outer raised %s", cl_err(r, NULL));
    cl_log("(b) inner context raised %s", inner_saw);
    cl_log("(b) outer expired: %s | inner expired: %s", cl_bool(tt_timeout_expired(&outer)),
           cl_bool(tt_timeout_expired(&inner)));
    return 0;
}

START_TEST(c072_nested_scopes_different_deadlines)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c072_main, NULL), 0);
    cl_expect("(a) inner TimeoutError caught inside outer\n"
              "(a) outer block continued\n"
              "(a) inner expired: True | outer expired: False\n"
              "(b) outer raised TimeoutError()\n"
              "(b) inner context raised CancelledError()\n"
              "(b) outer expired: True | inner expired: False\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C074 */

static intptr_t c074_main(void *arg)
{
    (void)arg;
    /* Python's timeout(-1) is a deadline in the past; in C a negative delay is TT_FOREVER, so
     * the past deadline is given with tt_timeout_enter_at. */
    for (int k = 0; k < 2; k++) {
        tt_timeout cm;
        if (k == 0)
            tt_timeout_enter(&cm, 0);
        else
            tt_timeout_enter_at(&cm, tt_now() - TT_MS(1));
        intptr_t r = tt_sleep(0);
        if (r == 0)
            cl_log("not reached");
        r = tt_timeout_exit(&cm, r);
        cl_log("%s + sleep(0) -> %s expired: %s", k == 0 ? "timeout(0)" : "timeout_at(past)",
               cl_err(r, NULL), cl_bool(tt_timeout_expired(&cm)));
    }
    tt_timeout cm;
    tt_timeout_enter(&cm, 0);
    volatile int x = 1 + 1;
    (void)x;
    intptr_t r = tt_timeout_exit(&cm, 0);
    cl_log("timeout(0) with no suspension -> completed normally (%ld), expired: %s", (long)r,
           cl_bool(tt_timeout_expired(&cm)));
    if (tt_sleep(TT_MS(10)) == 0)
        cl_log("task not cancelled afterwards");
    return 0;
}

START_TEST(c074_zero_or_past_deadline)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c074_main, NULL), 0);
    cl_expect("timeout(0) + sleep(0) -> TimeoutError() expired: True\n"
              "timeout_at(past) + sleep(0) -> TimeoutError() expired: True\n" /* timeout(-1) */
              "timeout(0) with no suspension -> completed normally (0), expired: False\n"
              "task not cancelled afterwards\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C075 */

static intptr_t c075_main(void *arg)
{
    (void)arg;
    tt_timeout cm;
    tt_timeout_enter(&cm, TT_MS(50));
    intptr_t r = tt_timeout_exit(&cm, E1); /* the block raises E1 at once */
    cl_log("foreign error -> %s expired: %s", cl_err(r, NULL), cl_bool(tt_timeout_expired(&cm)));
    tt_timeout_enter(&cm, TT_MS(10));
    tt_sleep(TT_SEC(1));
    r = tt_timeout_exit(&cm, E_CLEANUP); /* finally: raise AppError('E-cleanup') */
    cl_log("error during cancellation -> %s expired: %s", cl_err(r, NULL),
           cl_bool(tt_timeout_expired(&cm)));
    /* C only: the scope took back its own cancel request, so the task is not left cancelled. */
    cl_log("cancelling: %d", tt_cancelling(tt_current_task()));
    return 0;
}

START_TEST(c075_foreign_errors_pass_through)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c075_main, NULL), 0);
    cl_expect("foreign error -> AppError('E1') expired: False\n"
              "error during cancellation -> AppError('E-cleanup') expired: True\n"
              "cancelling: 0\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C076 */

static intptr_t c076_main(void *arg)
{
    (void)arg;
    tt_future *me = tt_current_task();
    tt_timeout cm;
    tt_timeout_enter(&cm, TT_MS(10));
    intptr_t r = tt_sleep(TT_SEC(1));
    if (r == -ECANCELED) {
        cl_log("block swallowed the cancellation");
        r = 0;
    }
    r = tt_timeout_exit(&cm, r);
    cl_log("exited normally (%ld); expired: %s cancelling: %d", (long)r,
           cl_bool(tt_timeout_expired(&cm)), tt_cancelling(me));
    if (tt_sleep(TT_MS(10)) == 0)
        cl_log("task continues");
    return 0;
}

START_TEST(c076_block_swallows_timeout_cancellation)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c076_main, NULL), 0);
    cl_expect("block swallowed the cancellation\n"
              "exited normally (0); expired: True cancelling: 0\n"
              "task continues\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C078 */

static int c078_cancelled[3], c078_n;

static intptr_t c078_child(void *i)
{
    intptr_t r = tt_sleep(TT_SEC(1));
    if (r == -ECANCELED && c078_n < 3)
        c078_cancelled[c078_n++] = (int)(intptr_t)i;
    return r;
}

static intptr_t c078_main(void *arg)
{
    (void)arg;
    tt_timeout cm;
    tt_timeout_enter(&cm, TT_MS(20));
    tt_group *g = tt_group_new();
    for (intptr_t i = 0; i < 3; i++)
        tt_unref(tt_group_spawn(g, c078_child, (void *)i));
    int rc = tt_group_join(g);
    tt_group_free(g);
    intptr_t r = tt_timeout_exit(&cm, rc);
    cl_log("raised %s", cl_err(r, NULL));
    /* sorted, as the script prints them */
    for (int i = 1; i < c078_n; i++)
        for (int j = i; j > 0 && c078_cancelled[j - 1] > c078_cancelled[j]; j--) {
            int t = c078_cancelled[j];
            c078_cancelled[j] = c078_cancelled[j - 1];
            c078_cancelled[j - 1] = t;
        }
    char list[64] = "";
    size_t len = 0;
    for (int i = 0; i < c078_n; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", i ? ", " : "", c078_cancelled[i]);
    cl_log("children cancelled: [%s]", list);
    return 0;
}

START_TEST(c078_timeout_around_group)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c078_main, NULL), 0);
    cl_expect("raised TimeoutError()\n"
              "children cancelled: [0, 1, 2]\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *timeout_suite(void)
{
    Suite *s = suite_create("conformance-timeout");
    TCase *tc = tcase_create("timeout");
    tcase_add_test(tc, c069_expiry_gives_timedout_task_not_cancelled);
    tcase_add_test(tc, c070_not_reached_and_unlimited);
    tcase_add_test(tc, c072_nested_scopes_different_deadlines);
    tcase_add_test(tc, c074_zero_or_past_deadline);
    tcase_add_test(tc, c075_foreign_errors_pass_through);
    tcase_add_test(tc, c076_block_swallows_timeout_cancellation);
    tcase_add_test(tc, c078_timeout_around_group);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(timeout_suite)
