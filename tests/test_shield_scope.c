/* Unit suite for shield scopes (tt_shield_enter/exit, 0.2): a cancel request is held back
 * across awaits and sleeps and delivered after exit; tt_cancelling counts it; a timeout scope
 * inside still fires while one outside is held back; nesting; bad input and wrong places. */
#define _GNU_SOURCE
#include "testutil.h"

static tt_future *me(void) { return tt_current_task(); }

static intptr_t five_later(void *arg)
{
    (void)arg;
    return tt_sleep(TT_MS(20)) == 0 ? 5 : -ECANCELED;
}

/* The shielded task's record, read by the main task. */
static intptr_t SLEEP1, AWAIT2, CANCELLING_INSIDE, EXIT_RC, AFTER_EXIT;

static intptr_t shielded_cleanup(void *arg)
{
    (void)arg;
    tt_shield_scope s;
    ck_assert_int_eq(tt_shield_enter(&s), 0);
    SLEEP1 = tt_sleep(TT_MS(30));          /* the cancel arrives here, at 10 ms */
    AWAIT2 = tt_await(tt_spawn(five_later, NULL));
    CANCELLING_INSIDE = tt_cancelling(me());
    EXIT_RC = tt_shield_exit(&s);
    AFTER_EXIT = tt_sleep(TT_SEC(5));     /* the held-back cancel is delivered here */
    return AFTER_EXIT == -ECANCELED ? -ECANCELED : 1;
}

static intptr_t main_holds_across_two_awaits(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(shielded_cleanup, NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    ck_assert_int_eq(tt_cancel(t, "stop"), 1);
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_await(t), -ECANCELED);
    ck_assert_int_lt(tt_now() - t0, TT_SEC(4)); /* the long sleep after exit was cut */
    return 0;
}

START_TEST(shield_holds_cancel_across_two_awaits_and_delivers_after_exit)
{
    ck_assert_int_eq(tu_run(main_holds_across_two_awaits, NULL), 0);
    ck_assert_int_eq(SLEEP1, 0);
    ck_assert_int_eq(AWAIT2, 5);
    ck_assert_int_eq(CANCELLING_INSIDE, 1);
    ck_assert_int_eq(EXIT_RC, 0);
    ck_assert_int_eq(AFTER_EXIT, -ECANCELED);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t INNER_SLEEP, INNER_EXIT, OUTER_SLEEP_AFTER;
static intptr_t timeout_inside_shield(void *arg)
{
    (void)arg;
    tt_shield_scope s;
    tt_timeout to;
    ck_assert_int_eq(tt_shield_enter(&s), 0);
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(30)), 0);
    INNER_SLEEP = tt_sleep(TT_SEC(5)); /* an outside cancel at 10 ms is held; 30 ms fires */
    INNER_EXIT = tt_timeout_exit(&to, INNER_SLEEP);
    ck_assert_int_eq(tt_cancelling(me()), 1); /* the outside request, still held */
    ck_assert_int_eq(tt_shield_exit(&s), 0);
    OUTER_SLEEP_AFTER = tt_sleep(TT_SEC(5));
    return 0;
}

static intptr_t main_timeout_inside(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(timeout_inside_shield, NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    tt_await(t);
    return 0;
}

START_TEST(timeout_scope_inside_a_shield_still_fires)
{
    ck_assert_int_eq(tu_run(main_timeout_inside, NULL), 0);
    ck_assert_int_eq(INNER_SLEEP, -ECANCELED);
    ck_assert_int_eq(INNER_EXIT, -ETIMEDOUT);
    ck_assert_int_eq(OUTER_SLEEP_AFTER, -ECANCELED);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t SHIELDED_SLEEP, AFTER_SHIELD, TIMEOUT_EXIT;
static intptr_t main_timeout_outside(void *arg)
{
    (void)arg;
    tt_timeout to;
    tt_shield_scope s;
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(10)), 0);
    ck_assert_int_eq(tt_shield_enter(&s), 0);
    SHIELDED_SLEEP = tt_sleep(TT_MS(40)); /* the deadline passes in here: held back */
    ck_assert_int_eq(tt_timeout_expired(&to), 1);
    ck_assert_int_eq(tt_shield_exit(&s), 0);
    AFTER_SHIELD = tt_sleep(TT_SEC(5));
    TIMEOUT_EXIT = tt_timeout_exit(&to, AFTER_SHIELD);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    ck_assert_int_eq(tt_sleep(0), 0);
    return 0;
}

START_TEST(timeout_scope_outside_a_shield_waits_for_its_exit)
{
    ck_assert_int_eq(tu_run(main_timeout_outside, NULL), 0);
    ck_assert_int_eq(SHIELDED_SLEEP, 0);
    ck_assert_int_eq(AFTER_SHIELD, -ECANCELED);
    ck_assert_int_eq(TIMEOUT_EXIT, -ETIMEDOUT);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t main_pending_and_nested(void *arg)
{
    (void)arg;
    /* A request pending (undelivered) at enter is held too, until the outermost exit. */
    ck_assert_int_eq(tt_cancel(me(), NULL), 1);
    tt_shield_scope outer, inner;
    ck_assert_int_eq(tt_shield_enter(&outer), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    ck_assert_int_eq(tt_shield_enter(&inner), 0);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_shield_exit(&outer), -EPERM); /* not the innermost */
    ck_assert_int_eq(tt_shield_exit(&inner), 0);
    ck_assert_int_eq(tt_yield(), 0); /* still inside outer */
    ck_assert_int_eq(tt_shield_exit(&outer), 0);
    ck_assert_int_eq(tt_shield_exit(&outer), -EPERM); /* twice */
    ck_assert_int_eq(tt_yield(), -ECANCELED);
    ck_assert_int_eq(tt_uncancel(me()), 0);
    ck_assert_int_eq(tt_yield(), 0); /* delivered once */
    return 0;
}

START_TEST(pending_request_and_nested_scopes)
{
    ck_assert_int_eq(tu_run(main_pending_and_nested, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

static tt_shield_scope OTHER;
static intptr_t enters_and_returns(void *arg)
{
    (void)arg;
    return tt_shield_enter(&OTHER);
}

static intptr_t main_bad_input(void *arg)
{
    (void)arg;
    tt_shield_scope s = {{0}};
    ck_assert_int_eq(tt_shield_enter(NULL), -EINVAL);
    ck_assert_int_eq(tt_shield_exit(NULL), -EINVAL);
    ck_assert_int_eq(tt_shield_exit(&s), -EINVAL); /* never entered */
    ck_assert_int_eq(tt_await(tt_spawn(enters_and_returns, NULL)), 0);
    ck_assert_int_eq(tt_shield_exit(&OTHER), -EPERM); /* another task's scope */
    return 0;
}

START_TEST(bad_input_and_wrong_places)
{
    tt_shield_scope s;
    ck_assert_int_eq(tt_shield_enter(&s), -EPERM); /* outside a task */
    ck_assert_int_eq(tu_run(main_bad_input, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

static Suite *shield_scope_suite(void)
{
    Suite *s = suite_create("shield-scope");
    TCase *tc = tcase_create("shield-scope");
    tcase_add_test(tc, shield_holds_cancel_across_two_awaits_and_delivers_after_exit);
    tcase_add_test(tc, timeout_scope_inside_a_shield_still_fires);
    tcase_add_test(tc, timeout_scope_outside_a_shield_waits_for_its_exit);
    tcase_add_test(tc, pending_request_and_nested_scopes);
    tcase_add_test(tc, bad_input_and_wrong_places);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(shield_scope_suite)
