/* Signals delivered to the test process and received by tasks: kill() from the task itself and
 * from a pool thread, several signals in order, a signal that arrives before anyone waits, a
 * cancelled wait that takes none, a timeout, and the set blocked afterwards. */
#define _GNU_SOURCE
#include "tkutil.h"

#include <signal.h>
#include <string.h>

static sigset_t set_of(int a, int b)
{
    sigset_t s;
    sigemptyset(&s);
    if (a)
        sigaddset(&s, a);
    if (b)
        sigaddset(&s, b);
    return s;
}

static int is_pending(int sig)
{
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, sig);
}

static intptr_t kill_self(void *arg)
{
    return kill(getpid(), (int)(intptr_t)arg) == 0 ? 0 : -errno;
}

TASK_TEST(signal_from_a_pool_thread_wakes_the_waiter)
{
    sigset_t s = set_of(SIGUSR1, SIGTERM);
    tt_future *k = tt_to_thread(kill_self, (void *)(intptr_t)SIGTERM);
    ck_assert_int_eq(tt_signal_wait(&s), SIGTERM);
    ck_assert_int_eq(tt_await(k), 0);
    ck_assert_int_eq(is_pending(SIGTERM), 0);
    /* The set stays blocked: a later signal waits for the next call instead of killing us. */
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    ck_assert_int_eq(sigismember(&cur, SIGTERM), 1);
    ck_assert_int_eq(sigismember(&cur, SIGUSR1), 1);
    return 0;
}

TASK_TEST(signals_sent_before_the_wait_stay_pending)
{
    sigset_t s = set_of(SIGUSR1, SIGUSR2);
    ck_assert_int_eq(tt_signal_block(&s), 0);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    /* Standard signals come out lowest number first (SIGUSR1 = 10 < SIGUSR2 = 12). */
    ck_assert_int_eq(tt_signal_wait(&s), SIGUSR1);
    ck_assert_int_eq(tt_signal_wait(&s), SIGUSR2);
    ck_assert_int_eq(is_pending(SIGUSR1) || is_pending(SIGUSR2), 0);
    return 0;
}

static intptr_t waiter_run(void *arg)
{
    return tt_signal_wait(arg);
}

/* A waiter cancelled, then a signal: it stays pending for the next waiter. */
TASK_TEST(cancelled_wait_takes_no_signal)
{
    sigset_t s = set_of(SIGUSR1, 0);
    tt_future *w = tt_spawn(waiter_run, &s);
    tt_sleep(TT_MS(5));
    ck_assert_int_eq(tt_cancel(w, NULL), 1);
    ck_assert_int_eq(tt_await(w), -ECANCELED);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert_int_eq(is_pending(SIGUSR1), 1);
    tt_timeout to;
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(20)), 0);
    sigset_t other = set_of(SIGUSR2, 0);
    ck_assert_int_eq(tt_timeout_exit(&to, tt_signal_wait(&other)), -ETIMEDOUT);
    ck_assert_int_eq(is_pending(SIGUSR1), 1);
    ck_assert_int_eq(tt_signal_wait(&s), SIGUSR1);
    return 0;
}

/* Two tasks wait for the same signal: one signal wakes exactly one of them. */
TASK_TEST(one_signal_for_two_waiters_wakes_one)
{
    sigset_t s = set_of(SIGUSR2, 0);
    tt_future *a = tt_spawn(waiter_run, &s), *b = tt_spawn(waiter_run, &s);
    tt_sleep(TT_MS(5));
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    tt_future *both[2] = {a, b};
    ck_assert_int_eq(tt_wait(both, 2, TT_FIRST_COMPLETED, TT_FOREVER), 1);
    tt_sleep(TT_MS(20));
    ck_assert_int_eq(tt_done(a) + tt_done(b), 1);
    tt_future *rest = tt_done(a) ? b : a, *first = tt_done(a) ? a : b;
    ck_assert_int_eq(tt_await(first), SIGUSR2);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    ck_assert_int_eq(tt_await(rest), SIGUSR2);
    return 0;
}

TASK_TEST(bad_sets)
{
    sigset_t empty, killstop = set_of(SIGKILL, SIGSTOP);
    sigemptyset(&empty);
    ck_assert_int_eq(tt_signal_wait(NULL), -EINVAL);
    ck_assert_int_eq(tt_signal_wait(&empty), -EINVAL);
    ck_assert_int_eq(tt_signal_wait(&killstop), -EINVAL);
    ck_assert_int_eq(tt_signal_block(NULL), -EINVAL);
    return 0;
}

START_TEST(outside_a_task_is_eperm)
{
    sigset_t s = set_of(SIGUSR1, 0);
    ck_assert_int_eq(tt_signal_wait(&s), -EPERM);
    ck_assert_int_eq(tt_signal_block(&s), 0); /* allowed anywhere */
    tu_assert_no_leaks();
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("signal");
    TCase *tc = tcase_create("signal");
    tcase_add_test(tc, signal_from_a_pool_thread_wakes_the_waiter);
    tcase_add_test(tc, signals_sent_before_the_wait_stay_pending);
    tcase_add_test(tc, cancelled_wait_takes_no_signal);
    tcase_add_test(tc, one_signal_for_two_waiters_wakes_one);
    tcase_add_test(tc, bad_sets);
    tcase_add_test(tc, outside_a_task_is_eperm);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
