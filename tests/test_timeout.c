/* Unit suite for timeout scopes: expiry into -ETIMEDOUT with the task left uncancelled, scopes
 * not reached or without deadline, nesting (which scope owns a cancellation), zero and past
 * deadlines, foreign errors and swallowed cancellations, rescheduling, outside cancellation,
 * and bad input / wrong-place calls. */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* tt_timeout_when's deadline, asserting the call itself succeeded. */
static int64_t when_of(const tt_timeout *t)
{
    int64_t d = 12345;
    ck_assert_int_eq(tt_timeout_when(t, &d), 0);
    return d;
}


#define E1 (-1001)
#define E2 (-1002)

static tt_future *me(void) { return tt_current_task(); }
static int64_t ms_since(int64_t t0) { return (tt_now() - t0) / 1000000; }

START_TEST(now_is_clock_monotonic)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t c = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    int64_t a = tt_now();
    int64_t b = tt_now();
    ck_assert_int_ge(a, c);
    ck_assert_int_le(a - c, TT_SEC(1));
    ck_assert_int_ge(b, a);
    tu_assert_no_leaks();
}
END_TEST

TU_TASK_TEST(expiry_gives_etimedout_and_task_goes_on, 'A')
{
    (void)arg;
    tt_timeout t;
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(10)), 0);
    ck_assert_int_ge(when_of(&t), t0 + TT_MS(10));
    ck_assert_int_eq(tt_timeout_expired(&t), 0);
    int rc = tt_sleep(TT_SEC(1));
    ck_assert_int_eq(rc, -ECANCELED); /* the block sees a cancellation */
    ck_assert_int_eq(tt_timeout_expired(&t), 1);
    ck_assert_int_eq(tt_timeout_exit(&t, rc), -ETIMEDOUT);
    int64_t el = ms_since(t0);
    ck_assert_int_ge(el, 9);
    ck_assert_int_lt(el, 900);
    ck_assert_int_eq(tt_timeout_expired(&t), 1);
    ck_assert_int_eq(tt_cancelling(me()), 0); /* the task is not left cancelled */
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    return 'A';
}

TU_TASK_TEST(not_reached_and_no_deadline, 0)
{
    (void)arg;
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(60)), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    ck_assert_int_gt(when_of(&t), tt_now());
    ck_assert_int_eq(tt_timeout_exit(&t, 5), 5);
    ck_assert_int_eq(tt_timeout_expired(&t), 0);
    /* No deadline at all. */
    tt_timeout n;
    ck_assert_int_eq(tt_timeout_enter(&n, TT_FOREVER), 0);
    ck_assert_int_eq(when_of(&n), TT_FOREVER);
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0);
    ck_assert_int_eq(tt_timeout_exit(&n, 0), 0);
    ck_assert_int_eq(tt_timeout_expired(&n), 0);
    /* No late cancellation once the first scope's deadline has passed. */
    ck_assert_int_eq(tt_sleep(TT_MS(80)), 0);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    return 0;
}

TU_TASK_TEST(nested_scopes_own_their_cancellation, 0)
{
    (void)arg;
    /* (a) outer 500 ms, inner 10 ms: the inner times out, the outer carries on. */
    tt_timeout o, i;
    ck_assert_int_eq(tt_timeout_enter(&o, TT_MS(500)), 0);
    ck_assert_int_eq(tt_timeout_enter(&i, TT_MS(10)), 0);
    intptr_t r = tt_timeout_exit(&i, tt_sleep(TT_SEC(1)));
    ck_assert_int_eq(r, -ETIMEDOUT);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert_int_eq(tt_timeout_exit(&o, 0), 0);
    ck_assert_int_eq(tt_timeout_expired(&o), 0);
    ck_assert_int_eq(tt_timeout_expired(&i), 1);
    /* (b) outer 10 ms, inner 500 ms: the inner passes the cancellation on, the outer owns it. */
    ck_assert_int_eq(tt_timeout_enter(&o, TT_MS(10)), 0);
    ck_assert_int_eq(tt_timeout_enter(&i, TT_MS(500)), 0);
    r = tt_timeout_exit(&i, tt_sleep(TT_SEC(1)));
    ck_assert_int_eq(r, -ECANCELED);
    ck_assert_int_eq(tt_timeout_exit(&o, r), -ETIMEDOUT);
    ck_assert_int_eq(tt_timeout_expired(&o), 1);
    ck_assert_int_eq(tt_timeout_expired(&i), 0);
    /* (c) both fire in the same turn: the inner passes -ECANCELED on, the outer converts. */
    int64_t when = tt_now() + TT_MS(10);
    ck_assert_int_eq(tt_timeout_enter_at(&o, when), 0);
    ck_assert_int_eq(tt_timeout_enter_at(&i, when), 0);
    r = tt_sleep(TT_SEC(1));
    ck_assert_int_eq(r, -ECANCELED);
    ck_assert_int_eq(tt_cancelling(me()), 2);
    r = tt_timeout_exit(&i, r);
    ck_assert_int_eq(r, -ECANCELED);
    ck_assert_int_eq(tt_timeout_exit(&o, r), -ETIMEDOUT);
    ck_assert_int_eq(tt_timeout_expired(&o) + tt_timeout_expired(&i), 2);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    return 0;
}

TU_TASK_TEST(zero_and_past_deadlines, 0)
{
    (void)arg;
    tt_timeout t;
    /* Even a yield inside is interrupted. */
    ck_assert_int_eq(tt_timeout_enter(&t, 0), 0);
    ck_assert_int_eq(tt_timeout_exit(&t, tt_yield()), -ETIMEDOUT);
    ck_assert_int_eq(tt_timeout_expired(&t), 1);
    ck_assert_int_eq(tt_timeout_enter_at(&t, tt_now() - TT_MS(1)), 0);
    ck_assert_int_eq(tt_timeout_exit(&t, tt_sleep(0)), -ETIMEDOUT);
    ck_assert_int_eq(tt_timeout_expired(&t), 1);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    /* A block that never suspends cannot time out, and leaves no stray cancellation. */
    ck_assert_int_eq(tt_timeout_enter(&t, 0), 0);
    ck_assert_int_eq(tt_timeout_exit(&t, 9), 9);
    ck_assert_int_eq(tt_timeout_expired(&t), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    return 0;
}

TU_TASK_TEST(foreign_errors_and_swallowed_cancellation, 0)
{
    (void)arg;
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(200)), 0);
    ck_assert_int_eq(tt_timeout_exit(&t, E1), E1);
    ck_assert_int_eq(tt_timeout_expired(&t), 0);
    /* An error raised while handling the timeout's cancellation replaces it. */
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(10)), 0);
    ck_assert_int_eq(tt_sleep(TT_SEC(1)), -ECANCELED);
    ck_assert_int_eq(tt_timeout_exit(&t, E2), E2);
    ck_assert_int_eq(tt_timeout_expired(&t), 1);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    /* The block swallows the cancellation and finishes: no timeout, but expired. */
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(10)), 0);
    ck_assert_int_eq(tt_sleep(TT_SEC(1)), -ECANCELED);
    ck_assert_int_eq(tt_timeout_exit(&t, 77), 77);
    ck_assert_int_eq(tt_timeout_expired(&t), 1);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    return 0;
}

TU_TASK_TEST(reschedule, 0)
{
    (void)arg;
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_FOREVER), 0);
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_timeout_reschedule(&t, TT_MS(15)), 0);
    ck_assert_int_ge(when_of(&t), t0 + TT_MS(15));
    ck_assert_int_le(when_of(&t), tt_now() + TT_MS(15));
    ck_assert_int_eq(tt_timeout_exit(&t, tt_sleep(TT_SEC(1))), -ETIMEDOUT);
    ck_assert_int_ge(ms_since(t0), 14);
    /* After expiry and after exit: -EPERM. */
    ck_assert_int_eq(tt_timeout_reschedule(&t, TT_MS(5)), -EPERM);
    /* Extending the deadline. */
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(10)), 0);
    ck_assert_int_eq(tt_timeout_reschedule(&t, TT_MS(300)), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(30)), 0);
    /* Removing it. */
    ck_assert_int_eq(tt_timeout_reschedule(&t, TT_FOREVER), 0);
    ck_assert_int_eq(when_of(&t), TT_FOREVER);
    ck_assert_int_eq(tt_timeout_exit(&t, 0), 0);
    ck_assert_int_eq(tt_timeout_expired(&t), 0);
    ck_assert_int_eq(tt_timeout_reschedule(&t, TT_MS(5)), -EPERM);
    ck_assert_int_eq(tt_timeout_exit(&t, 3), -EPERM); /* exited already */
    return 0;
}

static void cancel_cb(void *arg) { tt_cancel(arg, "outside"); }

TU_TASK_TEST(outside_cancellation_passes_through, -ECANCELED)
{
    (void)arg;
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(500)), 0);
    tt_call_later(tt_loop_current(), TT_MS(10), cancel_cb, me());
    intptr_t r = tt_sleep(TT_SEC(1));
    ck_assert_int_eq(r, -ECANCELED);
    ck_assert_int_eq(tt_timeout_exit(&t, r), -ECANCELED); /* not ours */
    ck_assert_int_eq(tt_timeout_expired(&t), 0);
    ck_assert_int_eq(tt_cancelling(me()), 1);
    /* Both: the deadline fires and someone else cancels too; the other request wins. */
    ck_assert_int_eq(tt_uncancel(me()), 0);
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(20)), 0);
    tt_call_later(tt_loop_current(), TT_MS(5), cancel_cb, me());
    ck_assert_int_eq(tt_sleep(TT_SEC(1)), -ECANCELED); /* the outside one */
    ck_assert_int_eq(tt_timeout_expired(&t), 0);
    ck_assert_int_eq(tt_sleep(TT_SEC(1)), -ECANCELED); /* the deadline */
    ck_assert_int_eq(tt_cancelling(me()), 2);
    ck_assert_int_eq(tt_timeout_exit(&t, -ECANCELED), -ECANCELED);
    ck_assert_int_eq(tt_timeout_expired(&t), 1);
    ck_assert_int_eq(tt_cancelling(me()), 1);
    return -ECANCELED;
}

TU_TASK_TEST(baseline_count_at_enter, 0)
{
    (void)arg;
    /* A count that was already 1 at enter (a cancel caught earlier) is the baseline. */
    tt_cancel(me(), NULL);
    ck_assert_int_eq(tt_yield(), -ECANCELED);
    ck_assert_int_eq(tt_cancelling(me()), 1);
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(5)), 0);
    ck_assert_int_eq(tt_timeout_exit(&t, tt_sleep(TT_SEC(1))), -ETIMEDOUT);
    ck_assert_int_eq(tt_cancelling(me()), 1);
    ck_assert_int_eq(tt_uncancel(me()), 0);
    return 0;
}

TU_TASK_TEST(pending_outside_cancel_wins_over_deadline, 0)
{
    (void)arg;
    /* An outside request still undelivered when the deadline fires: the one delivery that
     * follows is that request's, so the scope passes -ECANCELED on (the outside wins), and the
     * outside request stays counted. */
    tt_cancel(me(), "outside");
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, 0), 0); /* due at once: fires before we resume */
    intptr_t r = tt_yield();
    ck_assert_int_eq(r, -ECANCELED);
    ck_assert_int_eq(tt_cancelling(me()), 2);
    ck_assert_int_eq(tt_timeout_exit(&t, r), -ECANCELED);
    ck_assert(tt_timeout_expired(&t));
    ck_assert_int_eq(tt_cancelling(me()), 1);
    ck_assert_str_eq(tt_cancel_message(me()), "outside");
    ck_assert_int_eq(tt_uncancel(me()), 0);
    return 0;
}

static intptr_t wait_forever(void *arg)
{
    (void)arg;
    return tt_sleep(TT_SEC(10));
}

TU_TASK_TEST(timeout_around_await, 0)
{
    (void)arg;
    /* Around tt_await of a task: the task awaited is cancelled with us. */
    tt_future *child = tt_spawn(wait_forever, NULL);
    tt_ref(child);
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(10)), 0);
    ck_assert_int_eq(tt_timeout_exit(&t, tt_await(child)), -ETIMEDOUT);
    ck_assert(tt_cancelled(child));
    tt_unref(child);
    return 0;
}

TU_TASK_TEST(undelivered_request_is_withdrawn, 0)
{
    (void)arg;
    /* The deadline fires in the same loop pass as the IO completes: the task resumes with the
     * IO's result and the scope's request is still undelivered; exit must withdraw it. */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter_at(&t, tt_now() - TT_MS(1)), 0);
    intptr_t r = tt_write(p[1], "x", 1, -1);
    ck_assert_int_eq(r, 1); /* the write completed before the cancel could take */
    ck_assert_int_eq(tt_timeout_expired(&t), 1);
    ck_assert_int_eq(tt_timeout_exit(&t, r), 1);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0); /* no stray cancellation */
    close(p[0]);
    close(p[1]);
    return 0;
}

static tt_timeout SHARED;
static intptr_t exit_other(void *arg)
{
    (void)arg;
    return tt_timeout_exit(&SHARED, 4);
}

static int CB_RC;
static void enter_from_callback(void *arg)
{
    tt_timeout t;
    (void)arg;
    CB_RC = tt_timeout_enter(&t, TT_MS(1));
}

static intptr_t main_bad(void *arg)
{
    (void)arg;
    ck_assert_int_eq(tt_timeout_enter(NULL, 1), -EINVAL);
    ck_assert_int_eq(tt_timeout_enter_at(NULL, 1), -EINVAL);
    ck_assert_int_eq(tt_timeout_reschedule(NULL, 1), -EINVAL);
    int64_t d = 7;
    ck_assert_int_eq(tt_timeout_when(NULL, &d), -EINVAL);
    ck_assert_int_eq(d, 7);
    ck_assert_int_eq(tt_timeout_expired(NULL), -EINVAL);
    ck_assert_int_eq(tt_timeout_exit(NULL, 5), -EINVAL);
    tt_timeout z = {{0}};
    ck_assert_int_eq(tt_timeout_reschedule(&z, 1), -EINVAL); /* never entered */
    ck_assert_int_eq(tt_timeout_exit(&z, 5), -EINVAL);
    /* Exit from a task other than the one that entered. */
    ck_assert_int_eq(tt_timeout_enter(&SHARED, TT_MS(100)), 0);
    ck_assert_int_eq(tt_await(tt_spawn(exit_other, NULL)), -EPERM);
    ck_assert_int_eq(tt_timeout_exit(&SHARED, 6), 6);
    /* Enter from a callback on the loop: not a task. */
    CB_RC = 0;
    tt_call_soon(tt_loop_current(), enter_from_callback, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(CB_RC, -EPERM);
    return 0;
}

START_TEST(bad_input_and_wrong_place)
{
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(1)), -EPERM);
    ck_assert_int_eq(tt_timeout_enter_at(&t, tt_now()), -EPERM);
    ck_assert_int_eq(tu_run(main_bad, NULL), 0);
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

TU_TASK_TEST(huge_timeouts_saturate, 0)
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
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(tt_call_cancel(tt_loop_current(), id), 1);
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, INT64_MAX), 0);
    ck_assert_int_eq(when_of(&t), INT64_MAX);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    ck_assert_int_eq(tt_timeout_exit(&t, 0), 0);
    return 0;
}

static Suite *timeout_suite(void)
{
    Suite *s = suite_create("timeout");
    TCase *tc = tcase_create("timeout");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, now_is_clock_monotonic);
    tcase_add_test(tc, expiry_gives_etimedout_and_task_goes_on);
    tcase_add_test(tc, not_reached_and_no_deadline);
    tcase_add_test(tc, nested_scopes_own_their_cancellation);
    tcase_add_test(tc, zero_and_past_deadlines);
    tcase_add_test(tc, foreign_errors_and_swallowed_cancellation);
    tcase_add_test(tc, reschedule);
    tcase_add_test(tc, outside_cancellation_passes_through);
    tcase_add_test(tc, baseline_count_at_enter);
    tcase_add_test(tc, pending_outside_cancel_wins_over_deadline);
    tcase_add_test(tc, timeout_around_await);
    tcase_add_test(tc, undelivered_request_is_withdrawn);
    tcase_add_test(tc, bad_input_and_wrong_place);
    tcase_add_test(tc, huge_timeouts_saturate);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(timeout_suite)
