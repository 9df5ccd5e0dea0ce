/* Unit suite for the worker pool: tt_to_thread results and errors, bounded queues (try and
 * backpressure), cancelling queued and running jobs in both modes (unblock, discard,
 * tt_job_cancelled), shutdown, statistics, idle retirement, thread names, shared pools, how many
 * workers a batch wakes. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>


static atomic_int RAN_COUNT;
static intptr_t count_ran(void *arg)
{
    atomic_fetch_add(&RAN_COUNT, 1);
    return (intptr_t)arg;
}

static intptr_t square(void *arg)
{
    intptr_t v = (intptr_t)arg;
    return v * v;
}

static pid_t LOOP_TID;
static intptr_t report_tid(void *arg)
{
    (void)arg;
    ck_assert_int_eq(tt_job_cancelled(), 0);
    return (intptr_t)gettid();
}

static intptr_t fail_io(void *arg)
{
    (void)arg;
    return -EIO;
}

/* Counts discard and unblock calls and where they ran. */
typedef struct discards {
    atomic_int calls, unblocks;
    intptr_t last;
    pthread_t thread, unblock_thread;
} discards;

/* A tu_gate with its discard record; jobs get a gated * (the tu_gate is its first member). */
typedef struct gated {
    tu_gate g;
    discards d;
} gated;

static void on_discard(intptr_t result, void *arg)
{
    gated *x = arg;
    x->d.last = result;
    x->d.thread = pthread_self();
    atomic_fetch_add(&x->d.calls, 1);
}

static void on_unblock(void *arg)
{
    gated *x = arg;
    x->d.unblock_thread = pthread_self();
    atomic_fetch_add(&x->d.unblocks, 1);
}

static gated *gated_new(intptr_t value)
{
    gated *x = calloc(1, sizeof *x);
    ck_assert_ptr_nonnull(x);
    x->g.value = value;
    return x;
}

/* ------------------------------------------------------------ creation */

START_TEST(pool_new_and_bad_opts)
{
    tt_pool_opts bad = {.min_threads = 4, .max_threads = 2};
    errno = 0;
    ck_assert_ptr_null(tt_pool_new(&bad));
    ck_assert_int_eq(errno, EINVAL);
    tt_pool *p = tt_pool_new(NULL);
    ck_assert_ptr_nonnull(p);
    tt_pool_stats s;
    memset(&s, 0xff, sizeof s);
    s = tu_pool_stats(p);
    ck_assert_uint_eq(s.threads, 0); /* workers start on demand */
    ck_assert_uint_eq(s.idle, 0);
    ck_assert_uint_eq(s.running, 0);
    ck_assert_uint_eq(s.queued, 0);
    ck_assert_uint_eq(s.completed, 0);
    ck_assert_uint_eq(s.cancelled, 0);
    ck_assert_int_eq(tt_pool_stats_get(NULL, &s), -EINVAL);
    ck_assert_int_eq(tt_pool_stats_get(p, NULL), -EINVAL);
    ck_assert_int_eq(tt_pool_shutdown(NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(tt_pool_free(NULL), -EINVAL);
    ck_assert_int_eq(tt_pool_free(p), 0);
    ck_assert_int_eq(tt_job_cancelled(), 0); /* not inside a job */
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------- results */

static intptr_t main_results(void *arg)
{
    (void)arg;
    LOOP_TID = gettid();
    intptr_t tid = tt_await(tt_to_thread(report_tid, NULL));
    ck_assert_int_gt(tid, 0);
    ck_assert_int_ne(tid, LOOP_TID); /* really on another thread */
    ck_assert_int_eq(tt_await(tt_to_thread(square, (void *)12)), 144);
    ck_assert_int_eq(tt_await(tt_to_thread(fail_io, NULL)), -EIO);
    ck_assert_int_eq(tt_await(tt_to_thread_on(NULL, NULL, square, (void *)3)), 9);
    tt_future *f = tt_to_thread(square, (void *)5);
    ck_assert_int_eq(tt_await(tt_ref(f)), 25);
    ck_assert_int_eq(tt_result(f), 25);
    ck_assert_int_eq(tt_cancelled(f), 0);
    ck_assert_int_eq(tt_cancel(f, NULL), 0); /* done */
    ck_assert_int_eq(tt_future_set(f, 1), -EINVAL); /* jobs complete themselves */
    tt_unref(f);
    errno = 0;
    ck_assert_ptr_null(tt_to_thread(NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(tt_to_thread_on(NULL, NULL, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    /* Many at once, awaited in reverse. */
    tt_future *fs[64];
    for (int i = 0; i < 64; i++)
        fs[i] = tt_to_thread(square, (void *)(intptr_t)i);
    for (int i = 63; i >= 0; i--)
        ck_assert_int_eq(tt_await(fs[i]), i * i);
    return 0;
}

START_TEST(to_thread_results_and_errors)
{
    errno = 0;
    ck_assert_ptr_null(tt_to_thread(square, NULL)); /* no loop on this thread */
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(tu_run(main_results, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t sleep_200ms(void *arg)
{
    usleep(200000);
    return (intptr_t)arg;
}

static intptr_t main_parallel(void *arg)
{
    tt_pool *p = arg;
    int64_t t0 = tt_now();
    tt_future *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = tt_to_thread_on(p, NULL, sleep_200ms, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(tt_await(fs[i]), i + 1);
    /* Four workers in parallel: well under the 800 ms a single thread would need. */
    ck_assert_int_lt(tt_now() - t0, TT_MS(700));
    ck_assert_int_ge(tt_now() - t0, TT_MS(190));
    return 0;
}

START_TEST(to_thread_on_runs_in_parallel)
{
    tt_pool_opts o = {.max_threads = 4};
    tt_pool *p = tt_pool_new(&o);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tu_run(main_parallel, p), 0);
    tt_pool_stats s;
    s = tu_pool_stats(p);
    ck_assert_uint_eq(s.completed, 4);
    ck_assert_uint_le(s.threads, 4);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------ bounded queues */

static intptr_t main_try(void *arg)
{
    tt_pool *p = arg;
    tu_gate a = {.value = 1};
    tt_future *fa = tt_try_to_thread(p, tu_gate_fn, &a);
    ck_assert_ptr_nonnull(fa);
    WAIT_FOR(atomic_load(&a.started));
    tt_future *fb = tt_try_to_thread(p, count_ran, (void *)2); /* fills the queue */
    ck_assert_ptr_nonnull(fb);
    ck_assert_int_eq(tt_yield(), 0);
    errno = 0;
    ck_assert_ptr_null(tt_try_to_thread(p, count_ran, (void *)3));
    ck_assert_int_eq(errno, EAGAIN);
    atomic_store(&a.release, 1);
    ck_assert_int_eq(tt_await(fa), 1);
    ck_assert_int_eq(tt_await(fb), 2);
    ck_assert_int_eq(atomic_load(&RAN_COUNT), 1); /* the refused job never ran */
    /* Room again. */
    ck_assert_int_eq(tt_await(tt_try_to_thread(p, count_ran, (void *)4)), 4);
    errno = 0;
    ck_assert_ptr_null(tt_try_to_thread(p, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    /* The default pool is unbounded: never EAGAIN. */
    tt_future *fs[100];
    for (int i = 0; i < 100; i++) {
        fs[i] = tt_try_to_thread(NULL, square, (void *)(intptr_t)i);
        ck_assert_ptr_nonnull(fs[i]);
    }
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(tt_await(fs[i]), i * i);
    return 0;
}

/* The common shape of a test: main(pool) as tt_run's task on a fresh pool, then nothing left. */
static void run_with_pool(const tt_pool_opts *o, tt_fn main_fn)
{
    tt_pool *p = tt_pool_new(o);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tu_run(main_fn, p), 0);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}

START_TEST(try_to_thread_eagain_when_full)
{
    run_with_pool(&(tt_pool_opts){.max_threads = 1, .queue_limit = 1}, main_try);
}
END_TEST

static tt_pool *BP_POOL;
static atomic_int BP_ORDER[8], BP_NEXT, BP_MAX_QUEUED;
static int BP_SUBMITTED;

static intptr_t bp_job(void *arg)
{
    BP_ORDER[atomic_fetch_add(&BP_NEXT, 1)] = (int)(intptr_t)arg;
    tt_pool_stats s;
    s = tu_pool_stats(BP_POOL);
    if ((int)s.queued > atomic_load(&BP_MAX_QUEUED))
        atomic_store(&BP_MAX_QUEUED, (int)s.queued);
    return (intptr_t)arg * 10;
}

static intptr_t bp_submitter(void *arg)
{
    (void)arg;
    tt_future *fs[6];
    for (int i = 0; i < 6; i++) {
        fs[i] = tt_to_thread_on(BP_POOL, NULL, bp_job, (void *)(intptr_t)i);
        ck_assert_ptr_nonnull(fs[i]);
        BP_SUBMITTED++;
    }
    intptr_t sum = 0;
    for (int i = 0; i < 6; i++)
        sum += tt_await(fs[i]);
    return sum;
}

static intptr_t main_backpressure(void *arg)
{
    (void)arg;
    tu_gate a = {.value = 7};
    tt_future *fa = tt_to_thread_on(BP_POOL, NULL, tu_gate_fn, &a);
    WAIT_FOR(atomic_load(&a.started));
    tt_future *s = tt_spawn(bp_submitter, NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(50)), 0);
    /* The worker is busy and the queue (limit 2) is full: the submitter waits for room. */
    ck_assert_int_eq(BP_SUBMITTED, 2);
    ck_assert_int_eq(tt_done(s), 0);
    atomic_store(&a.release, 1);
    ck_assert_int_eq(tt_await(s), 10 * (0 + 1 + 2 + 3 + 4 + 5));
    ck_assert_int_eq(tt_await(fa), 7);
    ck_assert_int_eq(BP_SUBMITTED, 6);
    ck_assert_int_eq(atomic_load(&BP_NEXT), 6);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(atomic_load(&BP_ORDER[i]), i); /* order preserved */
    ck_assert_int_le(atomic_load(&BP_MAX_QUEUED), 2);
    return 0;
}

START_TEST(queue_limit_backpressure)
{
    tt_pool_opts o = {.max_threads = 1, .queue_limit = 2};
    BP_POOL = tt_pool_new(&o);
    ck_assert_ptr_nonnull(BP_POOL);
    ck_assert_int_eq(tu_run(main_backpressure, NULL), 0);
    ck_assert_int_eq(tt_pool_free(BP_POOL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* --------------------------------------------------------- cancellation */

static intptr_t main_cancel_queued(void *arg)
{
    tt_pool *p = arg;
    tu_gate a = {.value = 1};
    tt_future *fa = tt_to_thread_on(p, NULL, tu_gate_fn, &a);
    WAIT_FOR(atomic_load(&a.started));
    gated *b = gated_new(0);
    tt_job_opts jo = {.discard = on_discard, .unblock = on_unblock};
    tt_future *fb = tt_to_thread_on(p, &jo, count_ran, b);
    ck_assert_int_eq(tt_yield(), 0); /* fb is in the pool's queue now */
    ck_assert_int_eq(tt_cancel(fb, "drop"), 1);
    ck_assert_int_eq(tt_cancelled(fb), 1); /* at once */
    ck_assert_int_eq(tt_result(fb), -ECANCELED);
    ck_assert_str_eq(tt_cancel_message(fb), "drop");
    atomic_store(&a.release, 1);
    ck_assert_int_eq(tt_await(fa), 1);
    ck_assert_int_eq(tt_await(fb), -ECANCELED);
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0);
    ck_assert_int_eq(atomic_load(&RAN_COUNT), 0); /* never ran */
    ck_assert_int_eq(atomic_load(&b->d.calls), 0); /* no result to discard */
    ck_assert_int_eq(atomic_load(&b->d.unblocks), 0); /* it was not running */
    free(b);
    tt_pool_stats s;
    s = tu_pool_stats(p);
    ck_assert_uint_eq(s.completed, 1);
    ck_assert_uint_eq(s.cancelled, 1);
    ck_assert_uint_eq(s.queued, 0);
    return 0;
}

START_TEST(cancel_queued_job)
{
    run_with_pool(&(tt_pool_opts){.max_threads = 1}, main_cancel_queued);
}
END_TEST

/* The default mode: the awaiting task's own stack buffer is written by the job after the
 * cancellation; the task must not resume before that. */
typedef struct running_case {
    tt_pool *pool;
    gated *x;
    char *out;
    atomic_int wrote;
} running_case;

static intptr_t writes_late(void *arg)
{
    running_case *rc = arg;
    tu_gate *g = &rc->x->g;
    atomic_store(&g->started, 1);
    for (int i = 0; i < 20000 && !tt_job_cancelled(); i++)
        usleep(500);
    atomic_store(&g->saw_cancelled, tt_job_cancelled());
    for (int i = 0; i < 20000 && !atomic_load(&g->release); i++)
        usleep(500);
    strcpy(rc->out, "late"); /* the caller's stack must still be there */
    atomic_store(&rc->wrote, 1);
    return 99;
}

static void rc_discard(intptr_t result, void *arg) { on_discard(result, ((running_case *)arg)->x); }
static void rc_unblock(void *arg) { on_unblock(((running_case *)arg)->x); }

static intptr_t awaits_running(void *arg)
{
    running_case *rc = arg;
    char buf[16] = "early";
    rc->out = buf;
    tt_job_opts jo = {.discard = rc_discard, .unblock = rc_unblock};
    intptr_t r = tt_await(tt_to_thread_on(rc->pool, &jo, writes_late, rc));
    ck_assert_int_eq(atomic_load(&rc->wrote), 1);
    ck_assert_str_eq(buf, "late");
    return r;
}

static intptr_t main_cancel_running(void *arg)
{
    running_case *rc = arg;
    pthread_t me = pthread_self();
    tt_future *t = tt_spawn(awaits_running, rc);
    WAIT_FOR(atomic_load(&rc->x->g.started));
    ck_assert_int_eq(tt_cancel(t, "stop"), 1);
    /* unblock ran once, on this thread, from inside that tt_cancel. */
    ck_assert_int_eq(atomic_load(&rc->x->d.unblocks), 1);
    ck_assert(pthread_equal(rc->x->d.unblock_thread, me));
    WAIT_FOR(atomic_load(&rc->x->g.saw_cancelled));
    ck_assert_int_eq(tt_sleep(TT_MS(30)), 0);
    ck_assert_int_eq(tt_done(t), 0); /* still suspended: fn has not returned */
    ck_assert_int_eq(atomic_load(&rc->x->d.calls), 0);
    atomic_store(&rc->x->g.release, 1);
    /* 0.2: the job ends with what fn returned, and the awaiting task receives it; it returned
     * it at once, before another suspension point, so it ends with it too. */
    ck_assert_int_eq(tt_await(tt_ref(t)), 99);
    ck_assert_int_eq(tt_cancelled(t), 0);
    tt_unref(t);
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0);
    ck_assert_int_eq(atomic_load(&rc->x->d.calls), 0); /* a result that was read: no discard */
    ck_assert_int_eq(atomic_load(&rc->x->d.unblocks), 1);
    return 0;
}

START_TEST(cancel_running_job_waits_for_it)
{
    running_case rc = {.pool = tt_pool_new(NULL), .x = gated_new(0)};
    ck_assert_int_eq(tu_run(main_cancel_running, &rc), 0);
    ck_assert_int_eq(tt_pool_free(rc.pool), 0);
    ck_assert_int_eq(atomic_load(&rc.x->d.calls), 0);
    free(rc.x);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t waits_for_cancel(void *arg)
{
    tu_gate *g = arg;
    atomic_store(&g->started, 1);
    for (int i = 0; i < 20000 && !tt_job_cancelled(); i++)
        usleep(500);
    atomic_store(&g->saw_cancelled, tt_job_cancelled());
    for (int i = 0; i < 20000 && !atomic_load(&g->release); i++)
        usleep(500);
    atomic_store(&g->finished, 1);
    return g->value;
}

static intptr_t main_abandon(void *arg)
{
    tt_pool *p = arg;
    pthread_t me = pthread_self();
    gated *x = gated_new(55);
    tt_job_opts jo = {.flags = TT_JOB_ABANDON_ON_CANCEL, .discard = on_discard};
    tt_future *j = tt_to_thread_on(p, &jo, waits_for_cancel, x);
    WAIT_FOR(atomic_load(&x->g.started));
    ck_assert_int_eq(tt_cancel(j, "give up"), 1);
    ck_assert_int_eq(tt_cancelled(j), 1); /* at once */
    ck_assert_str_eq(tt_cancel_message(j), "give up");
    ck_assert_int_eq(atomic_load(&x->g.finished), 0);
    WAIT_FOR(atomic_load(&x->g.saw_cancelled)); /* tt_job_cancelled turned true */
    atomic_store(&x->g.release, 1);
    WAIT_FOR(atomic_load(&x->d.calls) == 1);
    ck_assert_int_eq(x->d.last, 55);
    ck_assert(pthread_equal(x->d.thread, me));
    ck_assert_int_eq(tt_result(j), -ECANCELED);
    tt_unref(j);

    /* Awaiting an abandoned job returns at once, while fn still runs. */
    gated *y = gated_new(66);
    tt_future *jy = tt_to_thread_on(p, &jo, waits_for_cancel, y);
    WAIT_FOR(atomic_load(&y->g.started));
    tt_future *g = tt_ref(jy);
    ck_assert_int_eq(tt_cancel(jy, NULL), 1);
    ck_assert_int_eq(tt_await(g), -ECANCELED); /* done already: no waiting for fn */
    ck_assert_int_eq(atomic_load(&y->g.finished), 0);
    atomic_store(&y->g.release, 1);
    WAIT_FOR(atomic_load(&y->d.calls) == 1);
    ck_assert_int_eq(y->d.last, 66);
    tt_unref(jy);
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0);
    ck_assert_int_eq(atomic_load(&x->d.calls), 1);
    ck_assert_int_eq(atomic_load(&y->d.calls), 1);
    free(x);
    free(y);
    return 0;
}

START_TEST(cancel_running_job_abandon)
{
    tt_pool *p = tt_pool_new(NULL);
    ck_assert_int_eq(tu_run(main_abandon, p), 0);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}
END_TEST

typedef struct abandon_task_case {
    tt_pool *pool;
    gated *x;
} abandon_task_case;

static intptr_t awaits_abandonable(void *arg)
{
    abandon_task_case *c = arg;
    tt_job_opts jo = {.flags = TT_JOB_ABANDON_ON_CANCEL, .discard = on_discard};
    return tt_await(tt_to_thread_on(c->pool, &jo, waits_for_cancel, c->x));
}

static intptr_t main_abandon_task(void *arg)
{
    abandon_task_case *c = arg;
    tt_future *t = tt_spawn(awaits_abandonable, c);
    WAIT_FOR(atomic_load(&c->x->g.started));
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    ck_assert_int_eq(tt_await(tt_ref(t)), -ECANCELED);
    ck_assert_int_eq(atomic_load(&c->x->g.finished), 0); /* resumed while fn still runs */
    tt_unref(t);
    return 0; /* the loop closes while the job still runs */
}

START_TEST(abandoned_result_discarded_after_loop_closed)
{
    abandon_task_case c = {.pool = tt_pool_new(NULL), .x = gated_new(31)};
    int64_t t0 = tt_now();
    ck_assert_int_eq(tu_run(main_abandon_task, &c), 0);
    ck_assert_ptr_null(tt_loop_current());
    /* Closing the loop does not wait for the abandoned job (it may block for ever). */
    ck_assert_int_lt(tt_now() - t0, TT_SEC(3));
    ck_assert_int_eq(atomic_load(&c.x->g.finished), 0);
    ck_assert_int_eq(atomic_load(&c.x->d.calls), 0);
    atomic_store(&c.x->g.release, 1);
    ck_assert_int_eq(tt_pool_free(c.pool), 0); /* waits for the running job */
    ck_assert_int_eq(atomic_load(&c.x->g.saw_cancelled), 1);
    ck_assert_int_eq(atomic_load(&c.x->d.calls), 1);
    ck_assert_int_eq(c.x->d.last, 31);
    ck_assert(!pthread_equal(c.x->d.thread, pthread_self())); /* the loop is gone: on the worker */
    free(c.x);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------- shutdown */

static intptr_t main_shutdown_simple(void *arg)
{
    tt_pool *p = arg;
    ck_assert_int_eq(tt_await(tt_to_thread_on(p, NULL, square, (void *)4)), 16);
    ck_assert_int_eq(tt_pool_shutdown(p, TT_SEC(5), 0), 0);
    errno = 0;
    ck_assert_ptr_null(tt_to_thread_on(p, NULL, square, (void *)4));
    ck_assert_int_eq(errno, ESHUTDOWN);
    errno = 0;
    ck_assert_ptr_null(tt_try_to_thread(p, square, (void *)4));
    ck_assert_int_eq(errno, ESHUTDOWN);
    ck_assert_int_eq(tt_pool_shutdown(p, 0, 0), 0); /* callable again */
    ck_assert_int_eq(tt_pool_shutdown(p, TT_SEC(1), TT_POOL_CANCEL_QUEUED), 0);
    tt_pool_stats s;
    s = tu_pool_stats(p);
    ck_assert_uint_eq(s.completed, 1);
    return 0;
}

START_TEST(shutdown_refuses_new_jobs)
{
    tt_pool *p = tt_pool_new(NULL);
    ck_assert_int_eq(tu_run(main_shutdown_simple, p), 0);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t main_shutdown_cancel_queued(void *arg)
{
    tt_pool *p = arg;
    tu_gate a = {.value = 3};
    tt_future *fa = tt_to_thread_on(p, NULL, tu_gate_fn, &a);
    WAIT_FOR(atomic_load(&a.started));
    tt_future *fb = tt_to_thread_on(p, NULL, count_ran, (void *)1);
    tt_future *fc = tt_to_thread_on(p, NULL, count_ran, (void *)2);
    ck_assert_int_eq(tt_yield(), 0); /* both queued in the pool */
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_pool_shutdown(p, TT_MS(30), TT_POOL_CANCEL_QUEUED), -ETIMEDOUT);
    ck_assert_int_ge(tt_now() - t0, TT_MS(25));
    ck_assert_int_eq(tt_await(fb), -ECANCELED);
    ck_assert_int_eq(tt_await(fc), -ECANCELED);
    ck_assert_int_eq(tt_pool_shutdown(p, 0, 0), -ETIMEDOUT); /* still running; again */
    ck_assert_int_eq(tt_done(fa), 0);
    atomic_store(&a.release, 1);
    ck_assert_int_eq(tt_await(fa), 3); /* delivered as usual after shutdown */
    ck_assert_int_eq(tt_pool_shutdown(p, TT_SEC(5), 0), 0);
    ck_assert_int_eq(atomic_load(&RAN_COUNT), 0);
    tt_pool_stats s;
    s = tu_pool_stats(p);
    ck_assert_uint_eq(s.completed, 1);
    ck_assert_uint_eq(s.cancelled, 2);
    ck_assert_uint_eq(s.queued, 0);
    ck_assert_uint_eq(s.running, 0);
    return 0;
}

START_TEST(shutdown_cancel_queued_and_timeout)
{
    run_with_pool(&(tt_pool_opts){.max_threads = 1}, main_shutdown_cancel_queued);
}
END_TEST

typedef struct shut_from_thread {
    tt_pool *pool;
    int rc;
} shut_from_thread;

static void *shutdown_thread(void *p)
{
    shut_from_thread *s = p;
    s->rc = tt_pool_shutdown(s->pool, TT_SEC(10), 0);
    return NULL;
}

static intptr_t main_shutdown_other_thread(void *arg)
{
    tt_pool *p = arg;
    tu_gate a = {.value = 8};
    tt_future *fa = tt_to_thread_on(p, NULL, tu_gate_fn, &a);
    WAIT_FOR(atomic_load(&a.started));
    shut_from_thread s = {.pool = p, .rc = 1};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, shutdown_thread, &s), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(30)), 0);
    atomic_store(&a.release, 1);
    ck_assert_int_eq(tt_await(fa), 8);
    pthread_join(th, NULL);
    ck_assert_int_eq(s.rc, 0);
    return 0;
}

START_TEST(shutdown_from_another_thread_waits)
{
    tt_pool *p = tt_pool_new(NULL);
    ck_assert_int_eq(tu_run(main_shutdown_other_thread, p), 0);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ---------------------------------------------------------------- stats */

static intptr_t main_stats(void *arg)
{
    tt_pool *p = arg;
    tt_pool_stats s;
    tu_gate a = {.value = 1}, b = {.value = 2};
    tt_future *fa = tt_to_thread_on(p, NULL, tu_gate_fn, &a);
    tt_future *fb = tt_to_thread_on(p, NULL, tu_gate_fn, &b);
    WAIT_FOR(atomic_load(&a.started) && atomic_load(&b.started));
    tt_future *fc = tt_to_thread_on(p, NULL, count_ran, (void *)3);
    ck_assert_int_eq(tt_yield(), 0);
    s = tu_pool_stats(p);
    ck_assert_uint_eq(s.threads, 2);
    ck_assert_uint_eq(s.running, 2);
    ck_assert_uint_eq(s.idle, 0);
    ck_assert_uint_eq(s.queued, 1);
    ck_assert_uint_eq(s.completed, 0);
    ck_assert_uint_eq(s.cancelled, 0);
    ck_assert_int_eq(tt_cancel(fc, NULL), 1);
    s = tu_pool_stats(p);
    ck_assert_uint_eq(s.queued, 0);
    ck_assert_uint_eq(s.cancelled, 1);
    atomic_store(&a.release, 1);
    atomic_store(&b.release, 1);
    ck_assert_int_eq(tt_await(fa), 1);
    ck_assert_int_eq(tt_await(fb), 2);
    ck_assert_int_eq(tt_await(fc), -ECANCELED);
    /* Workers go back to idle right after delivering. */
    for (int i = 0; i < 1000; i++) {
        s = tu_pool_stats(p);
        if (s.idle == 2)
            break;
        ck_assert_int_eq(tt_sleep(TT_MS(2)), 0);
    }
    ck_assert_uint_eq(s.threads, 2);
    ck_assert_uint_eq(s.idle, 2);
    ck_assert_uint_eq(s.running, 0);
    ck_assert_uint_eq(s.queued, 0);
    ck_assert_uint_eq(s.completed, 2);
    ck_assert_uint_eq(s.cancelled, 1);
    return 0;
}

START_TEST(stats_values)
{
    run_with_pool(&(tt_pool_opts){.max_threads = 2}, main_stats);
}
END_TEST

static intptr_t main_idle(void *arg)
{
    tt_pool *p = arg;
    tt_pool_stats s;
    tu_gate g[3] = {{.value = 0}, {.value = 1}, {.value = 2}};
    tt_future *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = tt_to_thread_on(p, NULL, tu_gate_fn, &g[i]);
    WAIT_FOR(atomic_load(&g[0].started) && atomic_load(&g[1].started) && atomic_load(&g[2].started));
    s = tu_pool_stats(p);
    ck_assert_uint_ge(s.threads, 3);
    ck_assert_uint_le(s.threads, 4);
    for (int i = 0; i < 3; i++)
        atomic_store(&g[i].release, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tt_await(f[i]), i);
    /* Idle workers retire after 50 ms, down to min_threads. */
    for (int i = 0; i < 2500; i++) {
        s = tu_pool_stats(p);
        if (s.threads == 1)
            break;
        ck_assert_int_eq(tt_sleep(TT_MS(2)), 0);
    }
    ck_assert_uint_eq(s.threads, 1);
    ck_assert_int_eq(tt_sleep(TT_MS(300)), 0);
    s = tu_pool_stats(p);
    ck_assert_uint_eq(s.threads, 1); /* never below min */
    ck_assert_uint_eq(s.idle, 1);
    /* And it still works afterwards. */
    ck_assert_int_eq(tt_await(tt_to_thread_on(p, NULL, square, (void *)9)), 81);
    return 0;
}

START_TEST(idle_workers_retire_to_min)
{
    tt_pool_opts o = {.min_threads = 1, .max_threads = 4, .idle_timeout = TT_MS(50)};
    tt_pool *p = tt_pool_new(&o);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tu_run(main_idle, p), 0);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ----------------------------------------------------------- thread names */

typedef struct named {
    tu_gate g;
    char name[32];
} named;

static intptr_t record_name(void *arg)
{
    named *n = arg;
    prctl(PR_GET_NAME, n->name, 0, 0, 0);
    return tu_gate_fn(&n->g);
}

/* "<prefix>-<digits>" */
static int name_matches(const char *name, const char *prefix)
{
    size_t l = strlen(prefix);
    if (strncmp(name, prefix, l) != 0 || name[l] != '-' || !name[l + 1])
        return 0;
    for (const char *c = name + l + 1; *c && *c != '\n'; c++)
        if (*c < '0' || *c > '9')
            return 0;
    return 1;
}

/* Counts this process's threads whose comm is "<prefix>-<n>". */
static int count_threads_named(const char *prefix)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f) && name_matches(comm, prefix))
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

static intptr_t main_names(void *arg)
{
    tt_pool *p = arg;
    named a = {.g.value = 1}, b = {.g.value = 2};
    tt_future *fa = tt_to_thread_on(p, NULL, record_name, &a);
    tt_future *fb = tt_to_thread_on(p, NULL, record_name, &b);
    WAIT_FOR(atomic_load(&a.g.started) && atomic_load(&b.g.started));
    ck_assert_int_eq(count_threads_named("lane"), 2);
    atomic_store(&a.g.release, 1);
    atomic_store(&b.g.release, 1);
    ck_assert_int_eq(tt_await(fa), 1);
    ck_assert_int_eq(tt_await(fb), 2);
    ck_assert_msg(name_matches(a.name, "lane"), "worker named '%s'", a.name);
    ck_assert_msg(name_matches(b.name, "lane"), "worker named '%s'", b.name);
    ck_assert_str_ne(a.name, b.name);
    /* The default pool's workers are "tt-worker-<n>". */
    named c = {.g.value = 3};
    atomic_store(&c.g.release, 1);
    ck_assert_int_eq(tt_await(tt_to_thread(record_name, &c)), 3);
    ck_assert_msg(name_matches(c.name, "tt-worker"), "worker named '%s'", c.name);
    return 0;
}

START_TEST(worker_thread_names)
{
    run_with_pool(&(tt_pool_opts){.max_threads = 2, .name = "lane"}, main_names);
}
END_TEST

/* ------------------------------------------------------ several loops */

typedef struct loop_user {
    tt_pool *pool;
    int use_as_default;
    intptr_t sum;
    int free_busy_rc;
} loop_user;

static intptr_t many_offloads(void *arg)
{
    loop_user *u = arg;
    intptr_t sum = 0;
    for (int i = 0; i < 200; i++) {
        tt_future *f = u->use_as_default ? tt_to_thread(square, (void *)(intptr_t)i)
                                         : tt_to_thread_on(u->pool, NULL, square, (void *)(intptr_t)i);
        sum += tt_await(f);
    }
    tt_future *fs[20];
    for (int i = 0; i < 20; i++)
        fs[i] = tt_to_thread_on(u->pool, NULL, square, (void *)(intptr_t)i);
    for (int i = 0; i < 20; i++)
        sum += tt_await(fs[i]);
    return sum;
}

static void *loop_thread(void *p)
{
    loop_user *u = p;
    if (!u->use_as_default) {
        ck_assert_int_eq(tt_run(many_offloads, u, &u->sum), 0);
        return NULL;
    }
    tt_loop_opts o = {.pool = u->pool};
    tt_loop *loop = tt_loop_new(&o);
    ck_assert_ptr_nonnull(loop);
    u->sum = tt_loop_run_until(loop, tt_spawn_on(loop, NULL, many_offloads, u));
    u->free_busy_rc = tt_pool_free(u->pool); /* still this loop's default */
    ck_assert_int_eq(tt_loop_free(loop), 0);
    return NULL;
}

START_TEST(loops_share_one_pool)
{
    tt_pool_opts o = {.max_threads = 3};
    tt_pool *p = tt_pool_new(&o);
    loop_user u[3] = {{.pool = p}, {.pool = p}, {.pool = p, .use_as_default = 1}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, loop_thread, &u[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    intptr_t want = 0;
    for (int i = 0; i < 200; i++)
        want += i * i;
    for (int i = 0; i < 20; i++)
        want += i * i;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(u[i].sum, want);
    ck_assert_int_eq(u[2].free_busy_rc, -EBUSY);
    tt_pool_stats s;
    s = tu_pool_stats(p);
    ck_assert_uint_eq(s.completed, 3 * 220);
    ck_assert_uint_le(s.threads, 3);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}
END_TEST

/* A room notice still in the loop's inbox when the loop is freed: tt_loop_free's last drain
 * handles it after the loop has left the pool. */
static tu_gate RN_G1, RN_G2;
static tt_pool *RN_POOL;
static atomic_int RN_WAITING;

static intptr_t rn_submitter(void *arg)
{
    (void)arg;
    tt_future *a = tt_to_thread_on(RN_POOL, NULL, tu_gate_fn, &RN_G1);
    ck_assert_ptr_nonnull(a);
    WAIT_FOR(atomic_load(&RN_G1.started));
    tt_future *b = tt_to_thread_on(RN_POOL, NULL, tu_gate_fn, &RN_G2); /* the queue is full now */
    ck_assert_ptr_nonnull(b);
    tt_unref(a);
    tt_unref(b);
    atomic_store(&RN_WAITING, 1);
    errno = 0;
    ck_assert_ptr_null(tt_to_thread_on(RN_POOL, NULL, count_ran, NULL)); /* waits for room */
    ck_assert_int_eq(errno, ECANCELED);
    return 3;
}

START_TEST(room_notice_left_in_the_inbox_at_loop_free)
{
    RN_POOL = tt_pool_new(&(tt_pool_opts){.max_threads = 1, .queue_limit = 1});
    ck_assert_ptr_nonnull(RN_POOL);
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    tt_future *t = tt_spawn_on(loop, NULL, rn_submitter, NULL);
    for (int i = 0; i < 5000 && !atomic_load(&RN_WAITING); i++)
        ck_assert_int_ge(tt_loop_run_once(loop, TT_MS(2)), 0);
    ck_assert_int_eq(atomic_load(&RN_WAITING), 1); /* suspended in the line for room */
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    ck_assert_int_eq(tt_loop_run_until(loop, tt_ref(t)), 3);
    tt_unref(t);
    /* The worker takes the queued job: the queue shrinks and the room notice goes out. */
    atomic_store(&RN_G1.release, 1);
    for (int i = 0; i < 5000 && !atomic_load(&RN_G2.started); i++)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&RN_G2.started), 1);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    atomic_store(&RN_G2.release, 1);
    ck_assert_int_eq(tt_pool_free(RN_POOL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------ staffing */

/* Known-short jobs get one worker per batch, not one per job; a batch that does not drain
 * (here: its first job blocks) gets the idle workers STAFF_ESCALATE_NS later, so the job behind
 * a blocked one still runs. The batch is two jobs: one worker for it holds while the estimate
 * stays under 10 us, whatever a preempted sample adds. With only_yield the task then only yields,
 * so the loop only ever starts quiet turns: the check must still come when it is due. */
static intptr_t staffing(tt_pool *p, bool only_yield)
{
    /* The first batch wakes all four (nothing known yet); its timed jobs teach the pool that
     * jobs here take microseconds. */
    tt_future *warm[64];
    for (int i = 0; i < 64; i++)
        warm[i] = tt_to_thread_on(p, NULL, square, (void *)(intptr_t)i);
    for (int i = 0; i < 64; i++) {
        ck_assert_ptr_nonnull(warm[i]);
        ck_assert_int_eq(tt_await(warm[i]), i * i);
    }
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0); /* no worker is still spinning for more */

    tu_gate g = {.value = 7};
    tt_future *f[2] = {tt_to_thread_on(p, NULL, tu_gate_fn, &g),
                       tt_to_thread_on(p, NULL, square, (void *)7)};
    ck_assert_ptr_nonnull(f[0]);
    ck_assert_ptr_nonnull(f[1]);
    ck_assert_int_eq(tt_yield(), 0); /* the turn ends: the batch goes to the pool */
    /* Wait without letting the loop run again: its check is what would wake more workers. */
    for (int i = 0; i < 20000 && !atomic_load(&g.started); i++)
        usleep(500);
    ck_assert_int_eq(atomic_load(&g.started), 1);
    tt_pool_stats s = tu_pool_stats(p);
    ck_assert_uint_eq(s.threads, 4);
    ck_assert_uint_eq(s.running, 1); /* one worker woken for the batch, holding the gate */
    ck_assert_uint_eq(s.queued, 1);
    ck_assert_uint_eq(s.idle, 3);

    if (only_yield) {
        int64_t until = tt_now() + TT_SEC(3);
        while (!tt_done(f[1]) && tt_now() < until)
            ck_assert_int_eq(tt_yield(), 0);
        ck_assert_int_eq(tt_done(f[1]), 1);
    }
    /* The batch has not drained, so an idle worker takes the square while the gate still holds
     * the first. */
    ck_assert_int_eq(tt_await(f[1]), 49);
    ck_assert_int_eq(atomic_load(&g.finished), 0);
    atomic_store(&g.release, 1);
    ck_assert_int_eq(tt_await(f[0]), 7);
    s = tu_pool_stats(p);
    ck_assert_uint_eq(s.completed, 66);
    ck_assert_uint_eq(s.queued, 0);
    return 0;
}

static intptr_t main_staffing(void *arg) { return staffing(arg, false); }
static intptr_t main_staffing_yielding(void *arg) { return staffing(arg, true); }

/* Idle workers time out after a minute: their own wake-up at the timeout would take the queued
 * job too, after ~10 s. */
static const tt_pool_opts STAFFING_POOL = {
    .min_threads = 4, .max_threads = 4, .idle_timeout = TT_SEC(60)};

START_TEST(short_jobs_wake_one_worker_and_a_stuck_batch_gets_more)
{
    run_with_pool(&STAFFING_POOL, main_staffing);
}
END_TEST

START_TEST(a_stuck_batch_gets_more_while_tasks_only_yield)
{
    run_with_pool(&STAFFING_POOL, main_staffing_yielding);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pool_new_and_bad_opts);
    tcase_add_test(tc, to_thread_results_and_errors);
    tcase_add_test(tc, to_thread_on_runs_in_parallel);
    tcase_add_test(tc, try_to_thread_eagain_when_full);
    tcase_add_test(tc, queue_limit_backpressure);
    tcase_add_test(tc, cancel_queued_job);
    tcase_add_test(tc, cancel_running_job_waits_for_it);
    tcase_add_test(tc, cancel_running_job_abandon);
    tcase_add_test(tc, abandoned_result_discarded_after_loop_closed);
    tcase_add_test(tc, shutdown_refuses_new_jobs);
    tcase_add_test(tc, shutdown_cancel_queued_and_timeout);
    tcase_add_test(tc, shutdown_from_another_thread_waits);
    tcase_add_test(tc, stats_values);
    tcase_add_test(tc, idle_workers_retire_to_min);
    tcase_add_test(tc, worker_thread_names);
    tcase_add_test(tc, loops_share_one_pool);
    tcase_add_test(tc, room_notice_left_in_the_inbox_at_loop_free);
    tcase_add_test(tc, short_jobs_wake_one_worker_and_a_stuck_batch_gets_more);
    tcase_add_test(tc, a_stuck_batch_gets_more_while_tasks_only_yield);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(pool_suite)
