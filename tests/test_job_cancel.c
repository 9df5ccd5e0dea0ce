/* Unit suite for 0.2's rule "a running job is a task that cannot be interrupted": cancelling a
 * running default-mode job asks it to stop and its future ends with whatever fn returns; the
 * awaiting task gets that value and its cancellation stays pending for its next suspension
 * point; fn returning -ECANCELED ends it cancelled; discard is for abandoned jobs only; timeout
 * scopes, tt_wait_for, gather and groups hand the value on. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* A blocking call that runs until asked to stop, then returns its answer. */
typedef struct stopper {
    atomic_int started, stopped, unblocks, discards;
    intptr_t answer;           /* what fn returns once asked to stop */
    intptr_t discarded;
    pthread_t discard_thread;
} stopper;

static intptr_t run_until_stopped(void *arg)
{
    stopper *s = arg;
    atomic_store(&s->started, 1);
    for (int i = 0; i < 10000 && !tt_job_cancelled(); i++)
        usleep(500);
    atomic_store(&s->stopped, tt_job_cancelled());
    return s->answer;
}

static void on_unblock(void *arg) { atomic_fetch_add(&((stopper *)arg)->unblocks, 1); }
static void on_discard(intptr_t r, void *arg)
{
    stopper *s = arg;
    s->discarded = r;
    s->discard_thread = pthread_self();
    atomic_fetch_add(&s->discards, 1);
}

static const tt_job_opts OPTS = {.unblock = on_unblock, .discard = on_discard};
static const tt_job_opts ABANDON = {.flags = TT_JOB_ABANDON_ON_CANCEL, .unblock = on_unblock,
                                    .discard = on_discard};

/* Yields until the worker has started the job. */
static void wait_started(stopper *s)
{
    for (int i = 0; i < 5000 && !atomic_load(&s->started); i++)
        ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    ck_assert(atomic_load(&s->started));
}

/* The awaiting task's record. */
static intptr_t AWAITED, NEXT_SUSPENSION, CANCELLING_AFTER;
static tt_future *JOB;

static intptr_t awaits_job_then_sleeps(void *arg)
{
    stopper *s = arg;
    JOB = tt_to_thread_on(NULL, &OPTS, run_until_stopped, s);
    ck_assert_ptr_nonnull(JOB);
    AWAITED = tt_await(tt_ref(JOB));
    CANCELLING_AFTER = tt_cancelling(tt_current_task());
    NEXT_SUSPENSION = tt_sleep(TT_MS(50));
    return NEXT_SUSPENSION == -ECANCELED ? -ECANCELED : 1;
}

static intptr_t main_value_delivered(void *arg)
{
    stopper *s = arg;
    tt_future *t = tt_spawn(awaits_job_then_sleeps, s);
    wait_started(s);
    ck_assert_int_eq(tt_cancel(t, "stop"), 1);
    ck_assert_int_eq(tt_await(t), -ECANCELED); /* cancelled at its next suspension point */
    ck_assert_int_eq(tt_done(JOB), 1);
    ck_assert_int_eq(tt_cancelled(JOB), 0);
    ck_assert_int_eq(tt_result(JOB), 42);
    tt_unref(JOB);
    return 0;
}

START_TEST(job_cancelled_while_running_delivers_its_value)
{
    stopper s = {.answer = 42};
    ck_assert_int_eq(tu_run(main_value_delivered, &s), 0);
    ck_assert_int_eq(AWAITED, 42);
    ck_assert_int_eq(CANCELLING_AFTER, 1);
    ck_assert_int_eq(NEXT_SUSPENSION, -ECANCELED);
    ck_assert_int_eq(atomic_load(&s.stopped), 1);  /* it was asked to stop */
    ck_assert_int_eq(atomic_load(&s.unblocks), 1);
    ck_assert_int_eq(atomic_load(&s.discards), 0); /* its result was read: no discard */
    tu_assert_no_leaks();
}
END_TEST

static intptr_t main_cooperative(void *arg)
{
    stopper *s = arg;
    tt_future *t = tt_spawn(awaits_job_then_sleeps, s);
    wait_started(s);
    ck_assert_int_eq(tt_cancel(t, "stop"), 1);
    ck_assert_int_eq(tt_await(t), 1); /* the cancel was delivered by the await, once */
    ck_assert_int_eq(tt_cancelled(JOB), 1);
    ck_assert_str_eq(tt_cancel_message(JOB), "stop");
    tt_unref(JOB);
    return 0;
}

START_TEST(cooperative_job_returning_ecanceled_ends_cancelled)
{
    stopper s = {.answer = -ECANCELED};
    NEXT_SUSPENSION = 99;
    ck_assert_int_eq(tu_run(main_cooperative, &s), 0);
    ck_assert_int_eq(AWAITED, -ECANCELED);
    ck_assert_int_eq(CANCELLING_AFTER, 1);
    ck_assert_int_eq(NEXT_SUSPENSION, 0); /* nothing left pending */
    ck_assert_int_eq(atomic_load(&s.discards), 0);
    tu_assert_no_leaks();
}
END_TEST

/* A wrapper that returns the job's value at once keeps it: the pending cancellation had no
 * suspension point to be delivered at (Trio; asyncio 3.12's wait_for). */
static intptr_t returns_job_value(void *arg)
{
    return tt_await(tt_to_thread_on(NULL, &OPTS, run_until_stopped, arg));
}

static intptr_t main_wrapper(void *arg)
{
    stopper *s = arg;
    tt_future *t = tt_spawn(returns_job_value, s);
    wait_started(s);
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    ck_assert_int_eq(tt_await(tt_ref(t)), 7);
    ck_assert_int_eq(tt_cancelled(t), 0);
    tt_unref(t);
    return 0;
}

START_TEST(wrapper_task_returning_at_once_keeps_the_value)
{
    stopper s = {.answer = 7};
    ck_assert_int_eq(tu_run(main_wrapper, &s), 0);
    tu_assert_no_leaks();
}
END_TEST

/* The job finished and its value reached the loop; the awaiting task is cancelled before it
 * resumes: the value still wins. */
static atomic_int QUICK_DONE;
static intptr_t quick(void *arg)
{
    (void)arg;
    atomic_store(&QUICK_DONE, 1);
    return 5;
}

static intptr_t awaits_shared(void *arg)
{
    AWAITED = tt_await(tt_ref(arg));
    NEXT_SUSPENSION = tt_yield();
    return 0;
}

static intptr_t main_race(void *arg)
{
    (void)arg;
    atomic_store(&QUICK_DONE, 0);
    tt_future *j = tt_to_thread(quick, NULL);
    tt_future *t = tt_spawn(awaits_shared, j);
    while (!tt_done(j))
        ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_done(t), 0); /* woken, not yet run */
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    ck_assert_int_eq(tt_await(t), 0);
    tt_unref(j);
    return 0;
}

START_TEST(value_wins_over_a_cancel_that_beat_the_resume)
{
    AWAITED = NEXT_SUSPENSION = 99;
    ck_assert_int_eq(tu_run(main_race, NULL), 0);
    ck_assert_int_eq(AWAITED, 5);
    ck_assert_int_eq(NEXT_SUSPENSION, -ECANCELED);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t main_abandon(void *arg)
{
    stopper *s = arg;
    tt_future *j = tt_to_thread_on(NULL, &ABANDON, run_until_stopped, s);
    wait_started(s);
    ck_assert_int_eq(tt_cancel(j, NULL), 1);
    ck_assert_int_eq(tt_cancelled(j), 1); /* at once: asyncio's behaviour */
    ck_assert_int_eq(tt_await(j), -ECANCELED);
    for (int i = 0; i < 5000 && !atomic_load(&s->discards); i++)
        ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    ck_assert(pthread_equal(s->discard_thread, pthread_self())); /* the loop's thread */
    return 0;
}

START_TEST(abandoned_job_result_goes_to_discard_once)
{
    stopper s = {.answer = 11};
    ck_assert_int_eq(tu_run(main_abandon, &s), 0);
    ck_assert_int_eq(atomic_load(&s.discards), 1);
    ck_assert_int_eq(s.discarded, 11);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t main_scope_and_wait_for(void *arg)
{
    stopper *s = arg;
    /* A timeout scope whose deadline stops a running job: the job's value, not -ETIMEDOUT,
     * and nothing pending after the scope. The job is running before the scope starts: one
     * still queued at the deadline is removed unrun (-ECANCELED), which a loaded machine can
     * make happen in 20 ms. */
    tt_future *j = tt_to_thread_on(NULL, &OPTS, run_until_stopped, s);
    wait_started(s);
    tt_timeout to;
    ck_assert_int_eq(tt_timeout_enter(&to, TT_MS(20)), 0);
    intptr_t r = tt_await(j);
    ck_assert_int_eq(r, 42);
    ck_assert_int_eq(tt_timeout_expired(&to), 1);
    ck_assert_int_eq(tt_timeout_exit(&to, r), 42);
    ck_assert_int_eq(tt_cancelling(tt_current_task()), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    /* tt_wait_for: the same. */
    atomic_store(&s->started, 0);
    j = tt_to_thread_on(NULL, &OPTS, run_until_stopped, s);
    wait_started(s);
    ck_assert_int_eq(tt_wait_for(j, TT_MS(20)), 42);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    return 0;
}

START_TEST(timeouts_hand_on_a_stopped_jobs_value)
{
    stopper s = {.answer = 42};
    ck_assert_int_eq(tu_run(main_scope_and_wait_for, &s), 0);
    ck_assert_int_eq(atomic_load(&s.unblocks), 2);
    ck_assert_int_eq(atomic_load(&s.discards), 0);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t GATHER_RC, GATHER_RESULT;
static intptr_t gathers_a_job(void *arg)
{
    tt_future *j = tt_to_thread_on(NULL, &OPTS, run_until_stopped, arg);
    GATHER_RC = tt_gather(&j, 1, &GATHER_RESULT, 0);
    tt_unref(j);
    return GATHER_RC;
}

static intptr_t main_gather(void *arg)
{
    stopper *s = arg;
    tt_future *t = tt_spawn(gathers_a_job, s);
    wait_started(s);
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    ck_assert_int_eq(tt_await(t), -ECANCELED);
    return 0;
}

START_TEST(cancelled_gather_still_reports_a_jobs_value)
{
    stopper s = {.answer = 42};
    ck_assert_int_eq(tu_run(main_gather, &s), 0);
    ck_assert_int_eq(GATHER_RC, -ECANCELED); /* the gather was cancelled... */
    ck_assert_int_eq(GATHER_RESULT, 42);     /* ...and the job's side effect is reported */
    ck_assert_int_eq(atomic_load(&s.discards), 0);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t fails_soon(void *arg)
{
    (void)arg;
    tt_sleep(TT_MS(10));
    return -1001;
}

static intptr_t main_group(void *arg)
{
    stopper *s = arg;
    tt_group *g = tt_group_new();
    tt_future *jobber = tt_group_spawn(g, returns_job_value, s);
    wait_started(s);
    tt_unref(tt_group_spawn(g, fails_soon, NULL));
    ck_assert_int_eq(tt_group_join(g), -1001);
    /* The sibling's failure stopped the job; the child that ran it ends with its value. */
    ck_assert_int_eq(tt_result(jobber), 42);
    ck_assert_uint_eq(tt_group_errors(g, NULL, 0), 1);
    tt_group_free(g);
    tt_unref(jobber);
    return 0;
}

START_TEST(group_abort_keeps_a_jobs_value)
{
    stopper s = {.answer = 42};
    ck_assert_int_eq(tu_run(main_group, &s), 0);
    ck_assert_int_eq(atomic_load(&s.stopped), 1);
    tu_assert_no_leaks();
}
END_TEST

static Suite *job_cancel_suite(void)
{
    Suite *s = suite_create("job-cancel");
    TCase *tc = tcase_create("job-cancel");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, job_cancelled_while_running_delivers_its_value);
    tcase_add_test(tc, cooperative_job_returning_ecanceled_ends_cancelled);
    tcase_add_test(tc, wrapper_task_returning_at_once_keeps_the_value);
    tcase_add_test(tc, value_wins_over_a_cancel_that_beat_the_resume);
    tcase_add_test(tc, abandoned_job_result_goes_to_discard_once);
    tcase_add_test(tc, timeouts_hand_on_a_stopped_jobs_value);
    tcase_add_test(tc, cancelled_gather_still_reports_a_jobs_value);
    tcase_add_test(tc, group_abort_keeps_a_jobs_value);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(job_cancel_suite)
