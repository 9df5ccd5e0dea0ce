/* Unit suite for tasks: spawning (options, errors), lazy FIFO start, tt_await's ownership and
 * fast path, sleep/yield ordering, the asyncio 3.11 cancellation rules (delivery point, counts,
 * messages, swallowing), task lifetime without user references, big stacks and many tasks. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* An append-only trace of characters, to check orderings. */
static char TRACE[512];
static size_t TRACE_N;
static void trace(char c)
{
    ck_assert_uint_lt(TRACE_N, sizeof TRACE - 1);
    TRACE[TRACE_N++] = c;
    TRACE[TRACE_N] = 0;
}
static void trace_reset(void)
{
    TRACE_N = 0;
    TRACE[0] = 0;
}

static long live_futures(void)
{
    tt_live l;
    tt_live_get(&l);
    return l.futures;
}

/* Appends its argument (a char) to the trace and returns it. */
static intptr_t tracer(void *arg)
{
    trace((char)(intptr_t)arg);
    return (intptr_t)arg;
}

static intptr_t return_arg(void *arg) { return (intptr_t)arg; }

/* --------------------------------------------------------------- spawning */

START_TEST(spawn_without_loop_is_eperm)
{
    errno = 0;
    ck_assert_ptr_null(tt_spawn(return_arg, NULL));
    ck_assert_int_eq(errno, EPERM);
    errno = 0;
    ck_assert_ptr_null(tt_spawn_on(NULL, NULL, return_arg, NULL));
    ck_assert_int_eq(errno, EPERM);
    ck_assert_ptr_null(tt_current_task());
    tu_assert_no_leaks();
}
END_TEST

TU_TASK_TEST(spawn_null_fn_is_einval, 11)
{
    (void)arg;
    errno = 0;
    ck_assert_ptr_null(tt_spawn(NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(tt_spawn_on(tt_loop_current(), NULL, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    return 11;
}

typedef struct foreign_spawn {
    tt_loop *loop;
    int was_null, err;
} foreign_spawn;

static void *spawn_from_foreign(void *p)
{
    foreign_spawn *a = p;
    errno = 0;
    tt_future *t = tt_spawn_on(a->loop, NULL, return_arg, NULL);
    a->was_null = t == NULL;
    a->err = errno;
    return NULL;
}

START_TEST(spawn_on_from_foreign_thread_is_eperm)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    foreign_spawn a = {.loop = loop};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, spawn_from_foreign, &a), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(a.was_null, 1);
    ck_assert_int_eq(a.err, EPERM);
    ck_assert_int_eq(tt_loop_free(loop), 0); /* nothing was spawned */
    tu_assert_no_leaks();
}
END_TEST

START_TEST(spawn_on_loop_from_outside_runs_with_run_until)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *t = tt_spawn_on(loop, NULL, return_arg, (void *)1234);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tt_done(t), 0);
    ck_assert_int_eq(tt_loop_run_until(loop, t), 1234);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t report_name(void *arg)
{
    (void)arg;
    const char *n = tt_task_name(tt_current_task());
    ck_assert_ptr_nonnull(n);
    return (intptr_t)strdup(n);
}

TU_TASK_TEST(task_names, 0)
{
    (void)arg;
    char name[32];
    strcpy(name, "worker-7");
    tt_task_opts o = {.name = name};
    tt_future *t = tt_spawn_on(NULL, &o, report_name, NULL);
    ck_assert_ptr_nonnull(t);
    memset(name, 'z', sizeof name - 1); /* the name must have been copied */
    ck_assert_str_eq(tt_task_name(t), "worker-7");
    char *seen = (char *)tt_await(tt_ref(t));
    ck_assert_str_eq(seen, "worker-7");
    free(seen);
    ck_assert_str_eq(tt_task_name(t), "worker-7"); /* still named once done */
    tt_unref(t);

    tt_future *d = tt_spawn(report_name, NULL);
    ck_assert_str_eq(tt_task_name(d), tt_task_name(d));
    ck_assert_int_eq(strncmp(tt_task_name(d), "task-", 5), 0);
    seen = (char *)tt_await(d);
    ck_assert_int_eq(strncmp(seen, "task-", 5), 0);
    ck_assert_uint_gt(strlen(seen), 5);
    free(seen);

    /* Plain futures have no name; the main task has one. */
    tt_future *f = tt_future_new(NULL);
    ck_assert_ptr_null(tt_task_name(f));
    tt_unref(f);
    ck_assert_ptr_nonnull(tt_task_name(tt_current_task()));
    return 0;
}

/* Recursion that really uses its frames: ~1 KiB per level, not a tail call. */
static __attribute__((noinline)) long deep(int depth)
{
    volatile char frame[1024];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = 1;
    if (depth == 0)
        return frame[sizeof frame - 1];
    long below = deep(depth - 1);
    return below + frame[sizeof frame - 1] + (frame[0] == (char)depth ? 0 : 1000000);
}

static intptr_t deep_body(void *arg)
{
    int depth = (int)(intptr_t)arg;
    long r = deep(depth);
    /* Suspend with the stack in use elsewhere, then go deep again. */
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    return r + deep(depth);
}

TU_TASK_TEST(deep_recursion_with_256k_stack, 0)
{
    (void)arg;
    /* ~170 KiB of frames: needs the 256 KiB option (the default stack is 64 KiB). */
    tt_task_opts o = {.name = "deep", .stack_size = 256 * 1024};
    tt_future *a = tt_spawn_on(NULL, &o, deep_body, (void *)160);
    tt_future *b = tt_spawn_on(NULL, &o, deep_body, (void *)160);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(tt_await(a), 2 * 161);
    ck_assert_int_eq(tt_await(b), 2 * 161);
    /* A tiny request is rounded up to the minimum and still works. */
    tt_task_opts tiny = {.stack_size = 1};
    tt_future *c = tt_spawn_on(NULL, &tiny, deep_body, (void *)2);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tt_await(c), 2 * 3);
    return 0;
}

/* ------------------------------------------------------------ scheduling */

TU_TASK_TEST(tasks_start_lazily_fifo, 0)
{
    (void)arg;
    trace_reset();
    tt_future *t[3];
    t[0] = tt_spawn(tracer, (void *)'A');
    t[1] = tt_spawn(tracer, (void *)'B');
    t[2] = tt_spawn(tracer, (void *)'C');
    ck_assert_str_eq(TRACE, ""); /* nothing starts inside tt_spawn */
    ck_assert_int_eq(tt_done(t[0]), 0);
    ck_assert_int_eq(tt_yield(), 0);
    trace('m');
    ck_assert_str_eq(TRACE, "ABCm");
    ck_assert_int_eq(tt_await(t[0]), 'A');
    ck_assert_int_eq(tt_await(t[1]), 'B');
    ck_assert_int_eq(tt_await(t[2]), 'C');
    return 0;
}

TU_TASK_TEST(await_done_future_does_not_suspend, 0)
{
    (void)arg;
    trace_reset();
    tt_future *other = tt_spawn(tracer, (void *)'X');
    tt_future *f = tt_future_new(NULL);
    ck_assert_int_eq(tt_future_set(f, 5), 0);
    long before = live_futures();
    /* Already done: returns at once, so the other task has not had a turn. */
    ck_assert_int_eq(tt_await(f), 5);
    ck_assert_str_eq(TRACE, "");
    ck_assert_int_eq(live_futures(), before - 1); /* the reference was consumed */
    ck_assert_int_eq(tt_await(other), 'X');
    ck_assert_str_eq(TRACE, "X");
    return 0;
}

static intptr_t sleep_then(void *arg)
{
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    return (intptr_t)arg;
}

/* Awaits the future passed as arg (consuming it). */
static intptr_t await_arg(void *arg) { return tt_await(arg); }

TU_TASK_TEST(await_results_and_errors, 0)
{
    (void)arg;
    ck_assert_int_eq(tt_await(tt_spawn(sleep_then, (void *)-EIO)), -EIO);
    tt_future *t = tt_spawn(sleep_then, (void *)-EIO);
    ck_assert_int_eq(tt_await(tt_ref(t)), -EIO);
    ck_assert_int_eq(tt_cancelled(t), 0);
    ck_assert_int_eq(tt_result(t), -EIO);
    tt_unref(t);
    /* Two tasks may await the same task (each with its own reference). */
    tt_future *shared = tt_spawn(sleep_then, (void *)77);
    tt_future *w1 = tt_spawn(await_arg, tt_ref(shared));
    tt_future *w2 = tt_spawn(await_arg, tt_ref(shared));
    ck_assert_int_eq(tt_await(w1), 77);
    ck_assert_int_eq(tt_await(w2), 77);
    ck_assert_int_eq(tt_await(shared), 77);
    ck_assert_int_eq(tt_await(NULL), -EINVAL);
    /* tt_future_set refuses tasks: they complete themselves. */
    tt_future *self = tt_current_task();
    ck_assert_int_eq(tt_future_set(self, 1), -EINVAL);
    return 0;
}

START_TEST(await_outside_task_is_eperm_and_consumes)
{
    ck_assert_int_eq(tt_sleep(TT_MS(1)), -EPERM); /* no loop at all */
    ck_assert_int_eq(tt_yield(), -EPERM);
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(live_futures(), 1);
    ck_assert_int_eq(tt_await(f), -EPERM);
    ck_assert_int_eq(live_futures(), 0); /* consumed even though it failed */
    ck_assert_int_eq(tt_sleep(TT_MS(1)), -EPERM); /* on the loop's thread, outside a task */
    ck_assert_int_eq(tt_yield(), -EPERM);
    ck_assert_ptr_null(tt_current_task());
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* Sleeps arg milliseconds, then traces the digit arg/10. */
static intptr_t sleeper_trace(void *arg)
{
    int ms = (int)(intptr_t)arg;
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_sleep(TT_MS(ms)), 0);
    ck_assert_int_ge(tt_now() - t0, TT_MS(ms)); /* never early */
    trace((char)('0' + ms / 10));
    return 0;
}

TU_TASK_TEST(sleep_wakes_in_deadline_order, 0)
{
    (void)arg;
    trace_reset();
    tt_future *t[3] = {tt_spawn(sleeper_trace, (void *)30), tt_spawn(sleeper_trace, (void *)10),
                       tt_spawn(sleeper_trace, (void *)20)};
    for (int i = 0; i < 3; i++)
        tt_await(t[i]);
    ck_assert_str_eq(TRACE, "123");
    return 0;
}

static intptr_t equal_sleeper(void *arg)
{
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    trace((char)(intptr_t)arg);
    return 0;
}

TU_TASK_TEST(equal_sleeps_wake_fifo, 0)
{
    (void)arg;
    trace_reset();
    tt_future *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = tt_spawn(equal_sleeper, (void *)(intptr_t)('a' + i));
    for (int i = 0; i < 6; i++)
        tt_await(t[i]);
    ck_assert_str_eq(TRACE, "abcdef");
    return 0;
}

static intptr_t yielder(void *arg)
{
    for (int i = 0; i < 3; i++) {
        trace((char)(intptr_t)arg);
        ck_assert_int_eq(tt_yield(), 0);
    }
    return 0;
}

TU_TASK_TEST(yield_interleaves, 0)
{
    (void)arg;
    trace_reset();
    tt_future *a = tt_spawn(yielder, (void *)'a');
    tt_future *b = tt_spawn(yielder, (void *)'b');
    ck_assert_int_eq(tt_sleep(0), 0); /* sleep(0) is a yield: both take one step */
    trace('|');
    tt_await(a);
    tt_await(b);
    ck_assert_str_eq(TRACE, "ab|abab");
    return 0;
}

/* Three tasks yielding in turn: every turn boundary after the first is taken inside the switch
 * (no trip through the loop), and FIFO order holds across them; each task is the current one
 * while it runs. */
static intptr_t yields_as_itself(void *arg)
{
    tt_future *self = tt_current_task();
    for (int i = 0; i < 4; i++) {
        trace((char)(intptr_t)arg);
        ck_assert_ptr_eq(tt_current_task(), self);
        ck_assert_int_eq(tt_yield(), 0);
    }
    return 0;
}

TU_TASK_TEST(yields_round_robin_across_turns, 0)
{
    (void)arg;
    trace_reset();
    tt_future *a = tt_spawn(yields_as_itself, (void *)'a');
    tt_future *b = tt_spawn(yields_as_itself, (void *)'b');
    tt_future *c = tt_spawn(yields_as_itself, (void *)'c');
    ck_assert_int_eq(tt_await(a), 0);
    ck_assert_int_eq(tt_await(b), 0);
    ck_assert_int_eq(tt_await(c), 0);
    ck_assert_str_eq(TRACE, "abcabcabcabc");
    return 0;
}

static int YIELDS_BEFORE_CANCEL;
static intptr_t yields_until_cancelled(void *arg)
{
    (void)arg;
    for (int i = 0;; i++) {
        int rc = tt_yield();
        if (rc) {
            YIELDS_BEFORE_CANCEL = i;
            return rc;
        }
    }
}

/* A task switched to by another task's yield (not by the loop) gets a cancel requested in
 * between at the yield it is suspended in, once. */
TU_TASK_TEST(cancel_reaches_a_yielding_task_at_its_next_resume, 0)
{
    (void)arg;
    YIELDS_BEFORE_CANCEL = -1;
    tt_future *t = tt_spawn(yields_until_cancelled, NULL);
    ck_assert_int_eq(tt_yield(), 0); /* t takes its first step: suspended in yield 0 */
    ck_assert_int_eq(tt_yield(), 0); /* yield 0 returned 0; t is suspended in yield 1 */
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    ck_assert_int_eq(tt_await(tt_ref(t)), -ECANCELED);
    ck_assert_int_eq(YIELDS_BEFORE_CANCEL, 1);
    ck_assert(tt_cancelled(t));
    ck_assert_int_eq(tt_cancelling(t), 1);
    tt_unref(t);
    return 0;
}

/* A task that yields forever hands the CPU from task to task without the loop, but each turn
 * boundary still lets due timers and messages from other threads in. */
static volatile int SPIN_STOP;
static intptr_t spins(void *arg)
{
    (void)arg;
    while (!SPIN_STOP)
        ck_assert_int_eq(tt_yield(), 0);
    return 0;
}

static int POSTED;
static void posted(void *arg) { POSTED = (int)(intptr_t)arg; }

static void *post_from_thread(void *loop)
{
    ck_assert_int_eq(tt_call_soon_threadsafe(loop, posted, (void *)7), 0);
    return NULL;
}

TU_TASK_TEST(yield_forever_lets_timers_and_other_threads_in, 0)
{
    (void)arg;
    SPIN_STOP = 0;
    POSTED = 0;
    tt_future *s = tt_spawn(spins, NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, post_from_thread, tt_loop_current()), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    /* The message is in: the next turn boundary drains it, and the turn after runs it. */
    int yields = 0;
    while (!POSTED && yields < 100) {
        ck_assert_int_eq(tt_yield(), 0);
        yields++;
    }
    ck_assert_int_eq(POSTED, 7);
    ck_assert_int_eq(yields, 2);
    SPIN_STOP = 1;
    ck_assert_int_eq(tt_await(s), 0);
    return 0;
}

static tt_future *SPAWNED;
static intptr_t check_current(void *arg)
{
    (void)arg;
    ck_assert_ptr_eq(tt_current_task(), SPAWNED);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_ptr_eq(tt_current_task(), SPAWNED);
    return 0;
}

static intptr_t main_current(void *arg)
{
    tt_future *self = tt_current_task();
    (void)arg;
    ck_assert_ptr_nonnull(self);
    SPAWNED = tt_spawn(check_current, NULL);
    ck_assert_int_eq(tt_await(tt_ref(SPAWNED)), 0);
    tt_unref(SPAWNED);
    ck_assert_ptr_eq(tt_current_task(), self);
    return 0;
}

START_TEST(current_task)
{
    ck_assert_ptr_null(tt_current_task());
    ck_assert_int_eq(tu_run(main_current, NULL), 0);
    ck_assert_ptr_null(tt_current_task());
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------ cancellation */

static int BODY_RAN;
static intptr_t long_sleeper(void *arg)
{
    (void)arg;
    BODY_RAN = 1;
    intptr_t r = tt_sleep(TT_SEC(30));
    return r; /* -ECANCELED propagates: the task ends cancelled */
}

TU_TASK_TEST(cancel_sleeping_task, 0)
{
    (void)arg;
    tt_future *t = tt_spawn(long_sleeper, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(BODY_RAN, 1);
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_cancel(t, "stop now"), 1);
    ck_assert_int_eq(tt_done(t), 0); /* delivered at its suspension point, later */
    ck_assert_int_eq(tt_cancelling(t), 1);
    ck_assert_str_eq(tt_cancel_message(t), "stop now");
    ck_assert_int_eq(tt_await(tt_ref(t)), -ECANCELED);
    ck_assert_int_lt(tt_now() - t0, TT_SEC(5));
    ck_assert_int_eq(tt_cancelled(t), 1);
    ck_assert_int_eq(tt_result(t), -ECANCELED);
    ck_assert_str_eq(tt_cancel_message(t), "stop now");
    ck_assert_int_eq(tt_cancel(t, "again"), 0); /* done already */
    tt_unref(t);
    return 0;
}

TU_TASK_TEST(cancel_before_start_never_runs_body, 0)
{
    (void)arg;
    BODY_RAN = 0;
    tt_future *t = tt_spawn(long_sleeper, NULL);
    ck_assert_int_eq(tt_cancel(t, "never mind"), 1);
    ck_assert_int_eq(tt_await(tt_ref(t)), -ECANCELED);
    ck_assert_int_eq(BODY_RAN, 0);
    ck_assert_int_eq(tt_cancelled(t), 1);
    ck_assert_str_eq(tt_cancel_message(t), "never mind");
    tt_unref(t);
    return 0;
}

static intptr_t self_cancel_return(void *arg)
{
    (void)arg;
    tt_future *self = tt_current_task();
    ck_assert_int_eq(tt_cancel(self, "me"), 1);
    ck_assert_int_eq(tt_cancelling(self), 1);
    return 5; /* never suspended: the request is undelivered, so the task ends cancelled */
}

static intptr_t self_cancel_yield(void *arg)
{
    (void)arg;
    tt_future *self = tt_current_task();
    ck_assert_int_eq(tt_cancel(self, NULL), 1);
    ck_assert_int_eq(tt_yield(), -ECANCELED); /* the next suspension */
    ck_assert_int_eq(tt_yield(), 0);          /* delivered once */
    return 6;                                 /* swallowed: a normal result */
}

TU_TASK_TEST(self_cancel, 0)
{
    (void)arg;
    tt_future *a = tt_spawn(self_cancel_return, NULL);
    ck_assert_int_eq(tt_await(tt_ref(a)), -ECANCELED);
    ck_assert_int_eq(tt_cancelled(a), 1);
    ck_assert_str_eq(tt_cancel_message(a), "me");
    tt_unref(a);
    tt_future *b = tt_spawn(self_cancel_yield, NULL);
    ck_assert_int_eq(tt_await(tt_ref(b)), 6);
    ck_assert_int_eq(tt_cancelled(b), 0);
    ck_assert_int_eq(tt_cancelling(b), 1); /* the count stays until uncancel */
    tt_unref(b);
    return 0;
}

static intptr_t swallow_with_message(void *arg)
{
    (void)arg;
    tt_future *self = tt_current_task();
    ck_assert_int_eq(tt_cancel(self, "keep going"), 1);
    ck_assert_int_eq(tt_yield(), -ECANCELED);
    ck_assert_str_eq(tt_cancel_message(self), "keep going"); /* the request is still counted */
    return 7;
}

/* A request's message lives while the task does; at its end it becomes the cancelled task's
 * message, or goes (a swallowed request). A named task keeps its name until released. */
TU_TASK_TEST(request_message_at_the_end, 0)
{
    (void)arg;
    tt_task_opts o = {.name = "swallower"};
    tt_future *t = tt_spawn_on(NULL, &o, swallow_with_message, NULL);
    ck_assert_int_eq(tt_await(tt_ref(t)), 7);
    ck_assert_int_eq(tt_cancelled(t), 0);
    ck_assert_ptr_null(tt_cancel_message(t));
    ck_assert_int_eq(tt_cancelling(t), 1);
    ck_assert_int_eq(tt_uncancel(t), 0);
    ck_assert_ptr_null(tt_cancel_message(t));
    ck_assert_str_eq(tt_task_name(t), "swallower");
    tt_unref(t);
    /* Two requests: the first one's message is the cancelled task's, after uncancel too. */
    tt_future *c = tt_spawn_on(NULL, &o, long_sleeper, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_cancel(c, "first"), 1);
    ck_assert_int_eq(tt_cancel(c, "second"), 1);
    ck_assert_int_eq(tt_await(tt_ref(c)), -ECANCELED);
    ck_assert_str_eq(tt_cancel_message(c), "first");
    ck_assert_int_eq(tt_cancelling(c), 2);
    ck_assert_int_eq(tt_uncancel(c), 1);
    ck_assert_int_eq(tt_uncancel(c), 0);
    ck_assert_str_eq(tt_cancel_message(c), "first");
    ck_assert_int_eq(tt_cancelled(c), 1);
    ck_assert_str_eq(tt_task_name(c), "swallower");
    tt_unref(c);
    return 0;
}

static intptr_t returns_ecanceled(void *arg)
{
    (void)arg;
    return -ECANCELED;
}

START_TEST(returning_ecanceled_cancels)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *t = tt_spawn_on(loop, NULL, returns_ecanceled, NULL);
    ck_assert_int_eq(tt_loop_run_until(loop, tt_ref(t)), -ECANCELED);
    ck_assert_int_eq(tt_cancelled(t), 1);
    ck_assert_ptr_null(tt_cancel_message(t));
    tt_unref(t);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t swallower(void *arg)
{
    (void)arg;
    ck_assert_int_eq(tt_sleep(TT_SEC(30)), -ECANCELED);
    /* Carries on: later suspensions work normally. */
    ck_assert_int_eq(tt_sleep(TT_MS(2)), 0);
    ck_assert_int_eq(tt_yield(), 0);
    return 42;
}

TU_TASK_TEST(cancellation_can_be_swallowed, 0)
{
    (void)arg;
    tt_future *t = tt_spawn(swallower, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    ck_assert_int_eq(tt_await(tt_ref(t)), 42);
    ck_assert_int_eq(tt_cancelled(t), 0);
    ck_assert_int_eq(tt_result(t), 42);
    tt_unref(t);
    return 0;
}

static intptr_t counts_body(void *arg)
{
    (void)arg;
    tt_future *self = tt_current_task();
    ck_assert_int_eq(tt_cancelling(self), 0);
    ck_assert_int_eq(tt_uncancel(self), 0); /* never below 0 */
    ck_assert_int_eq(tt_cancel(self, "first"), 1);
    ck_assert_int_eq(tt_cancel(self, "second"), 1);
    ck_assert_int_eq(tt_cancelling(self), 2);
    ck_assert_str_eq(tt_cancel_message(self), "first");
    ck_assert_int_eq(tt_yield(), -ECANCELED); /* one delivery for the batch */
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_cancelling(self), 2);
    ck_assert_int_eq(tt_uncancel(self), 1);
    ck_assert_int_eq(tt_uncancel(self), 0);
    ck_assert_int_eq(tt_uncancel(self), 0);
    ck_assert_int_eq(tt_cancelling(self), 0);
    /* After the count went back to zero, a new request brings its own message. */
    ck_assert_int_eq(tt_cancel(self, "third"), 1);
    ck_assert_str_eq(tt_cancel_message(self), "third");
    ck_assert_int_eq(tt_sleep(TT_MS(1)), -ECANCELED);
    ck_assert_int_eq(tt_uncancel(self), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    return 3;
}

TU_TASK_TEST(cancelling_and_uncancel_counts, 0)
{
    (void)arg;
    tt_future *t = tt_spawn(counts_body, NULL);
    ck_assert_int_eq(tt_await(tt_ref(t)), 3);
    ck_assert_int_eq(tt_cancelled(t), 0);
    ck_assert_int_eq(tt_cancelling(t), 0);
    tt_unref(t);
    /* Not a task: -EINVAL. */
    tt_future *f = tt_future_new(NULL);
    ck_assert_int_eq(tt_cancelling(f), -EINVAL);
    ck_assert_int_eq(tt_uncancel(f), -EINVAL);
    ck_assert_int_eq(tt_cancelling(NULL), -EINVAL);
    ck_assert_int_eq(tt_uncancel(NULL), -EINVAL);
    tt_unref(f);
    return 0;
}

static tt_future *AWAITED;
static intptr_t await_awaited(void *arg)
{
    (void)arg;
    return tt_await(tt_ref(AWAITED));
}

TU_TASK_TEST(cancel_beats_pending_wakeup, 0)
{
    (void)arg;
    AWAITED = tt_future_new(NULL);
    tt_future *t = tt_spawn(await_awaited, NULL);
    ck_assert_int_eq(tt_yield(), 0); /* t now waits on AWAITED */
    ck_assert_int_eq(tt_future_set(AWAITED, 5), 0);
    /* t's wake-up is pending; the cancel still wins. */
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    ck_assert_int_eq(tt_await(tt_ref(t)), -ECANCELED);
    ck_assert_int_eq(tt_cancelled(t), 1);
    ck_assert_int_eq(tt_result(AWAITED), 5);
    tt_unref(t);
    tt_unref(AWAITED);
    return 0;
}

TU_TASK_TEST(cancel_reaches_awaited_future, 0)
{
    (void)arg;
    AWAITED = tt_future_new(NULL);
    tt_future *t = tt_spawn(await_awaited, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_cancel(t, "pass it on"), 1);
    /* The awaited future is cancelled right away, with the message. */
    ck_assert_int_eq(tt_cancelled(AWAITED), 1);
    ck_assert_str_eq(tt_cancel_message(AWAITED), "pass it on");
    ck_assert_int_eq(tt_await(tt_ref(t)), -ECANCELED);
    ck_assert_int_eq(tt_cancelled(t), 1);
    ck_assert_str_eq(tt_cancel_message(t), "pass it on");
    tt_unref(t);
    tt_unref(AWAITED);
    return 0;
}

/* ------------------------------------------------------------ lifetime */

static int BG_DONE;
static intptr_t background(void *arg)
{
    (void)arg;
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    ck_assert_int_eq(tt_yield(), 0);
    BG_DONE = 1;
    return 0;
}

static intptr_t main_unreferenced(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(background, NULL);
    tt_unref(t); /* the loop still holds it */
    for (int i = 0; i < 500 && !BG_DONE; i++)
        ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert_int_eq(BG_DONE, 1);
    return 0;
}

START_TEST(unreferenced_task_keeps_running)
{
    ck_assert_int_eq(tu_run(main_unreferenced, NULL), 0);
    ck_assert_int_eq(BG_DONE, 1);
    tu_assert_no_leaks();
}
END_TEST

static long MANY_DONE;
static intptr_t many_body(void *arg)
{
    (void)arg;
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    MANY_DONE++;
    return 0;
}

static intptr_t main_many(void *arg)
{
    long n = (long)(intptr_t)arg;
    int64_t t0 = tt_now();
    for (long i = 0; i < n; i++) {
        tt_future *t = tt_spawn(many_body, NULL);
        ck_assert_ptr_nonnull(t);
        tt_unref(t);
    }
    tt_live l;
    tt_live_get(&l);
    ck_assert_int_ge(l.tasks, n); /* all alive at once */
    for (int i = 0; i < 6000 && MANY_DONE < n; i++)
        ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert_int_eq(MANY_DONE, n);
    /* Concurrent, not one after another (that would take n * 10 ms). */
    ck_assert_int_lt(tt_now() - t0, TT_SEC(20));
    return 0;
}

START_TEST(many_sleeping_tasks)
{
    long n = (long)(100000 * tu_scale());
    if (n < 1000)
        n = 1000;
#if defined(__SANITIZE_THREAD__)
    /* TSan counts every task's fiber as a thread and dies past 8128 of them. */
    if (n > 4000)
        n = 4000;
#endif
    ck_assert_int_eq(tu_run(main_many, (void *)(intptr_t)n), 0);
    ck_assert_int_eq(MANY_DONE, n);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------ stack reuse */

typedef struct probe {
    tt_event *ev; /* what the task waits for once it has noted its frame */
    uintptr_t frame;
} probe;

static __attribute__((noinline)) intptr_t frame_probe(void *arg)
{
    probe *p = arg;
    /* The frame, not a local's address: ASan may keep locals in a fake stack. */
    p->frame = (uintptr_t)__builtin_frame_address(0);
    return tt_event_wait(p->ev);
}

/* Freed stacks are handed out again lowest address first within their chunk, whatever order they
 * were freed in, except the one freed last, which goes first while it is still warm: tasks
 * started after a burst of tasks that ended in deadline order then walk their stacks in address
 * order. Last-freed-first gave the second generation the slots in reverse order of release, and
 * this test failed. */
TU_TASK_TEST(freed_stacks_are_reused_lowest_first, 0)
{
    enum { N = 8 };
    /* The main task and these fit the pool's first chunk (16 stacks): addresses across chunks
     * depend on where mmap puts them. */
    _Static_assert(N + 1 <= 16, "one chunk");
    static const int release[N] = {3, 0, 7, 1, 5, 2, 6, 4};
    static const int reuse[N] = {4, 0, 1, 2, 3, 5, 6, 7}; /* whose stack each new task gets */
    probe first[N], second[N];
    tt_future *fs[N];
    for (int i = 0; i < N; i++) {
        first[i] = (probe){.ev = tt_event_new()};
        ck_assert_ptr_nonnull(first[i].ev);
        fs[i] = tt_spawn(frame_probe, &first[i]);
        ck_assert_ptr_nonnull(fs[i]);
    }
    WAIT_FOR(first[N - 1].frame != 0);
    for (int i = 1; i < N; i++) /* fresh stacks are carved in address order */
        ck_assert_msg(first[i].frame > first[i - 1].frame, "stack %d is below %d", i, i - 1);
    for (int k = 0; k < N; k++) {
        int i = release[k];
        ck_assert_int_eq(tt_event_set(first[i].ev), 0);
        ck_assert_int_eq(tt_await(fs[i]), 0);
        tt_event_free(first[i].ev);
    }
    /* The second generation waits too: a task that ended would free its stack for the next. */
    tt_event *go = tt_event_new();
    ck_assert_ptr_nonnull(go);
    for (int i = 0; i < N; i++) {
        second[i] = (probe){.ev = go};
        fs[i] = tt_spawn(frame_probe, &second[i]);
        ck_assert_ptr_nonnull(fs[i]);
    }
    WAIT_FOR(second[N - 1].frame != 0);
    ck_assert_int_eq(tt_event_set(go), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(tt_await(fs[i]), 0);
        ck_assert_msg(second[i].frame == first[reuse[i]].frame,
                      "new task %d runs on %#lx, not on task %d's stack %#lx", i,
                      (unsigned long)second[i].frame, reuse[i],
                      (unsigned long)first[reuse[i]].frame);
    }
    tt_event_free(go);
    return 0;
}

/* ------------------------------------------------------------ the stack preparer */

/* Whether a thread of this process is named name; if so, its blocked-signal mask (SigBlk). */
static bool find_thread(const char *name, unsigned long long *sigblk)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], line[128];
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* a thread that has just ended */
        bool named = false;
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "Name:\t", 6)) {
                line[strcspn(line, "\n")] = 0;
                named = !strcmp(line + 6, name);
            } else if (named && !strncmp(line, "SigBlk:\t", 8)) {
                *sigblk = strtoull(line + 8, NULL, 16);
                found = true;
            }
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

static intptr_t nap_and_return(void *arg)
{
    int rc = tt_sleep(TT_MS(20));
    return rc ? rc : (intptr_t)arg;
}

/* Past 1008 stacks (chunks of 16, 32, ... 512) a pool's chunks are full-size, and a thread of
 * its own prepares the next one ahead: it blocks every signal, hands over chunks the tasks run
 * on like any other, and ends with the loop. */
static intptr_t main_preparer(void *arg)
{
    (void)arg;
    enum { N = 3500 }; /* 2032 slots come from the first seven chunks; the rest needs two more */
    static tt_future *fs[N];
    unsigned long long blk = 0;
    ck_assert(!find_thread("tt-stacks", &blk));
    for (long i = 0; i < N; i++) {
        fs[i] = tt_spawn(nap_and_return, (void *)i);
        ck_assert_ptr_nonnull(fs[i]);
    }
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0); /* every task has started and sleeps */
    ck_assert(find_thread("tt-stacks", &blk));
    /* What a server waits for with tt_signal_wait must never land on this thread. */
    const int sigs[] = {SIGHUP, SIGINT, SIGUSR1, SIGPIPE, SIGTERM, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        ck_assert_msg(blk >> (sigs[i] - 1) & 1, "signal %d not blocked (SigBlk %llx)", sigs[i], blk);
    for (long i = 0; i < N; i++)
        ck_assert_int_eq(tt_await(fs[i]), i); /* consumes the reference */
    return 0;
}

START_TEST(stack_preparer_thread)
{
    ck_assert_int_eq(tu_run(main_preparer, NULL), 0);
    unsigned long long blk;
    ck_assert(!find_thread("tt-stacks", &blk)); /* joined when the loop was freed */
    tu_assert_no_leaks();
}
END_TEST

static Suite *task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("task");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, spawn_without_loop_is_eperm);
    tcase_add_test(tc, spawn_null_fn_is_einval);
    tcase_add_test(tc, spawn_on_from_foreign_thread_is_eperm);
    tcase_add_test(tc, spawn_on_loop_from_outside_runs_with_run_until);
    tcase_add_test(tc, task_names);
    tcase_add_test(tc, deep_recursion_with_256k_stack);
    tcase_add_test(tc, tasks_start_lazily_fifo);
    tcase_add_test(tc, await_done_future_does_not_suspend);
    tcase_add_test(tc, await_results_and_errors);
    tcase_add_test(tc, await_outside_task_is_eperm_and_consumes);
    tcase_add_test(tc, sleep_wakes_in_deadline_order);
    tcase_add_test(tc, equal_sleeps_wake_fifo);
    tcase_add_test(tc, yield_interleaves);
    tcase_add_test(tc, yields_round_robin_across_turns);
    tcase_add_test(tc, cancel_reaches_a_yielding_task_at_its_next_resume);
    tcase_add_test(tc, yield_forever_lets_timers_and_other_threads_in);
    tcase_add_test(tc, current_task);
    tcase_add_test(tc, cancel_sleeping_task);
    tcase_add_test(tc, cancel_before_start_never_runs_body);
    tcase_add_test(tc, self_cancel);
    tcase_add_test(tc, request_message_at_the_end);
    tcase_add_test(tc, returning_ecanceled_cancels);
    tcase_add_test(tc, cancellation_can_be_swallowed);
    tcase_add_test(tc, cancelling_and_uncancel_counts);
    tcase_add_test(tc, cancel_beats_pending_wakeup);
    tcase_add_test(tc, cancel_reaches_awaited_future);
    tcase_add_test(tc, unreferenced_task_keeps_running);
    tcase_add_test(tc, many_sleeping_tasks);
    tcase_add_test(tc, freed_stacks_are_reused_lowest_first);
    tcase_add_test(tc, stack_preparer_thread);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(task_suite)
