/* Unit suite for observability (issue 12): the histogram's arithmetic, the pool's latency
 * histograms and the loop's lag, the stuck-call detector and the loop watchdog (warnings that
 * name the function or task), a shutdown that reports the calls still running, and interrupt on
 * cancel (EINTR from a blocking read; without the flag, no interrupt). The test's blocking
 * functions are non-static and the suite links with -rdynamic, so dladdr can name them. */
#define _GNU_SOURCE
#include "testutil.h"
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ warnings */

static pthread_mutex_t warn_mu = PTHREAD_MUTEX_INITIALIZER;
static char warned[4096];

static void collect_warning(const char *msg, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&warn_mu);
    size_t n = strlen(warned);
    snprintf(warned + n, sizeof warned - n, "%s\n", msg);
    pthread_mutex_unlock(&warn_mu);
}

static int warned_contains(const char *s)
{
    pthread_mutex_lock(&warn_mu);
    int r = strstr(warned, s) != NULL;
    pthread_mutex_unlock(&warn_mu);
    return r;
}

static void warnings_start(void)
{
    pthread_mutex_lock(&warn_mu);
    warned[0] = 0;
    pthread_mutex_unlock(&warn_mu);
    tt_set_warn_handler(collect_warning, NULL);
}

/* ------------------------------------------------------------------ histogram */

START_TEST(hist_buckets_are_contiguous_and_exact_below_32)
{
    uint64_t lo, hi, prev_hi = 0;
    for (size_t i = 0; i < TT_HIST_BUCKETS; i++) {
        ck_assert_int_eq(tt_hist_bucket_range(i, &lo, &hi), 0);
        if (i < 32) {
            ck_assert_uint_eq(lo, i);
            ck_assert_uint_eq(hi, i);
        } else {
            ck_assert_uint_eq(lo, prev_hi + 1);
        }
        ck_assert_uint_eq(hist_index(lo), i);
        ck_assert_uint_eq(hist_index(hi), i);
        prev_hi = hi;
    }
    ck_assert_uint_eq(prev_hi, UINT64_MAX);
    ck_assert_int_eq(tt_hist_bucket_range(32, &lo, &hi), 0);
    ck_assert_uint_eq(lo, 32);
    ck_assert_uint_eq(hi, 33);
    ck_assert_int_eq(tt_hist_bucket_range(100, &lo, &hi), 0); /* 2^7 split in 16: width 8 */
    ck_assert_uint_eq(lo, 640);
    ck_assert_uint_eq(hi, 671);
    ck_assert_int_eq(tt_hist_bucket_range(TT_HIST_BUCKETS, &lo, &hi), -EINVAL);
    ck_assert_int_eq(tt_hist_bucket_range(0, NULL, NULL), 0);
}
END_TEST

/* Loop calls from a thread without a loop, or on another loop's thread. */
static void *no_loop_thread(void *arg)
{
    static tt_loop_lag lag;
    static tt_pool_latency l;
    tt_loop *other = arg;
    intptr_t bad = 0;
    bad |= tt_loop_lag_get(NULL, &lag) != -EPERM;
    bad |= tt_loop_lag_get(other, &lag) != -EPERM;
    bad |= tt_loop_watch(NULL, TT_MS(10)) != -EPERM;
    bad |= tt_loop_watch(other, TT_MS(10)) != -EPERM;
    bad |= tt_loop_pool_latency_get(NULL, &l) != -EPERM;
    bad |= tt_loop_pool_latency_get(other, &l) != -EPERM;
    return (void *)bad;
}

TU_TASK_TEST(loop_calls_refuse_foreign_threads, 0)
{
    (void)arg;
    pthread_t th;
    void *bad = (void *)1;
    ck_assert_int_eq(pthread_create(&th, NULL, no_loop_thread, tt_loop_current()), 0);
    ck_assert_int_eq(pthread_join(th, &bad), 0);
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(tt_loop_lag_get(NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_loop_pool_latency_get(NULL, NULL), -EINVAL);
    return 0;
}

START_TEST(hist_percentiles_exact)
{
    static tt_hist h, g;
    memset(&h, 0, sizeof h);
    ck_assert_int_eq(tt_hist_percentile(&h, 50), 0);
    for (int i = 0; i < 99; i++)
        hist_record(&h, 10);
    hist_record(&h, 1000); /* bucket [992, 1023] */
    hist_record(&h, -5);   /* counts as 0 */
    hist_seal(&h);
    ck_assert_uint_eq(h.count, 101);
    ck_assert_uint_eq(h.sum, 99 * 10 + 1000);
    ck_assert_uint_eq(h.max, 1023);
    ck_assert_int_eq(tt_hist_percentile(&h, 0.5), 0);     /* rank 1: the 0 */
    ck_assert_int_eq(tt_hist_percentile(&h, 50), 10);
    ck_assert_int_eq(tt_hist_percentile(&h, 99), 10);     /* rank 100 */
    ck_assert_int_eq(tt_hist_percentile(&h, 99.5), 1023); /* rank 101 */
    ck_assert_int_eq(tt_hist_percentile(&h, 100), 1023);
    memset(&g, 0, sizeof g);
    hist_record(&g, 5000); /* bucket [4864, 5119] */
    hist_seal(&g);
    ck_assert_int_eq(tt_hist_percentile(&g, 100), 5119);
    ck_assert_int_eq(tt_hist_merge(&h, &g), 0);
    ck_assert_uint_eq(h.count, 102);
    ck_assert_uint_eq(h.sum, 99 * 10 + 1000 + 5000);
    ck_assert_uint_eq(h.max, 5119);
    ck_assert_uint_eq(h.buckets[hist_index(5000)], 1);
    ck_assert_int_eq(tt_hist_percentile(&h, 100), 5119);
    ck_assert_int_eq(tt_hist_percentile(&h, 0), -EINVAL);
    ck_assert_int_eq(tt_hist_percentile(&h, 100.5), -EINVAL);
    ck_assert_int_eq(tt_hist_percentile(NULL, 50), -EINVAL);
    ck_assert_int_eq(tt_hist_merge(NULL, &g), -EINVAL);
    ck_assert_int_eq(tt_hist_merge(&h, NULL), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------- pool latency */

/* A test on its own pool P (named name, max_threads threads): the body runs as the main task,
 * and the pool is freed once the loop that used it is gone. */
static tt_pool *P;
#define POOL_TEST(test, pname, threads)                                                       \
    static intptr_t test##_body(void *arg);                                                  \
    START_TEST(test)                                                                         \
    {                                                                                        \
        tt_pool_opts po_ = {.max_threads = (threads), .name = (pname)};                      \
        P = tt_pool_new(&po_);                                                               \
        ck_assert_ptr_nonnull(P);                                                            \
        ck_assert_int_eq(tu_run(test##_body, NULL), 0);                                      \
        ck_assert_int_eq(tt_pool_free(P), 0);                                                \
        tu_assert_no_leaks();                                                                \
    }                                                                                        \
    END_TEST                                                                                 \
    static intptr_t test##_body(void *arg)

static intptr_t sleep_ms(void *arg)
{
    usleep((useconds_t)(intptr_t)arg * 1000);
    return (intptr_t)arg;
}

POOL_TEST(pool_latency_times_one_job_in_16, "lat", 1)
{
    (void)arg;
    tt_pool *p = P;
    /* 17 jobs of 5 ms at once on one thread: it times its 1st and 17th (TT_POOL_SAMPLE), and the
     * 17th waits at least 80 ms in the queue; the two finish 75 ms apart, in separate drains. */
    enum { N = TT_POOL_SAMPLE + 1 };
    tt_future *fs[N];
    for (int i = 0; i < N; i++)
        ck_assert_ptr_nonnull(fs[i] = tt_to_thread_on(p, NULL, sleep_ms, (void *)5));
    ck_assert_int_eq(tt_gather(fs, N, NULL, 0), 0);
    for (int i = 0; i < N; i++)
        tt_unref(fs[i]);
    static tt_pool_latency l;
    ck_assert_int_eq(tt_pool_latency_get(p, &l), 0);
    ck_assert_uint_eq(l.jobs, N); /* exact: every job */
    ck_assert_uint_eq(l.queue_wait.count, 2);
    ck_assert_uint_eq(l.run.count, 2);
    ck_assert_uint_eq(l.resume.count, 2);
    ck_assert_int_ge(tt_hist_percentile(&l.run, 1), TT_MS(5) - TT_MS(5) / 16);
    ck_assert_int_lt((int64_t)l.run.max, TT_SEC(5));
    ck_assert_int_ge((int64_t)l.run.sum, 2 * TT_MS(5));
    ck_assert_int_ge((int64_t)l.queue_wait.max, TT_MS(80));
    ck_assert_int_ge(tt_hist_percentile(&l.queue_wait, 100), TT_MS(80));
    ck_assert_int_lt((int64_t)l.resume.max, TT_SEC(5));
    ck_assert_uint_eq(l.stuck_reported, 0);
    ck_assert_int_eq(tt_pool_latency_get(NULL, &l), -EINVAL);
    ck_assert_int_eq(tt_pool_latency_get(p, NULL), -EINVAL);
    return 0;
}

static int left;
static void requeue(void *arg)
{
    tt_future *done = arg;
    if (--left > 0)
        ck_assert_int_eq(tt_call_soon(tt_loop_current(), requeue, done), 0);
    else
        ck_assert_int_eq(tt_future_set(done, 0), 0);
}

TU_TASK_TEST(loop_lag_counts_timers_and_turns, 0)
{
    (void)arg;
    static tt_loop_lag lag;
    tt_loop *loop = tt_loop_current();
    ck_assert_int_eq(tt_loop_lag_get(loop, &lag), 0);
    uint64_t timers0 = lag.timers.count, ready0 = lag.ready.count;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    /* A callback that queues itself again: each turn leaves work for the next. */
    left = 10;
    tt_future *done = tt_future_new(loop);
    ck_assert_ptr_nonnull(done);
    ck_assert_int_eq(tt_call_soon(loop, requeue, done), 0);
    ck_assert_int_eq(tt_await(done), 0);
    ck_assert_int_eq(tt_loop_lag_get(loop, &lag), 0);
    ck_assert_uint_eq(lag.timers.count - timers0, 5);
    ck_assert_uint_ge(lag.ready.count - ready0, 9);
    ck_assert_int_lt((int64_t)lag.timers.max, TT_SEC(5));
    ck_assert_int_eq(tt_loop_lag_get(NULL, &lag), 0); /* the current loop */
    ck_assert_int_eq(tt_loop_lag_get(loop, NULL), -EINVAL);
    return 0;
}

/* ------------------------------------------------------------------ detectors */

intptr_t obs_stuck_sleeper(void *arg);
intptr_t obs_stuck_sleeper(void *arg)
{
    (void)arg;
    usleep(300000);
    return 7;
}

POOL_TEST(stuck_call_is_reported_once_by_name, "stk", 1)
{
    (void)arg;
    warnings_start();
    tt_pool *p = P;
    ck_assert_int_eq(tt_pool_watch(p, TT_MS(40)), 0);
    /* The worker's first job is timed; the sleeper, its second, is not: the detector finds it
     * from the job count that stops moving, without a start time from the worker. */
    ck_assert_int_eq(tt_await(tt_to_thread_on(p, NULL, sleep_ms, (void *)0)), 0);
    ck_assert_int_eq(tt_await(tt_to_thread_on(p, NULL, obs_stuck_sleeper, NULL)), 7);
    ck_assert_msg(warned_contains("pool 'stk': blocking call obs_stuck_sleeper running for"),
                  "warnings: %s", warned);
    ck_assert(warned_contains("on thread stk-1"));
    static tt_pool_latency l;
    ck_assert_int_eq(tt_pool_latency_get(p, &l), 0);
    ck_assert_uint_eq(l.stuck_reported, 1); /* once, though it stayed stuck for many looks */
    ck_assert_uint_eq(l.jobs, 2);
    ck_assert_uint_eq(l.run.count, 1);
    ck_assert_int_eq(tt_pool_watch(p, -1), 0);
    ck_assert_int_eq(tt_pool_watch(NULL, 1), -EINVAL);
    tt_set_warn_handler(NULL, NULL);
    return 0;
}

intptr_t obs_report_sleeper(void *arg);
intptr_t obs_report_sleeper(void *arg)
{
    atomic_store((atomic_int *)arg, 1);
    usleep(400000);
    return 3;
}

POOL_TEST(shutdown_report_lists_the_sleeping_call, "shr", 1)
{
    (void)arg;
    tt_pool *p = P;
    /* The sleeper is the worker's second job, not timed: its elapsed time counts from the
     * first shutdown's start, so it covers that shutdown's wait. */
    ck_assert_int_eq(tt_await(tt_to_thread_on(p, NULL, sleep_ms, (void *)0)), 0);
    static atomic_int started;
    tt_future *f = tt_to_thread_on(p, NULL, obs_report_sleeper, &started);
    ck_assert_ptr_nonnull(f);
    WAIT_FOR(atomic_load(&started));
    tt_pool_call calls[4];
    size_t n = 99;
    ck_assert_int_eq(tt_pool_shutdown_report(p, TT_MS(20), 0, calls, 1, NULL), -ETIMEDOUT);
    ck_assert_int_eq(tt_pool_shutdown_report(p, TT_MS(20), 0, calls, 4, &n), -ETIMEDOUT);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(calls[0].symbol, "obs_report_sleeper");
    ck_assert_msg(strncmp(calls[0].thread, "shr-", 4) == 0, "thread %s", calls[0].thread);
    ck_assert_ptr_eq(calls[0].fn, (const void *)obs_report_sleeper);
    ck_assert_int_ge(calls[0].elapsed, TT_MS(40)); /* both shutdowns' waits */
    ck_assert_int_lt(calls[0].elapsed, TT_SEC(5));
    ck_assert_int_eq(tt_await(f), 3);
    ck_assert_int_eq(tt_pool_shutdown_report(p, TT_FOREVER, 0, calls, 4, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(tt_pool_shutdown_report(p, 0, 0, NULL, 1, &n), -EINVAL);
    ck_assert_int_eq(tt_pool_shutdown_report(NULL, 0, 0, calls, 1, &n), -EINVAL);
    return 0;
}

/* Debug mode (read when the pool is created): a timed-out tt_pool_shutdown warns with the call. */
static intptr_t debug_shutdown_body(void *arg)
{
    tt_pool *p = arg;
    static atomic_int started;
    tt_future *f = tt_to_thread_on(p, NULL, obs_report_sleeper, &started);
    ck_assert_ptr_nonnull(f);
    WAIT_FOR(atomic_load(&started));
    ck_assert_int_eq(tt_pool_shutdown(p, TT_MS(20), 0), -ETIMEDOUT);
    ck_assert_msg(warned_contains("pool 'dbg': shutdown timed out with obs_report_sleeper running "
                                  "for"), "warnings: %s", warned);
    ck_assert_int_eq(tt_await(f), 3);
    return 0;
}

START_TEST(debug_mode_shutdown_names_what_it_gave_up_on)
{
    warnings_start();
    setenv("TT_DEBUG", "1", 1);
    tt_pool_opts po = {.max_threads = 1, .name = "dbg"};
    tt_pool *p = tt_pool_new(&po);
    unsetenv("TT_DEBUG");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tu_run(debug_shutdown_body, p), 0);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tt_set_warn_handler(NULL, NULL);
    tu_assert_no_leaks();
}
END_TEST

TU_TASK_TEST(loop_pool_latency_reads_the_default_pool, 0)
{
    (void)arg;
    static tt_pool_latency l;
    tt_loop *loop = tt_loop_current();
    ck_assert_int_eq(tt_loop_pool_latency_get(loop, &l), -ENOENT);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tt_await(tt_to_thread(sleep_ms, (void *)1)), 1);
    ck_assert_int_eq(tt_loop_pool_latency_get(loop, &l), 0);
    ck_assert_uint_eq(l.jobs, 3);
    /* Each worker times its first job: which workers ran them is up to the pool. */
    ck_assert_uint_ge(l.run.count, 1);
    ck_assert_uint_le(l.run.count, 3);
    ck_assert_uint_eq(l.queue_wait.count, l.run.count);
    ck_assert_uint_eq(l.resume.count, l.run.count); /* one job per drain: each timed one counts */
    ck_assert_int_eq(tt_loop_pool_latency_get(NULL, &l), 0); /* the current loop */
    ck_assert_int_eq(tt_loop_pool_latency_get(loop, NULL), -EINVAL);
    return 0;
}

/* A task that blocks the loop's thread: the watchdog reports it while it is stuck. */
static intptr_t block_loop_thread(void *arg)
{
    (void)arg;
    usleep(300000);
    ck_assert_msg(warned_contains("loop stalled for"), "warnings: %s", warned);
    ck_assert(warned_contains("in task 'stuck-sleeper'"));
    return 0;
}

TU_TASK_TEST(watchdog_reports_a_task_stuck_on_the_loop_thread, 0)
{
    (void)arg;
    warnings_start();
    tt_loop *loop = tt_loop_current();
    ck_assert_int_eq(tt_loop_watch(loop, TT_MS(40)), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(200)), 0); /* the loop sleeping is not a stall */
    ck_assert_msg(!warned_contains("stalled"), "warnings: %s", warned);
    tt_task_opts o = {.name = "stuck-sleeper"};
    ck_assert_int_eq(tt_await(tt_spawn_on(loop, &o, block_loop_thread, NULL)), 0);
    ck_assert_int_eq(tt_loop_watch(loop, -1), 0);
    ck_assert_int_eq(tt_loop_watch(NULL, -1), 0); /* the current loop */
    tt_set_warn_handler(NULL, NULL);
    return 0;
}

/* ---------------------------------------------------------- interrupt on cancel */

typedef struct reader {
    int fd;
    atomic_int started, finished, err, cancelled_seen;
    intptr_t got;
} reader;

/* A running job cancelled in default mode ends cancelled today; with 0.2's contract it ends with
 * what fn returned. Either is right here: what the tests check is what fn saw. */
static int cancelled_or(intptr_t r, intptr_t fn_value) { return r == -ECANCELED || r == fn_value; }

static intptr_t blocking_read(void *arg)
{
    reader *r = arg;
    char c;
    atomic_store(&r->started, 1);
    ssize_t n = read(r->fd, &c, 1);
    atomic_store(&r->err, n < 0 ? errno : 0);
    atomic_store(&r->cancelled_seen, tt_job_cancelled());
    atomic_store(&r->finished, 1);
    return n < 0 ? -errno : n;
}

TU_TASK_TEST(interrupt_on_cancel_breaks_a_blocking_read, 0)
{
    (void)arg;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    static reader r;
    memset(&r, 0, sizeof r);
    r.fd = fds[0];
    tt_job_opts o = {.flags = TT_JOB_INTERRUPT_ON_CANCEL};
    tt_future *f = tt_to_thread_on(NULL, &o, blocking_read, &r);
    ck_assert_ptr_nonnull(f);
    WAIT_FOR(atomic_load(&r.started));
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0); /* well inside read() by now, usually */
    ck_assert_int_eq(tt_cancel(f, NULL), 1);
    ck_assert(cancelled_or(tt_await(f), -EINTR));
    ck_assert_int_eq(atomic_load(&r.finished), 1);
    ck_assert_int_eq(atomic_load(&r.err), EINTR);
    ck_assert_int_eq(atomic_load(&r.cancelled_seen), 1);
    close(fds[0]);
    close(fds[1]);
    ck_assert_int_gt(tt_interrupt_signal(0), 0);
    return 0;
}

TU_TASK_TEST(without_the_flag_a_blocking_read_is_not_interrupted, 0)
{
    (void)arg;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    static reader r;
    memset(&r, 0, sizeof r);
    r.fd = fds[0];
    /* An interruptible job ran on the pool first: the signal is installed, workers mask it. */
    tt_job_opts io = {.flags = TT_JOB_INTERRUPT_ON_CANCEL};
    ck_assert_int_eq(tt_await(tt_to_thread_on(NULL, &io, sleep_ms, (void *)1)), 1);
    tt_future *f = tt_to_thread_on(NULL, NULL, blocking_read, &r);
    ck_assert_ptr_nonnull(f);
    WAIT_FOR(atomic_load(&r.started));
    ck_assert_int_eq(tt_cancel(f, NULL), 1);
    ck_assert_int_eq(tt_sleep(TT_MS(100)), 0);
    ck_assert_int_eq(atomic_load(&r.finished), 0); /* still in read() */
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert(cancelled_or(tt_await(f), 1));
    ck_assert_int_eq(atomic_load(&r.err), 0);
    ck_assert_int_eq(atomic_load(&r.cancelled_seen), 1);
    close(fds[0]);
    close(fds[1]);
    return 0;
}

/* Cancelled the moment it starts, before read() is entered: the signal may land before the call
 * and is lost, so only the 5 ms re-sends get the job out. */
TU_TASK_TEST(interrupt_is_resent_when_it_lands_before_the_call, 0)
{
    (void)arg;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    static reader r;
    tt_job_opts o = {.flags = TT_JOB_INTERRUPT_ON_CANCEL};
    for (int i = 0; i < 20; i++) {
        memset(&r, 0, sizeof r);
        r.fd = fds[0];
        tt_future *f = tt_to_thread_on(NULL, &o, blocking_read, &r);
        ck_assert_ptr_nonnull(f);
        while (!atomic_load(&r.started))
            ck_assert_int_eq(tt_yield(), 0);
        ck_assert_int_eq(tt_cancel(f, NULL), 1);
        ck_assert(cancelled_or(tt_await(f), -EINTR));
        ck_assert_int_eq(atomic_load(&r.err), EINTR);
    }
    close(fds[0]);
    close(fds[1]);
    return 0;
}

static void app_handler(int sig) { (void)sig; }

TU_TASK_TEST(interrupt_never_replaces_an_application_handler, 0)
{
    (void)arg;
    int sig = SIGRTMIN + 5;
    if (tt_interrupt_signal(sig) != sig)
        return 0; /* CK_FORK=no: an earlier test installed the default one in this process */
    struct sigaction sa = {0}, old;
    sa.sa_handler = app_handler;
    ck_assert_int_eq(sigaction(sig, &sa, &old), 0);
    tt_job_opts o = {.flags = TT_JOB_INTERRUPT_ON_CANCEL};
    errno = 0;
    ck_assert_ptr_null(tt_to_thread_on(NULL, &o, sleep_ms, (void *)1));
    ck_assert_int_eq(errno, EBUSY);
    struct sigaction now;
    ck_assert_int_eq(sigaction(sig, NULL, &now), 0);
    ck_assert_ptr_eq((void *)now.sa_handler, (void *)app_handler); /* untouched */
    ck_assert_int_eq(sigaction(sig, &old, NULL), 0);
    ck_assert_int_eq(tt_interrupt_signal(1), -EINVAL);
    tt_job_opts bad = {.flags = 0x100};
    errno = 0;
    ck_assert_ptr_null(tt_to_thread_on(NULL, &bad, sleep_ms, (void *)1));
    ck_assert_int_eq(errno, EINVAL);
    return 0;
}

static Suite *obs_suite(void)
{
    Suite *s = suite_create("obs");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hist_buckets_are_contiguous_and_exact_below_32);
    tcase_add_test(tc, hist_percentiles_exact);
    tcase_add_test(tc, pool_latency_times_one_job_in_16);
    tcase_add_test(tc, loop_lag_counts_timers_and_turns);
    tcase_add_test(tc, stuck_call_is_reported_once_by_name);
    tcase_add_test(tc, shutdown_report_lists_the_sleeping_call);
    tcase_add_test(tc, watchdog_reports_a_task_stuck_on_the_loop_thread);
    tcase_add_test(tc, interrupt_on_cancel_breaks_a_blocking_read);
    tcase_add_test(tc, without_the_flag_a_blocking_read_is_not_interrupted);
    tcase_add_test(tc, interrupt_never_replaces_an_application_handler);
    tcase_add_test(tc, interrupt_is_resent_when_it_lands_before_the_call);
    tcase_add_test(tc, debug_mode_shutdown_names_what_it_gave_up_on);
    tcase_add_test(tc, loop_pool_latency_reads_the_default_pool);
    tcase_add_test(tc, loop_calls_refuse_foreign_threads);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(obs_suite)
