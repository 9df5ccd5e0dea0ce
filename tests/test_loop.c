/* Unit suite for the loop: creation and freeing rules, run_until / run_once / the embedding fd,
 * call_soon and call_soon_threadsafe (FIFO, exactly once from many threads), call_later and
 * call_cancel, tt_loop_submit with its thread-safe handle, tt_run and tt_loop_current. */
#define _GNU_SOURCE
#include "testutil.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* tt_loop_next_deadline's deadline, asserting the call itself succeeded. */
static int64_t next_deadline_of(tt_loop *loop)
{
    int64_t d = 12345;
    ck_assert_int_eq(tt_loop_next_deadline(loop, &d), 0);
    return d;
}

static void trace_cb(void *arg) { tu_trace("%c", (char)(intptr_t)arg); }

/* Runs short iterations until the trace is n long (or gives up after ~2 s). */
static void run_until_trace(tt_loop *loop, size_t n)
{
    for (int i = 0; i < 200 && tu_trace_len() < n; i++)
        ck_assert_int_ge(tt_loop_run_once(loop, TT_MS(10)), 0);
    ck_assert_uint_eq(tu_trace_len(), n);
}

static intptr_t return_arg(void *arg) { return (intptr_t)arg; }

static void set_future_cb(void *arg) { ck_assert_int_eq(tt_future_set(arg, 99), 0); }

/* Runs fn(arg) on a fresh thread and joins it. */
static void on_thread(void *(*fn)(void *), void *arg)
{
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, fn, arg), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/* ------------------------------------------------------------- new / free */

START_TEST(one_loop_per_thread)
{
    ck_assert_ptr_null(tt_loop_current());
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_eq(tt_loop_current(), loop);
    errno = 0;
    ck_assert_ptr_null(tt_loop_new(NULL));
    ck_assert_int_eq(errno, EBUSY);
    ck_assert_ptr_eq(tt_loop_current(), loop);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    ck_assert_ptr_null(tt_loop_current());
    tt_loop_opts o = {.ring_entries = 64, .stack_size = 32 * 1024};
    loop = tt_loop_new(&o); /* the slot is free again */
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    ck_assert_int_eq(tt_loop_free(NULL), -EINVAL);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(free_with_live_tasks_is_ebusy)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *t = tt_spawn_on(loop, NULL, return_arg, (void *)8);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(tt_loop_free(loop), -EBUSY);
    ck_assert_ptr_eq(tt_loop_current(), loop); /* nothing was freed */
    ck_assert_int_eq(tt_loop_run_until(loop, t), 8);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

typedef struct foreign {
    tt_loop *loop;
    tt_future *f;
    int rc_free, rc_soon, rc_cancel, rc_once, rc_until;
    int64_t later_id;
} foreign;

static void *foreign_calls(void *p)
{
    foreign *a = p;
    ck_assert_ptr_null(tt_loop_current());
    a->rc_free = tt_loop_free(a->loop);
    a->rc_soon = tt_call_soon(a->loop, trace_cb, (void *)'x');
    a->later_id = tt_call_later(a->loop, TT_MS(1), trace_cb, (void *)'y');
    a->rc_cancel = tt_call_cancel(a->loop, 1);
    a->rc_once = tt_loop_run_once(a->loop, 0);
    a->rc_until = (int)tt_loop_run_until(a->loop, a->f);
    return NULL;
}

START_TEST(foreign_thread_is_eperm)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    /* A foreign thread cannot touch reference counts, so its refused run_until leaves f
     * with us. */
    foreign a = {.loop = loop, .f = f};
    on_thread(foreign_calls, &a);
    ck_assert_int_eq(a.rc_free, -EPERM);
    ck_assert_int_eq(a.rc_soon, -EPERM);
    ck_assert_int_eq(a.later_id, -EPERM); /* one error channel (0.1: 0 and errno) */
    ck_assert_int_eq(a.rc_cancel, -EPERM);
    ck_assert_int_eq(a.rc_once, -EPERM);
    ck_assert_int_eq(a.rc_until, -EPERM);
    /* The loop is intact and usable from its own thread. */
    ck_assert_ptr_eq(tt_loop_current(), loop);
    ck_assert_int_eq(tt_call_soon(loop, set_future_cb, f), 0);
    ck_assert_int_eq(tt_loop_run_until(loop, f), 99);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------ run_until */

START_TEST(run_until_returns_outcome)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert(tt_call_later(loop, TT_MS(5), set_future_cb, f) > 0);
    ck_assert_int_eq(tt_loop_run_until(loop, f), 99);
    tt_future *g = tt_future_new(loop);
    ck_assert_int_eq(tt_future_set(g, -EPIPE), 0);
    ck_assert_int_eq(tt_loop_run_until(loop, g), -EPIPE); /* already done */
    ck_assert_int_eq(tt_loop_run_until(loop, NULL), -EINVAL);
    ck_assert_int_eq(tt_loop_run_until(NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

TU_TASK_TEST(run_until_inside_task_is_eperm, 0)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    long before;
    tt_live l;
    tt_live_get(&l);
    before = l.futures;
    /* Re-entering the loop from a task is refused; f is consumed as documented. */
    ck_assert_int_eq(tt_loop_run_until(tt_loop_current(), f), -EPERM);
    tt_live_get(&l);
    ck_assert_int_eq(l.futures, before - 1);
    ck_assert_int_eq(tt_loop_run_once(tt_loop_current(), 0), -EPERM);
    return 0;
}

/* ------------------------------------------------------------- run_once */

START_TEST(run_once_counts_and_does_not_block)
{
    tu_trace_reset();
    tt_loop *loop = tt_loop_new(NULL);
    /* A far timer must not make run_once(0) wait. */
    int64_t far = tt_call_later(loop, TT_SEC(10), trace_cb, (void *)'F');
    ck_assert(far != 0);
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 0);
    ck_assert_int_lt(tt_now() - t0, TT_MS(500));
    ck_assert_int_eq(tt_call_soon(loop, trace_cb, (void *)'a'), 0);
    ck_assert_int_eq(tt_call_soon(loop, trace_cb, (void *)'b'), 0);
    ck_assert_int_eq(next_deadline_of(loop), 0); /* callbacks are ready */
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 2);
    ck_assert_str_eq(tu_trace_get(), "ab");
    /* Nothing to do: waits about the timeout, then returns 0. */
    t0 = tt_now();
    ck_assert_int_eq(tt_loop_run_once(loop, TT_MS(30)), 0);
    ck_assert_int_ge(tt_now() - t0, TT_MS(20));
    /* The next deadline is the far timer's. */
    int64_t d = next_deadline_of(loop);
    ck_assert_int_gt(d, tt_now() + TT_SEC(5));
    ck_assert_int_eq(tt_call_cancel(loop, far), 1);
    ck_assert_int_eq(next_deadline_of(loop), TT_FOREVER);
    /* TT_FOREVER waits until a timer fires. */
    ck_assert(tt_call_later(loop, TT_MS(10), trace_cb, (void *)'t') > 0);
    t0 = tt_now();
    for (int i = 0; i < 10 && tu_trace_len() < 3; i++)
        ck_assert_int_ge(tt_loop_run_once(loop, TT_FOREVER), 0);
    ck_assert_str_eq(tu_trace_get(), "abt");
    ck_assert_int_ge(tt_now() - t0, TT_MS(9));
    ck_assert_int_eq(tt_loop_run_once(NULL, 0), 0); /* NULL: the current loop (0.2) */
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------- loop fd */

static void *poke_loop(void *p)
{
    usleep(20000);
    ck_assert_int_eq(tt_call_soon_threadsafe(p, trace_cb, (void *)'w'), 0);
    return NULL;
}

static int fd_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    ck_assert_int_ge(r, 0);
    return r == 1 && (p.revents & POLLIN);
}

START_TEST(loop_fd_turns_readable_from_other_thread)
{
    tu_trace_reset();
    tt_loop *loop = tt_loop_new(NULL);
    int fd = tt_loop_fd(loop);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(tt_loop_fd(loop), fd); /* owned by the loop, stable */
    ck_assert_int_eq(tt_loop_fd(NULL), fd); /* NULL: the current loop (0.2) */
    ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(fd_readable(fd, 0), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, poke_loop, loop), 0);
    /* Embedded use: the host polls the fd, then runs one iteration without waiting. */
    ck_assert_int_eq(fd_readable(fd, 5000), 1);
    pthread_join(th, NULL);
    for (int i = 0; i < 5 && tu_trace_len() < 1; i++)
        ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
    ck_assert_str_eq(tu_trace_get(), "w");
    /* Once processed, the fd is quiet again (a host would otherwise spin). */
    ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(fd_readable(fd, 0), 0);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------ call_soon */

START_TEST(call_soon_fifo_and_errors)
{
    tu_trace_reset();
    ck_assert_int_lt(tt_call_soon(NULL, trace_cb, NULL), 0); /* no current loop */
    tt_loop *loop = tt_loop_new(NULL);
    const char *s = "abcdefghij";
    for (int i = 0; s[i]; i++)
        ck_assert_int_eq(tt_call_soon(loop, trace_cb, (void *)(intptr_t)s[i]), 0);
    ck_assert_int_eq(tt_call_soon(loop, NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_call_soon_threadsafe(loop, NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_call_soon_threadsafe(NULL, NULL, NULL), -EINVAL);
    run_until_trace(loop, 10);
    ck_assert_str_eq(tu_trace_get(), s);
    /* The loop thread may use the thread-safe variant too. */
    ck_assert_int_eq(tt_call_soon_threadsafe(loop, trace_cb, (void *)'k'), 0);
    run_until_trace(loop, 11);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* A callback scheduled by a callback runs in a later turn, after what was already queued. */
static void soon_from_cb(void *arg)
{
    trace_cb(arg);
    if ((intptr_t)arg == '1')
        ck_assert_int_eq(tt_call_soon(tt_loop_current(), trace_cb, (void *)'3'), 0);
}

START_TEST(call_soon_from_callback_runs_after_queued)
{
    tu_trace_reset();
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_int_eq(tt_call_soon(loop, soon_from_cb, (void *)'1'), 0);
    ck_assert_int_eq(tt_call_soon(loop, soon_from_cb, (void *)'2'), 0);
    run_until_trace(loop, 3);
    ck_assert_str_eq(tu_trace_get(), "123");
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

enum { TS_THREADS = 4, TS_CALLS = 10000 };
static unsigned char TS_SEEN[TS_THREADS][TS_CALLS];
static int TS_LAST[TS_THREADS];
static int TS_ORDER_BROKEN;
static long TS_TOTAL;

static void ts_cb(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int th = (int)(v >> 20), i = (int)(v & 0xfffff);
    TS_SEEN[th][i]++;
    if (i != TS_LAST[th] + 1)
        TS_ORDER_BROKEN = 1; /* each producer's calls arrive in its own order */
    TS_LAST[th] = i;
    TS_TOTAL++;
}

typedef struct ts_arg {
    tt_loop *loop;
    int th;
    atomic_int *go;
    int failures;
} ts_arg;

static void *ts_producer(void *p)
{
    ts_arg *a = p;
    while (!atomic_load(a->go))
        ;
    for (int i = 0; i < TS_CALLS; i++)
        if (tt_call_soon_threadsafe(a->loop, ts_cb, (void *)(((uintptr_t)a->th << 20) | (uintptr_t)i)) != 0)
            a->failures++;
    return NULL;
}

START_TEST(call_soon_threadsafe_exactly_once)
{
    memset(TS_SEEN, 0, sizeof TS_SEEN);
    for (int t = 0; t < TS_THREADS; t++)
        TS_LAST[t] = -1;
    tt_loop *loop = tt_loop_new(NULL);
    atomic_int go = 0;
    pthread_t th[TS_THREADS];
    ts_arg args[TS_THREADS];
    for (int t = 0; t < TS_THREADS; t++) {
        args[t] = (ts_arg){.loop = loop, .th = t, .go = &go};
        ck_assert_int_eq(pthread_create(&th[t], NULL, ts_producer, &args[t]), 0);
    }
    atomic_store(&go, 1);
    /* The loop keeps running (and sleeping) while producers push. */
    int64_t deadline = tt_now() + TT_SEC(60);
    while (TS_TOTAL < (long)TS_THREADS * TS_CALLS && tt_now() < deadline)
        ck_assert_int_ge(tt_loop_run_once(loop, TT_MS(50)), 0);
    for (int t = 0; t < TS_THREADS; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(args[t].failures, 0);
    }
    ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(TS_TOTAL, (long)TS_THREADS * TS_CALLS);
    for (int t = 0; t < TS_THREADS; t++)
        for (int i = 0; i < TS_CALLS; i++)
            ck_assert_msg(TS_SEEN[t][i] == 1, "call %d of thread %d ran %d times", i, t, TS_SEEN[t][i]);
    ck_assert_int_eq(TS_ORDER_BROKEN, 0);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------ call_later */

START_TEST(call_later_order_and_cancel)
{
    tu_trace_reset();
    tt_loop *loop = tt_loop_new(NULL);
    int64_t t0 = tt_now(); /* before 'c' is armed: its 30 ms count from no later than this */
    int64_t c = tt_call_later(loop, TT_MS(30), trace_cb, (void *)'c');
    int64_t a = tt_call_later(loop, TT_MS(10), trace_cb, (void *)'a');
    int64_t b = tt_call_later(loop, TT_MS(20), trace_cb, (void *)'b');
    int64_t x = tt_call_later(loop, TT_MS(15), trace_cb, (void *)'x');
    /* Equal delays (set in the same instant) fire in the order set. */
    int64_t e[4];
    for (int i = 0; i < 4; i++)
        e[i] = tt_call_later(loop, TT_MS(25), trace_cb, (void *)(intptr_t)('1' + i));
    ck_assert(a && b && c && x && e[0] && e[1] && e[2] && e[3]);
    ck_assert(a != b && b != c && a != c && x != a && e[0] != e[1]);
    ck_assert_int_eq(tt_call_cancel(loop, x), 1);
    ck_assert_int_eq(tt_call_cancel(loop, x), 0); /* twice */
    ck_assert_int_eq(tt_call_cancel(loop, 987654321), 0); /* unknown */
    run_until_trace(loop, 7);
    ck_assert_int_ge(tt_now() - t0, TT_MS(30));
    ck_assert_str_eq(tu_trace_get(), "ab1234c");
    ck_assert_int_eq(tt_call_cancel(loop, a), 0); /* already ran */
    /* Negative delay counts as 0. */
    ck_assert(tt_call_later(loop, -5, trace_cb, (void *)'n') > 0);
    run_until_trace(loop, 8);
    ck_assert_str_eq(tu_trace_get(), "ab1234cn");
    ck_assert_int_eq(tt_call_later(loop, TT_MS(1), NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* Timers armed in deadline order and out of it (the loop keeps the first kind in FIFOs, one per
 * delay in ms mod 64, and the rest in a heap) fire by deadline, equal deadlines in the order
 * set, however many are cancelled in between. Each deadline is known to within the call that
 * set it (a loaded machine may stretch the arming far past the delays' differences). 10 and
 * 74 ms share a FIFO, which grows with its head moved on and is
 * compacted; 65 and 129 ms (and 95 and 159) share one too, so arming them in turn sends some to
 * the heap. */
static int FIRED[512];
static int FIRED_N;
static void fired_cb(void *arg) { FIRED[FIRED_N++] = (int)(intptr_t)arg; }

/* FIRED holds no cancelled timer, and no timer before one whose deadline was surely earlier
 * (armed_from/armed_to bound each deadline) or, for equal delays, armed earlier. */
static void assert_fired_in_order(const int *delay_ms, const int64_t *armed_from,
                                  const int64_t *armed_to, const bool *cancelled)
{
    int prev = -1;
    for (int k = 0; k < FIRED_N; k++) {
        int i = FIRED[k];
        ck_assert_msg(!cancelled[i], "cancelled timer %d ran", i);
        if (prev >= 0)
            ck_assert_msg(armed_to[i] >= armed_from[prev] &&
                              (delay_ms[prev] != delay_ms[i] || prev < i),
                          "timer %d (%d ms) fired after %d (%d ms)", i, delay_ms[i], prev,
                          delay_ms[prev]);
        prev = i;
    }
}

START_TEST(timers_fire_by_deadline_in_or_out_of_order)
{
    enum { A = 64, B = 150, C = 100, N = A + B + C };
    static const int mixed[5] = {65, 129, 95, 159, 105};
    int delay_ms[N];
    int64_t armed_from[N], armed_to[N]; /* the deadline is delay + a time in this window */
    uint64_t id[N];
    bool cancelled[N];
    FIRED_N = 0;
    tt_loop *loop = tt_loop_new(NULL);
    for (int i = 0; i < N; i++) {
        if (i < A)
            delay_ms[i] = 10;                               /* in order, equal */
        else if (i < A + B)
            delay_ms[i] = 74;                               /* in order, after A's */
        else
            delay_ms[i] = mixed[(i - A - B) * 3 % 5];       /* out of order per FIFO */
        armed_from[i] = tt_now() + TT_MS(delay_ms[i]);
        id[i] = tt_call_later(loop, TT_MS(delay_ms[i]), fired_cb, (void *)(intptr_t)i);
        armed_to[i] = tt_now() + TT_MS(delay_ms[i]);
        ck_assert(id[i] != 0);
        /* The first 40 go when their queue is full, so it grows with its head moved on. */
        if (i == A - 1)
            for (int k = 0; k < 40; k++)
                ck_assert_int_eq(tt_call_cancel(loop, id[k]), 1);
    }
    int expect = 0;
    for (int i = 0; i < N; i++) {
        /* Two of three in the middle of B: more gaps than timers left in that FIFO. */
        cancelled[i] = i < 40 || (i >= A && i < A + B && (i - A) % 3 != 0) ||
                       (i >= A + B && i % 7 == 0);
        if (cancelled[i] && i >= 40)
            ck_assert_int_eq(tt_call_cancel(loop, id[i]), 1);
        expect += !cancelled[i];
    }
    for (int k = 0; k < 300 && FIRED_N < expect; k++)
        ck_assert_int_ge(tt_loop_run_once(loop, TT_MS(10)), 0);
    ck_assert_int_eq(FIRED_N, expect);
    assert_fired_in_order(delay_ms, armed_from, armed_to, cancelled);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* Many delays at once (W7's shape: a FIFO per delay, a small heap over their heads, each head's
 * key copied into that heap): every disarm or firing of a head moves its FIFO's key, and the
 * order across FIFOs still follows the deadlines, with cancelled heads and tails in between. */
START_TEST(timers_of_many_delays_fire_by_deadline)
{
    enum { N = 480 };
    int delay_ms[N];
    int64_t armed_from[N], armed_to[N];
    uint64_t id[N];
    bool cancelled[N];
    FIRED_N = 0;
    tt_loop *loop = tt_loop_new(NULL);
    int expect = 0;
    for (int i = 0; i < N; i++) {
        delay_ms[i] = 1 + i * 17 % 40; /* 40 FIFOs, armed in turn */
        armed_from[i] = tt_now() + TT_MS(delay_ms[i]);
        id[i] = tt_call_later(loop, TT_MS(delay_ms[i]), fired_cb, (void *)(intptr_t)i);
        armed_to[i] = tt_now() + TT_MS(delay_ms[i]);
        ck_assert(id[i] != 0);
    }
    for (int i = 0; i < N; i++) {
        /* The first timer of every FIFO (a head), and one in five after. */
        cancelled[i] = i < 40 || i % 5 == 0;
        if (cancelled[i])
            ck_assert_int_eq(tt_call_cancel(loop, id[i]), 1);
        expect += !cancelled[i];
    }
    for (int k = 0; k < 5000 && FIRED_N < expect; k++) /* one deadline or more per run */
        ck_assert_int_ge(tt_loop_run_once(loop, TT_MS(10)), 0);
    ck_assert_int_eq(FIRED_N, expect);
    assert_fired_in_order(delay_ms, armed_from, armed_to, cancelled);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(cancelled_timer_never_runs)
{
    tu_trace_reset();
    tt_loop *loop = tt_loop_new(NULL);
    int64_t id = tt_call_later(loop, TT_MS(5), trace_cb, (void *)'z');
    int64_t keep = tt_call_later(loop, TT_MS(20), trace_cb, (void *)'k');
    ck_assert_int_eq(tt_call_cancel(loop, id), 1);
    run_until_trace(loop, 1);
    ck_assert_str_eq(tu_trace_get(), "k");
    ck_assert_int_eq(tt_call_cancel(loop, keep), 0);
    ck_assert_int_eq(tt_call_cancel(loop, id), 0);
    ck_assert_int_eq(tt_loop_free(loop), 0); /* nothing pending is leaked */
    tu_assert_no_leaks();
}
END_TEST

START_TEST(free_with_pending_timer)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert(tt_call_later(loop, TT_SEC(10), trace_cb, (void *)'q') > 0);
    ck_assert_int_eq(tt_call_soon(loop, trace_cb, (void *)'r'), 0);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* -------------------------------------------------------- submit / cfuture */

static intptr_t sleepy(void *arg)
{
    intptr_t r = tt_sleep(TT_MS((intptr_t)arg));
    return r < 0 ? r : (intptr_t)arg + 1000;
}

typedef struct submitter {
    tt_loop *loop;
    tt_future *stop;
    int wait_rc, wait2_rc, timeout_rc, cancel_rc, cancel2_rc, cwait_rc;
    intptr_t result, result2, cresult;
    int64_t waited;
} submitter;

static void stop_cb(void *arg) { ck_assert_int_eq(tt_future_set(arg, 1), 0); }

static void *submitter_thread(void *p)
{
    submitter *s = p;
    tt_cfuture *cf = tt_loop_submit(s->loop, sleepy, (void *)5);
    ck_assert_ptr_nonnull(cf);
    s->wait_rc = tt_cfuture_wait(cf, TT_FOREVER, &s->result);
    s->wait2_rc = tt_cfuture_wait(cf, 0, &s->result2); /* done: answers again */
    ck_assert_int_eq(tt_cfuture_cancel(cf), 0);
    tt_cfuture_free(cf);

    cf = tt_loop_submit(s->loop, sleepy, (void *)30000);
    ck_assert_ptr_nonnull(cf);
    int64_t t0 = tt_now();
    s->timeout_rc = tt_cfuture_wait(cf, TT_MS(50), NULL);
    s->waited = tt_now() - t0;
    s->cancel_rc = tt_cfuture_cancel(cf);
    s->cwait_rc = tt_cfuture_wait(cf, TT_SEC(10), &s->cresult);
    s->cancel2_rc = tt_cfuture_cancel(cf);
    tt_cfuture_free(cf);

    /* A handle may be released before its task ends; the task runs on. */
    cf = tt_loop_submit(s->loop, sleepy, (void *)10);
    ck_assert_ptr_nonnull(cf);
    tt_cfuture_free(cf);
    usleep(50000);
    ck_assert_int_eq(tt_call_soon_threadsafe(s->loop, stop_cb, s->stop), 0);
    return NULL;
}

START_TEST(submit_from_foreign_thread)
{
    tt_loop *loop = tt_loop_new(NULL);
    submitter s = {.loop = loop, .stop = tt_future_new(loop)};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, submitter_thread, &s), 0);
    ck_assert_int_eq(tt_loop_run_until(loop, s.stop), 1);
    pthread_join(th, NULL);
    ck_assert_int_eq(s.wait_rc, 0);
    ck_assert_int_eq(s.result, 1005);
    ck_assert_int_eq(s.wait2_rc, 0);
    ck_assert_int_eq(s.result2, 1005);
    ck_assert_int_eq(s.timeout_rc, -ETIMEDOUT);
    ck_assert_int_ge(s.waited, TT_MS(40));
    ck_assert_int_eq(s.cancel_rc, 1);
    ck_assert_int_eq(s.cwait_rc, 0);
    ck_assert_int_eq(s.cresult, -ECANCELED);
    ck_assert_int_eq(s.cancel2_rc, 0);
    /* Let every submitted task finish before closing the loop. */
    for (int i = 0; i < 100 && tt_loop_free(loop) == -EBUSY; i++)
        tt_loop_run_once(loop, TT_MS(10));
    ck_assert_ptr_null(tt_loop_current());
    tu_assert_no_leaks();
}
END_TEST

static int SUBMITTED_RAN;
static intptr_t mark_ran(void *arg)
{
    SUBMITTED_RAN = 1;
    return (intptr_t)arg;
}

START_TEST(cfuture_wait_on_loop_thread_is_eperm)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_cfuture *cf = tt_loop_submit(loop, mark_ran, (void *)3);
    ck_assert_ptr_nonnull(cf);
    intptr_t r = 0;
    ck_assert_int_eq(tt_cfuture_wait(cf, 0, &r), -EPERM);
    for (int i = 0; i < 100 && !SUBMITTED_RAN; i++)
        ck_assert_int_ge(tt_loop_run_once(loop, TT_MS(10)), 0);
    ck_assert_int_eq(SUBMITTED_RAN, 1);
    for (int i = 0; i < 3; i++) /* lets the completion callbacks run */
        ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(tt_cfuture_wait(cf, 0, &r), -EPERM);
    tt_cfuture_free(cf);
    ck_assert_int_eq(tt_cfuture_wait(NULL, 0, &r), -EINVAL);
    ck_assert_int_eq(tt_cfuture_cancel(NULL), -EINVAL);
    tt_cfuture_free(NULL);
    errno = 0;
    ck_assert_ptr_null(tt_loop_submit(loop, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(tt_loop_submit(NULL, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    for (int i = 0; i < 100 && tt_loop_free(loop) == -EBUSY; i++)
        tt_loop_run_once(loop, TT_MS(10));
    ck_assert_ptr_null(tt_loop_current());
    tu_assert_no_leaks();
}
END_TEST

typedef struct waiter_arg {
    tt_cfuture *cf;
    int rc;
    intptr_t result;
} waiter_arg;

static void *cfuture_waiter(void *p)
{
    waiter_arg *w = p;
    w->rc = tt_cfuture_wait(w->cf, TT_SEC(2), &w->result);
    return NULL;
}

START_TEST(free_right_after_submitted_task_ended)
{
    /* The task has returned but the loop was freed before its completion reached the
     * handle: the handle must still be settled and nothing may leak. */
    SUBMITTED_RAN = 0;
    tt_loop *loop = tt_loop_new(NULL);
    tt_cfuture *cf = tt_loop_submit(loop, mark_ran, (void *)3);
    ck_assert_ptr_nonnull(cf);
    for (int i = 0; i < 100 && !SUBMITTED_RAN; i++)
        ck_assert_int_ge(tt_loop_run_once(loop, TT_MS(10)), 0);
    ck_assert_int_eq(SUBMITTED_RAN, 1);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    waiter_arg w = {.cf = cf, .rc = 1};
    on_thread(cfuture_waiter, &w);
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_eq(w.result, 3);
    tt_cfuture_free(cf);
    tu_assert_no_leaks();
}
END_TEST

/* ----------------------------------------------------------------- tt_run */

static intptr_t main_value(void *arg)
{
    ck_assert_ptr_nonnull(tt_loop_current());
    ck_assert_ptr_nonnull(tt_current_task());
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    return (intptr_t)arg;
}

START_TEST(run_returns_main_outcome)
{
    intptr_t r = 0;
    ck_assert_int_eq(tt_run(main_value, (void *)77, &r), 0);
    ck_assert_int_eq(r, 77);
    ck_assert_ptr_null(tt_loop_current());
    ck_assert_int_eq(tt_run(main_value, (void *)-EIO, &r), 0); /* again: the loop was freed */
    ck_assert_int_eq(r, -EIO);
    ck_assert_int_eq(tt_run(main_value, (void *)1, NULL), 0);
    ck_assert_int_eq(tt_run(NULL, NULL, &r), -EINVAL);
    tu_assert_no_leaks();
}
END_TEST

static int LEFT_STARTED, LEFT_CANCELLED, LEFT_CLEANED, NEVER_STARTED_RAN;
static intptr_t leftover(void *arg)
{
    (void)arg;
    LEFT_STARTED = 1;
    intptr_t r = tt_sleep(TT_SEC(30));
    if (r == -ECANCELED) {
        LEFT_CANCELLED = 1;
        /* Cleanup may still suspend while the loop drains. */
        ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
        LEFT_CLEANED = 1;
    }
    return r;
}
static intptr_t never_started(void *arg)
{
    (void)arg;
    NEVER_STARTED_RAN = 1;
    return 0;
}

static intptr_t main_leaves_tasks(void *arg)
{
    (void)arg;
    tt_future *t = tt_spawn(leftover, NULL);
    tt_unref(t);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(LEFT_STARTED, 1);
    tt_future *u = tt_spawn(never_started, NULL);
    tt_unref(u);
    return 5; /* returns without waiting for either */
}

START_TEST(run_cancels_and_drains_leftovers)
{
    intptr_t r = 0;
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_run(main_leaves_tasks, NULL, &r), 0);
    ck_assert_int_eq(r, 5);
    ck_assert_int_lt(tt_now() - t0, TT_SEC(10));
    ck_assert_int_eq(LEFT_CANCELLED, 1);
    ck_assert_int_eq(LEFT_CLEANED, 1);
    ck_assert_int_eq(NEVER_STARTED_RAN, 0); /* cancelled before it started */
    tu_assert_no_leaks();
}
END_TEST

static intptr_t main_nested(void *arg)
{
    (void)arg;
    intptr_t r = 123;
    ck_assert_int_eq(tt_run(main_value, (void *)1, &r), -EBUSY);
    ck_assert_int_eq(r, 123);
    return 0;
}

START_TEST(nested_run_is_ebusy)
{
    ck_assert_int_eq(tu_run(main_nested, NULL), 0);
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_int_eq(tt_run(main_value, (void *)1, NULL), -EBUSY);
    ck_assert_ptr_eq(tt_loop_current(), loop);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

static void *current_on_thread(void *p)
{
    *(tt_loop **)p = tt_loop_current();
    tt_loop *mine = tt_loop_new(NULL); /* another thread may have its own loop */
    ck_assert_ptr_nonnull(mine);
    ck_assert_ptr_eq(tt_loop_current(), mine);
    ck_assert_int_eq(tt_loop_free(mine), 0);
    return NULL;
}

START_TEST(loop_current_per_thread)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_loop *seen = loop;
    on_thread(current_on_thread, &seen);
    ck_assert_ptr_null(seen);
    ck_assert_ptr_eq(tt_loop_current(), loop);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    ck_assert_ptr_null(tt_loop_current());
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------- misuse and oversized options */

static int FREE_RC = 1;

static void free_from_callback(void *loop) { FREE_RC = tt_loop_free(loop); }

START_TEST(loop_free_from_its_callback_is_eperm)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_call_soon(loop, free_from_callback, loop), 0);
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(FREE_RC, -EPERM);
    ck_assert_int_eq(tt_future_set(f, 3), 0);
    ck_assert_int_eq(tt_loop_run_until(loop, f), 3); /* the loop still works */
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(oversized_options_are_einval)
{
    tt_loop_opts o = {.stack_size = SIZE_MAX};
    errno = 0;
    ck_assert_ptr_null(tt_loop_new(&o));
    ck_assert_int_eq(errno, EINVAL);
    o.stack_size = ((size_t)1 << 30) + 1;
    ck_assert_ptr_null(tt_loop_new(&o));
    o.stack_size = 0;
    o.ring_entries = 1u << 20;
    ck_assert_ptr_null(tt_loop_new(&o));
    ck_assert_int_eq(errno, EINVAL);
    tu_assert_no_leaks();
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, one_loop_per_thread);
    tcase_add_test(tc, free_with_live_tasks_is_ebusy);
    tcase_add_test(tc, foreign_thread_is_eperm);
    tcase_add_test(tc, run_until_returns_outcome);
    tcase_add_test(tc, run_until_inside_task_is_eperm);
    tcase_add_test(tc, run_once_counts_and_does_not_block);
    tcase_add_test(tc, loop_fd_turns_readable_from_other_thread);
    tcase_add_test(tc, call_soon_fifo_and_errors);
    tcase_add_test(tc, call_soon_from_callback_runs_after_queued);
    tcase_add_test(tc, call_soon_threadsafe_exactly_once);
    tcase_add_test(tc, call_later_order_and_cancel);
    tcase_add_test(tc, timers_fire_by_deadline_in_or_out_of_order);
    tcase_add_test(tc, timers_of_many_delays_fire_by_deadline);
    tcase_add_test(tc, cancelled_timer_never_runs);
    tcase_add_test(tc, free_with_pending_timer);
    tcase_add_test(tc, submit_from_foreign_thread);
    tcase_add_test(tc, cfuture_wait_on_loop_thread_is_eperm);
    tcase_add_test(tc, free_right_after_submitted_task_ended);
    tcase_add_test(tc, run_returns_main_outcome);
    tcase_add_test(tc, run_cancels_and_drains_leftovers);
    tcase_add_test(tc, nested_run_is_ebusy);
    tcase_add_test(tc, loop_current_per_thread);
    tcase_add_test(tc, loop_free_from_its_callback_is_eperm);
    tcase_add_test(tc, oversized_options_are_einval);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(loop_suite)
