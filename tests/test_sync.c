/* Unit suite for Event, Lock, Semaphore and Queue: FIFO wake-ups, no barging, cancellation
 * safety (a cancelled get loses no item, a cancelled put adds none, a lock or unit handed to a
 * waiter cancelled at the same moment is passed on), many tasks, freeing with waiters, and bad
 * input / wrong-place calls. */
#define _GNU_SOURCE
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char TRACE[512];
static void trace(char c)
{
    size_t n = strlen(TRACE);
    ck_assert_uint_lt(n + 1, sizeof TRACE);
    TRACE[n] = c;
    TRACE[n + 1] = 0;
}

static void setup(void) { TRACE[0] = 0; }

/* ============================================================================== Event */

static tt_event *EV;

static intptr_t event_waiter(void *arg)
{
    int rc = tt_event_wait(EV);
    if (rc == 0)
        trace((char)(intptr_t)arg);
    return rc;
}

TU_TASK_TEST(event_wakes_every_waiter, 0)
{
    (void)arg;
    EV = tt_event_new();
    ck_assert_ptr_nonnull(EV);
    ck_assert_int_eq(tt_event_is_set(EV), 0);
    tt_future *w[3];
    for (int i = 0; i < 3; i++)
        w[i] = tt_spawn(event_waiter, (void *)(intptr_t)('a' + i));
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_str_eq(TRACE, "");
    tt_cancel(w[1], NULL);
    ck_assert_int_eq(tt_event_set(EV), 0);
    ck_assert_int_eq(tt_event_is_set(EV), 1);
    ck_assert_int_eq(tt_event_set(EV), 0); /* idempotent */
    ck_assert_int_eq(tt_await(w[0]), 0);
    ck_assert_int_eq(tt_await(w[1]), -ECANCELED);
    ck_assert_int_eq(tt_await(w[2]), 0);
    ck_assert_str_eq(TRACE, "ac"); /* FIFO, the cancelled one left out */
    ck_assert_int_eq(tt_event_wait(EV), 0); /* set: at once */
    ck_assert_int_eq(tt_event_clear(EV), 0);
    ck_assert_int_eq(tt_event_is_set(EV), 0);
    tt_future *late = tt_spawn(event_waiter, (void *)'d');
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert(!tt_done(late));
    tt_event_set(EV);
    ck_assert_int_eq(tt_await(late), 0);
    ck_assert_str_eq(TRACE, "acd");
    tt_event_free(EV);
    return 0;
}

static int CB_RC;
static void event_wait_from_callback(void *arg) { CB_RC = tt_event_wait(arg); }
static void event_set_from_callback(void *arg) { CB_RC = tt_event_set(arg); }

static intptr_t main_event_misc(void *arg)
{
    (void)arg;
    tt_event *e = tt_event_new();
    CB_RC = 1;
    tt_call_soon(tt_loop_current(), event_wait_from_callback, e);
    tt_yield();
    ck_assert_int_eq(CB_RC, -EPERM); /* waiting needs a task */
    CB_RC = 1;
    tt_call_soon(tt_loop_current(), event_set_from_callback, e);
    ck_assert_int_eq(tt_event_wait(e), 0); /* set by a plain callback */
    ck_assert_int_eq(CB_RC, 0);
    tt_event_clear(e);
    /* Freed under its waiters: they wake with -EIDRM and touch nothing. */
    EV = e;
    tt_future *w = tt_spawn(event_waiter, (void *)'x');
    tt_yield();
    tt_event_free(e);
    ck_assert_int_eq(tt_await(w), -EIDRM);
    return 0;
}

START_TEST(event_misc_and_bad_input)
{
    ck_assert_int_eq(tt_event_set(NULL), -EINVAL);
    ck_assert_int_eq(tt_event_clear(NULL), -EINVAL);
    ck_assert_int_eq(tt_event_is_set(NULL), -EINVAL);
    ck_assert_int_eq(tt_event_wait(NULL), -EINVAL);
    tt_event_free(NULL);
    tt_event *e = tt_event_new();
    ck_assert_int_eq(tt_event_wait(e), -EPERM); /* outside a task */
    ck_assert_int_eq(tt_event_set(e), 0);       /* no loop needed without waiters */
    tt_event_free(e);
    ck_assert_int_eq(tu_run(main_event_misc, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* =============================================================================== Lock */

static tt_lock *LK;

static intptr_t lock_user(void *arg)
{
    int rc = tt_lock_acquire(LK);
    if (rc < 0)
        return rc;
    trace((char)(intptr_t)arg);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    ck_assert_int_eq(tt_lock_release(LK), 0);
    return 0;
}

TU_TASK_TEST(lock_fifo_no_barging, 0)
{
    (void)arg;
    LK = tt_lock_new();
    ck_assert_ptr_nonnull(LK);
    ck_assert_int_eq(tt_lock_locked(LK), 0);
    ck_assert_int_eq(tt_lock_release(LK), -EPERM); /* not locked */
    ck_assert_int_eq(tt_lock_acquire(LK), 0);
    ck_assert_int_eq(tt_lock_locked(LK), 1);
    tt_future *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = tt_spawn(lock_user, (void *)(intptr_t)('a' + i));
    ck_assert_int_eq(tt_sleep(TT_MS(2)), 0);
    ck_assert_str_eq(TRACE, "");
    ck_assert_int_eq(tt_lock_release(LK), 0);
    /* No barging: the lock is promised to 'a', so we queue behind the others. */
    ck_assert_int_eq(tt_lock_acquire(LK), 0);
    trace('M');
    ck_assert_str_eq(TRACE, "abcdeM");
    ck_assert_int_eq(tt_lock_release(LK), 0);
    ck_assert_int_eq(tt_lock_locked(LK), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(tt_await(t[i]), 0);
    tt_lock_free(LK);
    return 0;
}

TU_TASK_TEST(lock_cancelled_waiters_pass_it_on, 0)
{
    (void)arg;
    LK = tt_lock_new();
    ck_assert_int_eq(tt_lock_acquire(LK), 0);
    tt_future *b = tt_spawn(lock_user, (void *)'b');
    tt_future *c = tt_spawn(lock_user, (void *)'c');
    tt_future *d = tt_spawn(lock_user, (void *)'d');
    ck_assert_int_eq(tt_yield(), 0);
    /* A waiter cancelled while queued. */
    tt_cancel(b, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_await(b), -ECANCELED);
    /* The lock handed to 'c' at the moment 'c' is cancelled: 'c' passes it on to 'd'. */
    ck_assert_int_eq(tt_lock_release(LK), 0);
    tt_cancel(c, NULL);
    ck_assert_int_eq(tt_await(c), -ECANCELED);
    ck_assert_int_eq(tt_await(d), 0);
    ck_assert_str_eq(TRACE, "d");
    ck_assert_int_eq(tt_lock_locked(LK), 0);
    ck_assert_int_eq(tt_lock_acquire(LK), 0); /* not stuck */
    ck_assert_int_eq(tt_lock_release(LK), 0);
    tt_lock_free(LK);
    return 0;
}

static void lock_acquire_from_callback(void *arg) { CB_RC = tt_lock_acquire(arg); }

static intptr_t main_lock_misc(void *arg)
{
    (void)arg;
    tt_lock *l = tt_lock_new();
    CB_RC = 1;
    tt_call_soon(tt_loop_current(), lock_acquire_from_callback, l);
    tt_yield();
    ck_assert_int_eq(CB_RC, -EPERM);
    ck_assert_int_eq(tt_lock_acquire(l), 0);
    LK = l;
    tt_future *w = tt_spawn(lock_user, (void *)'x');
    tt_yield();
    tt_lock_free(l); /* freed under a waiter */
    ck_assert_int_eq(tt_await(w), -EIDRM);
    return 0;
}

START_TEST(lock_misc_and_bad_input)
{
    ck_assert_int_eq(tt_lock_acquire(NULL), -EINVAL);
    ck_assert_int_eq(tt_lock_release(NULL), -EINVAL);
    ck_assert_int_eq(tt_lock_locked(NULL), -EINVAL);
    tt_lock_free(NULL);
    tt_lock *l = tt_lock_new();
    ck_assert_int_eq(tt_lock_acquire(l), -EPERM);
    tt_lock_free(l);
    ck_assert_int_eq(tu_run(main_lock_misc, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ========================================================================== Semaphore */

static tt_semaphore *SEM;
static int INSIDE, MAX_INSIDE, DONE_COUNT;

static intptr_t sem_user(void *arg)
{
    int rc = tt_semaphore_acquire(SEM);
    if (rc < 0)
        return rc;
    if (++INSIDE > MAX_INSIDE)
        MAX_INSIDE = INSIDE;
    if (arg)
        trace((char)(intptr_t)arg);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    INSIDE--;
    DONE_COUNT++;
    ck_assert_int_eq(tt_semaphore_release(SEM), 0);
    return 0;
}

TU_TASK_TEST(semaphore_values, 0)
{
    (void)arg;
    SEM = tt_semaphore_new(2);
    ck_assert_int_eq(tt_semaphore_value(SEM), 2);
    ck_assert_int_eq(tt_semaphore_acquire(SEM), 0);
    ck_assert_int_eq(tt_semaphore_acquire(SEM), 0);
    ck_assert_int_eq(tt_semaphore_value(SEM), 0);
    tt_future *a = tt_spawn(sem_user, (void *)'a');
    tt_future *b = tt_spawn(sem_user, (void *)'b');
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_semaphore_release(SEM), 0);
    ck_assert_int_eq(tt_semaphore_value(SEM), 0); /* handed to 'a' at once */
    ck_assert_int_eq(tt_semaphore_release(SEM), 0);
    ck_assert_int_eq(tt_semaphore_value(SEM), 0); /* and to 'b' */
    ck_assert_int_eq(tt_await(a), 0);
    ck_assert_int_eq(tt_await(b), 0);
    ck_assert_str_eq(TRACE, "ab");
    ck_assert_int_eq(tt_semaphore_value(SEM), 2);
    tt_semaphore_free(SEM);
    /* Zero units. */
    SEM = tt_semaphore_new(0);
    ck_assert_int_eq(tt_semaphore_value(SEM), 0);
    ck_assert_int_eq(tt_semaphore_release(SEM), 0);
    ck_assert_int_eq(tt_semaphore_value(SEM), 1);
    ck_assert_int_eq(tt_semaphore_acquire(SEM), 0);
    tt_semaphore_free(SEM);
    /* The count cannot overflow. */
    SEM = tt_semaphore_new(INT_MAX);
    ck_assert_int_eq(tt_semaphore_release(SEM), -EOVERFLOW);
    ck_assert_int_eq(tt_semaphore_value(SEM), INT_MAX);
    tt_semaphore_free(SEM);
    return 0;
}

TU_TASK_TEST(semaphore_cancellation_safe, 0)
{
    (void)arg;
    SEM = tt_semaphore_new(0);
    tt_future *b = tt_spawn(sem_user, (void *)'b');
    tt_future *c = tt_spawn(sem_user, (void *)'c');
    tt_future *d = tt_spawn(sem_user, (void *)'d');
    ck_assert_int_eq(tt_yield(), 0);
    /* Cancelled while queued: takes nothing. */
    tt_cancel(b, NULL);
    ck_assert_int_eq(tt_await(b), -ECANCELED);
    ck_assert_int_eq(tt_semaphore_value(SEM), 0);
    /* Handed a unit at the moment it is cancelled: gives it to the next. */
    ck_assert_int_eq(tt_semaphore_release(SEM), 0);
    tt_cancel(c, NULL);
    ck_assert_int_eq(tt_await(c), -ECANCELED);
    ck_assert_int_eq(tt_await(d), 0);
    ck_assert_str_eq(TRACE, "d");
    ck_assert_int_eq(tt_semaphore_value(SEM), 1);
    tt_semaphore_free(SEM);
    return 0;
}

TU_TASK_TEST(semaphore_many_tasks, 0)
{
    (void)arg;
    enum { N = 200 };
    SEM = tt_semaphore_new(3);
    INSIDE = MAX_INSIDE = DONE_COUNT = 0;
    static tt_future *t[N];
    for (int i = 0; i < N; i++)
        t[i] = tt_spawn(sem_user, NULL);
    /* Cancel every tenth while it waits: the others must still all get through. */
    ck_assert_int_eq(tt_yield(), 0);
    int cancelled = 0;
    for (int i = 5; i < N; i += 10)
        cancelled += tt_cancel(t[i], NULL);
    for (int i = 0; i < N; i++)
        tt_await(t[i]);
    ck_assert_int_eq(cancelled, N / 10);
    ck_assert_int_eq(DONE_COUNT, N - N / 10);
    ck_assert_int_eq(MAX_INSIDE, 3);
    ck_assert_int_eq(INSIDE, 0);
    ck_assert_int_eq(tt_semaphore_value(SEM), 3);
    tt_semaphore_free(SEM);
    return 0;
}

START_TEST(semaphore_bad_input)
{
    errno = 0;
    ck_assert_ptr_null(tt_semaphore_new((unsigned)INT_MAX + 1u));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(tt_semaphore_acquire(NULL), -EINVAL);
    ck_assert_int_eq(tt_semaphore_release(NULL), -EINVAL);
    ck_assert_int_eq(tt_semaphore_value(NULL), -EINVAL);
    tt_semaphore_free(NULL);
    tt_semaphore *s = tt_semaphore_new(1);
    ck_assert_int_eq(tt_semaphore_acquire(s), -EPERM);
    ck_assert_int_eq(tt_semaphore_value(s), 1);
    tt_semaphore_free(s);
    tu_assert_no_leaks();
}
END_TEST

/* ============================================================================== Queue */

static tt_queue *Q;

static intptr_t getter(void *arg)
{
    void *item = NULL;
    int rc = tt_queue_get(Q, &item);
    if (arg)
        *(void **)arg = item;
    return rc < 0 ? rc : (intptr_t)item;
}

static intptr_t putter(void *arg) { return tt_queue_put(Q, arg); }

TU_TASK_TEST(queue_fifo_and_growth, 0)
{
    (void)arg;
    Q = tt_queue_new(0);
    ck_assert_ptr_nonnull(Q);
    void *item = (void *)1;
    ck_assert_int_eq(tt_queue_try_get(Q, &item), -EAGAIN);
    ck_assert_ptr_eq(item, (void *)1);
    for (intptr_t i = 0; i < 1000; i++) /* grows */
        ck_assert_int_eq(tt_queue_try_put(Q, (void *)i), 0);
    ck_assert_uint_eq(tt_queue_size(Q), 1000);
    for (intptr_t i = 0; i < 1000; i++) {
        ck_assert_int_eq(i % 2 ? tt_queue_get(Q, &item) : tt_queue_try_get(Q, &item), 0);
        ck_assert_ptr_eq(item, (void *)i);
        if (i == 500) /* wrap the ring around */
            for (intptr_t j = 1000; j < 1300; j++)
                ck_assert_int_eq(tt_queue_put(Q, (void *)j), 0);
    }
    for (intptr_t j = 1000; j < 1300; j++) {
        ck_assert_int_eq(tt_queue_get(Q, &item), 0);
        ck_assert_ptr_eq(item, (void *)j);
    }
    ck_assert_uint_eq(tt_queue_size(Q), 0);
    ck_assert_int_eq(tt_queue_put(Q, NULL), 0); /* NULL is an item like any other */
    item = (void *)1;
    ck_assert_int_eq(tt_queue_get(Q, &item), 0);
    ck_assert_ptr_null(item);
    /* Getters wait FIFO. */
    tt_future *g1 = tt_spawn(getter, NULL), *g2 = tt_spawn(getter, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_queue_try_put(Q, (void *)7), 0);
    ck_assert_int_eq(tt_queue_put(Q, (void *)8), 0);
    ck_assert_int_eq(tt_await(g1), 7);
    ck_assert_int_eq(tt_await(g2), 8);
    tt_queue_free(Q);
    return 0;
}

TU_TASK_TEST(queue_bounded_put_waits, 0)
{
    (void)arg;
    Q = tt_queue_new(2);
    ck_assert_int_eq(tt_queue_try_put(Q, (void *)1), 0);
    ck_assert_int_eq(tt_queue_put(Q, (void *)2), 0);
    ck_assert_int_eq(tt_queue_try_put(Q, (void *)3), -EAGAIN);
    ck_assert_uint_eq(tt_queue_size(Q), 2);
    tt_future *p3 = tt_spawn(putter, (void *)3), *p4 = tt_spawn(putter, (void *)4);
    ck_assert_int_eq(tt_sleep(TT_MS(2)), 0);
    ck_assert(!tt_done(p3) && !tt_done(p4));
    void *item;
    for (intptr_t want = 1; want <= 4; want++) {
        ck_assert_int_eq(tt_queue_get(Q, &item), 0);
        ck_assert_ptr_eq(item, (void *)want);
        ck_assert_int_le(tt_queue_size(Q), 2);
    }
    ck_assert_int_eq(tt_await(p3), 0);
    ck_assert_int_eq(tt_await(p4), 0);
    ck_assert_uint_eq(tt_queue_size(Q), 0);
    tt_queue_free(Q);
    return 0;
}

TU_TASK_TEST(queue_cancelled_get_loses_nothing, 0)
{
    (void)arg;
    Q = tt_queue_new(0);
    /* Cancelled while waiting. */
    tt_future *g = tt_spawn(getter, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    tt_cancel(g, NULL);
    ck_assert_int_eq(tt_await(g), -ECANCELED);
    /* Woken for an item at the moment it is cancelled: the item stays, the next getter
     * is woken for it. */
    static void *got2 = NULL;
    tt_future *g1 = tt_spawn(getter, NULL), *g2 = tt_spawn(getter, &got2);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_queue_try_put(Q, (void *)5), 0);
    tt_cancel(g1, NULL);
    ck_assert_int_eq(tt_await(g1), -ECANCELED);
    ck_assert_int_eq(tt_await(g2), 5);
    ck_assert_ptr_eq(got2, (void *)5);
    ck_assert_uint_eq(tt_queue_size(Q), 0);
    /* A cancelled getter with nobody else waiting: the item simply stays. */
    g1 = tt_spawn(getter, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_queue_try_put(Q, (void *)6), 0);
    tt_cancel(g1, NULL);
    ck_assert_int_eq(tt_await(g1), -ECANCELED);
    ck_assert_uint_eq(tt_queue_size(Q), 1);
    void *item;
    ck_assert_int_eq(tt_queue_try_get(Q, &item), 0);
    ck_assert_ptr_eq(item, (void *)6);
    tt_queue_free(Q);
    return 0;
}

TU_TASK_TEST(queue_cancelled_put_adds_nothing, 0)
{
    (void)arg;
    Q = tt_queue_new(1);
    ck_assert_int_eq(tt_queue_put(Q, (void *)1), 0);
    tt_future *p = tt_spawn(putter, (void *)2);
    ck_assert_int_eq(tt_yield(), 0);
    tt_cancel(p, NULL);
    ck_assert_int_eq(tt_await(p), -ECANCELED);
    ck_assert_uint_eq(tt_queue_size(Q), 1);
    /* Woken for room at the moment it is cancelled: adds nothing, the next putter gets in. */
    tt_future *p2 = tt_spawn(putter, (void *)2), *p3 = tt_spawn(putter, (void *)3);
    ck_assert_int_eq(tt_yield(), 0);
    void *item;
    ck_assert_int_eq(tt_queue_try_get(Q, &item), 0);
    ck_assert_ptr_eq(item, (void *)1);
    tt_cancel(p2, NULL);
    ck_assert_int_eq(tt_await(p2), -ECANCELED);
    ck_assert_int_eq(tt_await(p3), 0);
    ck_assert_uint_eq(tt_queue_size(Q), 1);
    ck_assert_int_eq(tt_queue_try_get(Q, &item), 0);
    ck_assert_ptr_eq(item, (void *)3);
    ck_assert_int_eq(tt_queue_try_get(Q, &item), -EAGAIN);
    tt_queue_free(Q);
    return 0;
}

enum { NPROD = 200, NCONS = 200, PER = 5 };
static long SUM;
static int LAST_SEEN[NPROD];
static int ORDER_OK;

static intptr_t producer(void *arg)
{
    intptr_t id = (intptr_t)arg;
    for (int k = 0; k < PER; k++)
        ck_assert_int_eq(tt_queue_put(Q, (void *)(id * 100 + k + 1)), 0);
    return 0;
}

static intptr_t consumer(void *arg)
{
    (void)arg;
    for (int k = 0; k < PER; k++) {
        void *item;
        ck_assert_int_eq(tt_queue_get(Q, &item), 0);
        intptr_t v = (intptr_t)item;
        int id = (int)(v / 100), seq = (int)(v % 100);
        if (seq <= LAST_SEEN[id]) /* each producer's items come out in its order */
            ORDER_OK = 0;
        LAST_SEEN[id] = seq;
        SUM += v;
    }
    return 0;
}

TU_TASK_TEST(queue_many_producers_consumers, 0)
{
    (void)arg;
    Q = tt_queue_new(10);
    SUM = 0;
    ORDER_OK = 1;
    memset(LAST_SEEN, 0, sizeof LAST_SEEN);
    static tt_future *t[NPROD + NCONS];
    for (int i = 0; i < NCONS; i++)
        t[i] = tt_spawn(consumer, NULL);
    for (int i = 0; i < NPROD; i++)
        t[NCONS + i] = tt_spawn(producer, (void *)(intptr_t)i);
    for (int i = 0; i < NPROD + NCONS; i++)
        ck_assert_int_eq(tt_await(t[i]), 0);
    long want = 0;
    for (int id = 0; id < NPROD; id++)
        for (int k = 0; k < PER; k++)
            want += id * 100 + k + 1;
    ck_assert_int_eq(SUM, want);
    ck_assert(ORDER_OK);
    ck_assert_uint_eq(tt_queue_size(Q), 0);
    tt_queue_free(Q);
    return 0;
}

static intptr_t main_queue_misc(void *arg)
{
    (void)arg;
    Q = tt_queue_new(1);
    void *item;
    CB_RC = 1;
    ck_assert_int_eq(tt_queue_get(Q, NULL), -EINVAL);
    /* Freed under a getter and a putter. */
    tt_future *g = tt_spawn(getter, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    tt_queue_free(Q);
    ck_assert_int_eq(tt_await(g), -EIDRM);
    Q = tt_queue_new(1);
    tt_queue_try_put(Q, (void *)1);
    tt_future *p = tt_spawn(putter, (void *)2);
    ck_assert_int_eq(tt_yield(), 0);
    tt_queue_free(Q);
    ck_assert_int_eq(tt_await(p), -EIDRM);
    (void)item;
    return 0;
}

START_TEST(queue_misc_and_bad_input)
{
    void *item;
    ck_assert_int_eq(tt_queue_put(NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_queue_get(NULL, &item), -EINVAL);
    ck_assert_int_eq(tt_queue_try_put(NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_queue_try_get(NULL, &item), -EINVAL);
    ck_assert_uint_eq(tt_queue_size(NULL), 0);
    tt_queue_free(NULL);
    tt_queue *q = tt_queue_new(0);
    ck_assert_int_eq(tt_queue_try_get(q, NULL), -EINVAL);
    ck_assert_int_eq(tt_queue_put(q, (void *)1), -EPERM); /* outside a task */
    ck_assert_int_eq(tt_queue_get(q, &item), -EPERM);
    ck_assert_int_eq(tt_queue_try_put(q, (void *)1), 0);  /* never waits: allowed */
    ck_assert_int_eq(tt_queue_try_get(q, &item), 0);
    ck_assert_ptr_eq(item, (void *)1);
    tt_queue_free(q);
    ck_assert_int_eq(tu_run(main_queue_misc, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ---------------------------------------------------- freed under a woken waiter */

static tt_lock *FREED_LOCK;
static tt_queue *FREED_QUEUE;
static tt_semaphore *FREED_SEM;

static intptr_t lock_waiter(void *arg)
{
    (void)arg;
    return tt_lock_acquire(FREED_LOCK);
}

TU_TASK_TEST(lock_freed_after_handing_over, -EIDRM)
{
    (void)arg;
    FREED_LOCK = tt_lock_new();
    ck_assert_int_eq(tt_lock_acquire(FREED_LOCK), 0);
    tt_future *w = tt_spawn(lock_waiter, NULL);
    ck_assert_int_eq(tt_yield(), 0);            /* the waiter parks */
    ck_assert_int_eq(tt_lock_release(FREED_LOCK), 0); /* hands it the lock; it has not run yet */
    tt_lock_free(FREED_LOCK);
    return tt_await(w); /* it must not touch the freed lock */
}

static intptr_t queue_getter(void *arg)
{
    void **slot = arg;
    return tt_queue_get(FREED_QUEUE, slot);
}

TU_TASK_TEST(queue_freed_after_waking_a_getter, -EIDRM)
{
    (void)arg;
    void *got = (void *)1;
    FREED_QUEUE = tt_queue_new(0);
    tt_future *g = tt_spawn(queue_getter, &got);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_queue_try_put(FREED_QUEUE, (void *)7), 0); /* wakes the getter */
    tt_queue_free(FREED_QUEUE);
    intptr_t r = tt_await(g);
    ck_assert_ptr_eq(got, (void *)1); /* nothing written through a freed queue */
    return r;
}

static intptr_t sem_waiter(void *arg)
{
    (void)arg;
    return tt_semaphore_acquire(FREED_SEM);
}

TU_TASK_TEST(semaphore_freed_after_handing_a_unit, -EIDRM)
{
    (void)arg;
    FREED_SEM = tt_semaphore_new(0);
    tt_future *w = tt_spawn(sem_waiter, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_semaphore_release(FREED_SEM), 0);
    tt_semaphore_free(FREED_SEM);
    return tt_await(w);
}

/* ------------------------------------------------------ the loop's own callbacks */

/* ========================================================================= every kind */

/* A cancel requested while the task ran is delivered by the next wait, whichever the object:
 * -ECANCELED once, nothing taken, nothing left pending or linked. */
TU_TASK_TEST(waits_deliver_a_cancel_requested_before_them, 0)
{
    (void)arg;
    tt_future *me = tt_current_task();
    tt_event *e = tt_event_new();
    tt_lock *l = tt_lock_new();
    tt_semaphore *sem = tt_semaphore_new(0);
    tt_queue *q = tt_queue_new(1);
    void *item = NULL;
    ck_assert_int_eq(tt_lock_acquire(l), 0);

    ck_assert_int_eq(tt_cancel(me, NULL), 1);
    ck_assert_int_eq(tt_event_wait(e), -ECANCELED);
    ck_assert_int_eq(tt_cancel(me, NULL), 1);
    ck_assert_int_eq(tt_lock_acquire(l), -ECANCELED);
    ck_assert_int_eq(tt_cancel(me, NULL), 1);
    ck_assert_int_eq(tt_semaphore_acquire(sem), -ECANCELED);
    ck_assert_int_eq(tt_cancel(me, NULL), 1);
    ck_assert_int_eq(tt_queue_get(q, &item), -ECANCELED);
    ck_assert_int_eq(tt_queue_put(q, (void *)1), 0);
    ck_assert_int_eq(tt_cancel(me, NULL), 1);
    ck_assert_int_eq(tt_queue_put(q, (void *)2), -ECANCELED);

    ck_assert_int_eq(tt_cancelling(me), 5);
    ck_assert_int_eq(tt_sleep(0), 0); /* each was delivered once */
    ck_assert_int_eq(tt_semaphore_value(sem), 0);
    ck_assert_int_eq(tt_queue_size(q), 1);
    ck_assert_int_eq(tt_queue_get(q, &item), 0);
    ck_assert_ptr_eq(item, (void *)1);
    ck_assert_int_eq(tt_lock_release(l), 0);
    ck_assert_int_eq(tt_lock_acquire(l), 0); /* no cancelled waiter left in the way */
    ck_assert_int_eq(tt_lock_release(l), 0);
    for (int i = 0; i < 5; i++)
        tt_uncancel(me);
    tt_event_free(e);
    tt_lock_free(l);
    tt_semaphore_free(sem);
    tt_queue_free(q);
    return 0;
}

/* W5's event ping-pong: each set hands the CPU to the other task within the turn, in order. */
static tt_event *PING, *PONG;
static int ROUNDS;
static intptr_t ponger(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(tt_event_wait(PING), 0);
        ck_assert_int_eq(tt_event_clear(PING), 0);
        ck_assert_int_eq(ROUNDS, i);
        ROUNDS++;
        ck_assert_int_eq(tt_event_set(PONG), 0);
    }
    return 0;
}

TU_TASK_TEST(event_ping_pong_alternates, 0)
{
    (void)arg;
    PING = tt_event_new();
    PONG = tt_event_new();
    ROUNDS = 0;
    tt_future *p = tt_spawn(ponger, NULL);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(tt_event_set(PING), 0);
        ck_assert_int_eq(tt_event_wait(PONG), 0);
        ck_assert_int_eq(tt_event_clear(PONG), 0);
        ck_assert_int_eq(ROUNDS, i + 1);
    }
    ck_assert_int_eq(tt_await(p), 0);
    tt_event_free(PING);
    tt_event_free(PONG);
    return 0;
}

/* tt_loop_dump names what a parked task waits on. */
static intptr_t waits_on_event(void *arg) { return tt_event_wait(arg); }

TU_TASK_TEST(dump_names_the_object_waited_on, 0)
{
    (void)arg;
    tt_event *e = tt_event_new();
    tt_task_opts o = {.name = "parked"};
    tt_future *t = tt_spawn_on(NULL, &o, waits_on_event, e);
    ck_assert_int_eq(tt_yield(), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_int_eq(tt_loop_dump(NULL, out), 0);
    fclose(out);
    ck_assert_msg(strstr(buf, " 'parked': waiting on an event, cancelling=0\n"), "%s", buf);
    free(buf);
    ck_assert_int_eq(tt_event_set(e), 0);
    ck_assert_int_eq(tt_await(t), 0);
    tt_event_free(e);
    return 0;
}

static Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("event");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, event_wakes_every_waiter);
    tcase_add_test(tc, waits_deliver_a_cancel_requested_before_them);
    tcase_add_test(tc, event_ping_pong_alternates);
    tcase_add_test(tc, dump_names_the_object_waited_on);
    tcase_add_test(tc, event_misc_and_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("lock");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lock_fifo_no_barging);
    tcase_add_test(tc, lock_cancelled_waiters_pass_it_on);
    tcase_add_test(tc, lock_misc_and_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("semaphore");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, semaphore_values);
    tcase_add_test(tc, semaphore_cancellation_safe);
    tcase_add_test(tc, semaphore_many_tasks);
    tcase_add_test(tc, semaphore_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, queue_fifo_and_growth);
    tcase_add_test(tc, queue_bounded_put_waits);
    tcase_add_test(tc, queue_cancelled_get_loses_nothing);
    tcase_add_test(tc, queue_cancelled_put_adds_nothing);
    tcase_add_test(tc, queue_many_producers_consumers);
    tcase_add_test(tc, queue_misc_and_bad_input);
    tcase_add_test(tc, lock_freed_after_handing_over);
    tcase_add_test(tc, queue_freed_after_waking_a_getter);
    tcase_add_test(tc, semaphore_freed_after_handing_a_unit);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(sync_suite)
