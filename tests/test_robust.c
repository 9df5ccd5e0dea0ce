/* Regression tests for the defects the adversarial campaign of issue 7 found (one test or more
 * per defect, named dN_*): tt_run's teardown, embedding, pool shutdown from its own worker, a
 * foreign future awaited, stack overflow reports, a refused pthread_create, a timeout scope
 * entered twice, the pool's shutdown flag, loop free with long callback chains, and errors that
 * disagreed with the header. pthread_create and eventfd are wrapped (--wrap) to refuse on cue. */
#define _GNU_SOURCE
#include "testutil.h"
#include "internal.h" /* d4 reads a future's reference count: "not touched" is the point */

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TT_TEST_SANITIZED 1
#endif

/* ----------------------------------------------------------------- wrapped calls */

static atomic_int refuse_threads; /* pthread_create fails with EAGAIN while set */
static atomic_int refuse_eventfd; /* eventfd fails with EMFILE while set */

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    if (atomic_load(&refuse_threads))
        return EAGAIN;
    return __real_pthread_create(t, a, fn, arg);
}
int __real_eventfd(unsigned int v, int flags);
int __wrap_eventfd(unsigned int v, int flags)
{
    if (atomic_load(&refuse_eventfd)) {
        errno = EMFILE;
        return -1;
    }
    return __real_eventfd(v, flags);
}

static intptr_t sleep_job(void *arg)
{
    usleep((useconds_t)(uintptr_t)arg);
    return 42;
}
static intptr_t ret7(void *arg) { (void)arg; return 7; }

/* ------------------------------------------------ 1. tt_run's teardown is in the loop */

/* A done-callback on a job still running when main returns runs during tt_run's teardown. */
enum { TD_FREE, TD_RUN_UNTIL, TD_SPAWN };
static int td_action;
static intptr_t td_rc[3];
static atomic_int td_body_state; /* 1 started, 2 saw the cancel */

static intptr_t td_sleeper(void *arg)
{
    (void)arg;
    atomic_store(&td_body_state, 1);
    if (tt_sleep(TT_SEC(3600)) == -ECANCELED)
        atomic_store(&td_body_state, 2);
    return 0;
}

static void td_cb(tt_future *f, void *arg)
{
    (void)f;
    (void)arg;
    tt_loop *loop = tt_loop_current();
    switch (td_action) {
    case TD_FREE:
        td_rc[0] = tt_loop_free(loop);
        break;
    case TD_RUN_UNTIL: {
        tt_future *g = tt_future_new(loop);
        tt_future_set(g, 7);
        td_rc[0] = tt_loop_run_until(loop, g);
        td_rc[1] = tt_loop_run_once(loop, 0);
        break;
    }
    case TD_SPAWN: {
        tt_future *t = tt_spawn(td_sleeper, NULL);
        td_rc[0] = t != NULL;
        tt_unref(t);
        break;
    }
    }
}

static intptr_t td_main(void *arg)
{
    (void)arg;
    tt_future *j = tt_to_thread(sleep_job, (void *)(uintptr_t)20000);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(tt_on_done(j, td_cb, NULL), 0);
    tt_unref(j);
    return 5;
}

static void td_run(int action)
{
    td_action = action;
    memset(td_rc, 0x55, sizeof td_rc);
    atomic_store(&td_body_state, 0);
    intptr_t r = 0;
    ck_assert_int_eq(tt_run(td_main, NULL, &r), 0);
    ck_assert_int_eq(r, 5);
    ck_assert_ptr_null(tt_loop_current());
    tu_assert_no_leaks();
    ck_assert_int_eq(tt_run(td_main, NULL, &r), 0); /* the thread is free for another run */
}

START_TEST(d1_teardown_free_refused)
{
    td_run(TD_FREE);
    ck_assert_int_eq(td_rc[0], -EPERM);
}
END_TEST

START_TEST(d1_teardown_run_until_refused)
{
    td_run(TD_RUN_UNTIL);
    ck_assert_int_eq(td_rc[0], -EPERM);
    ck_assert_int_eq(td_rc[1], -EPERM);
}
END_TEST

START_TEST(d1_teardown_spawn_is_cancelled)
{
    td_run(TD_SPAWN);
    ck_assert_int_eq(td_rc[0], 1);
    int st = atomic_load(&td_body_state); /* cancelled before it started, or in its sleep */
    ck_assert(st == 0 || st == 2);
}
END_TEST

/* A job on the default pool submits a task to its loop after main has returned: the handle
 * completes (run or cancelled) and nothing leaks. */
static atomic_int ts_main_done;
static tt_loop *ts_loop;
static tt_cfuture *ts_cf;
static intptr_t ts_job(void *arg)
{
    (void)arg;
    while (!atomic_load(&ts_main_done))
        usleep(1000);
    usleep(20000); /* tt_run is in its teardown now */
    ts_cf = tt_loop_submit(ts_loop, td_sleeper, NULL);
    return 0;
}
static intptr_t ts_main(void *arg)
{
    (void)arg;
    ts_loop = tt_loop_current();
    tt_unref(tt_to_thread(ts_job, NULL));
    tt_yield(); /* the job is handed to the pool */
    atomic_store(&ts_main_done, 1);
    return 0;
}

START_TEST(d1_teardown_submit_completes)
{
    atomic_store(&ts_main_done, 0);
    ck_assert_int_eq(tt_run(ts_main, NULL, NULL), 0);
    ck_assert_ptr_nonnull(ts_cf);
    intptr_t r = 1;
    ck_assert_int_eq(tt_cfuture_wait(ts_cf, TT_SEC(5), &r), 0);
    ck_assert(r == -ECANCELED || r == 0);
    tt_cfuture_free(ts_cf);
    ck_assert_ptr_null(tt_loop_current());
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------- 2. embedding stalls */

static intptr_t em_task(void *arg)
{
    (void)arg;
    return tt_await(tt_to_thread(sleep_job, (void *)(uintptr_t)1000));
}
static void noop_cb(void *arg) { (void)arg; }

/* Whether the host would wake up within 3 s: the fd turns readable, or the deadline comes
 * (the host sleeps until then, as poll's timeout). */
static int host_would_wake(tt_loop *loop, int fd)
{
    int64_t dl = -5;
    ck_assert_int_eq(tt_loop_next_deadline(loop, &dl), 0);
    if (dl == 0)
        return 1;
    int64_t wait = dl < 0 ? TT_SEC(3) : dl - tt_now();
    if (wait > TT_SEC(3))
        wait = TT_SEC(3);
    if (wait < 0)
        wait = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)(wait / 1000000) + 1) == 1)
        return 1;
    return dl >= 0 && dl <= tt_now();
}

/* Drives loop as an embedding host would until t is done, asserting it never sleeps forever. */
static void run_as_host(tt_loop *loop, int fd, tt_future *t)
{
    int rounds = 0;
    while (!tt_done(t)) {
        ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
        if (tt_done(t))
            break;
        ck_assert_msg(host_would_wake(loop, fd), "the host would sleep forever");
        ck_assert_int_lt(++rounds, 1000);
    }
}

START_TEST(d2_embedded_job_wakes_host)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    int fd = tt_loop_fd(loop);
    ck_assert_int_ge(fd, 0);
    tt_future *t = tt_spawn_on(loop, NULL, em_task, NULL);
    run_as_host(loop, fd, t);
    ck_assert_int_eq(tt_result(t), 42);
    tt_unref(t);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* A job's completion wakes the host, then the task waits on the ring (a pipe another thread
 * writes 100 ms later). With io_uring's deferred completions, the run that resumed the task had
 * nothing of its own in flight and did not enter the ring: the wake-up read's completion stayed
 * queued in the kernel, which signals the fd only when that queue goes from empty to not empty,
 * so the read's completion signalled nothing and the host slept on (embed_uv stalled in CI). */
static int em_pipe[2];
static intptr_t em_job_then_read(void *arg)
{
    (void)arg;
    intptr_t r = tt_await(tt_to_thread(sleep_job, (void *)(uintptr_t)1000));
    char c = 0;
    intptr_t n = tt_read(em_pipe[0], &c, 1, -1);
    return r == 42 && n == 1 && c == 'x' ? 0 : -EIO;
}
static void *em_write_later(void *arg)
{
    (void)arg;
    usleep(100 * 1000);
    (void)!write(em_pipe[1], "x", 1);
    return NULL;
}

START_TEST(d2_ring_read_after_a_job_wakes_host)
{
    ck_assert_int_eq(pipe(em_pipe), 0);
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    int fd = tt_loop_fd(loop);
    ck_assert_int_ge(fd, 0);
    tt_future *t = tt_spawn_on(loop, NULL, em_job_then_read, NULL);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, em_write_later, NULL), 0);
    run_as_host(loop, fd, t);
    pthread_join(th, NULL);
    ck_assert_int_eq(tt_result(t), 0);
    tt_unref(t);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    close(em_pipe[0]);
    close(em_pipe[1]);
    tu_assert_no_leaks();
}
END_TEST

/* A batch of known-short jobs gets one worker; when its first job blocks, only the loop's
 * check wakes the others (pool.c, staff). An embedded loop has no completion to wake it then:
 * tt_loop_next_deadline must say when that check is due, or the host sleeps until the blocked
 * job ends. */
static tu_gate em_gate;
static intptr_t em_square(void *arg) { return (intptr_t)arg * (intptr_t)arg; }
static intptr_t em_short_staffed(void *arg)
{
    tt_pool *p = arg;
    tt_future *f[64];
    /* A job preempted while the pool learns (a loaded machine, a sanitizer) can leave its
     * estimate long enough to staff the batch fully: then nothing would be tested, and the
     * attempt is made again (the estimate comes back down with each short job). */
    for (int attempt = 0;; attempt++) {
        if (attempt == 5)
            return -EAGAIN; /* never short-staffed: nothing here was tested */
        atomic_store(&em_gate.started, 0);
        atomic_store(&em_gate.release, 0);
        atomic_store(&em_gate.finished, 0);
        for (int i = 0; i < 64; i++) /* the pool learns that its jobs take microseconds */
            f[i] = tt_to_thread_on(p, NULL, em_square, (void *)(intptr_t)i);
        for (int i = 0; i < 64; i++)
            if (tt_await(f[i]) != i * i)
                return -EIO;
        if (tt_sleep(TT_MS(20)) != 0) /* no worker still spinning */
            return -EIO;
        f[0] = tt_to_thread_on(p, NULL, tu_gate_fn, &em_gate);
        f[1] = tt_to_thread_on(p, NULL, em_square, (void *)3);
        if (tt_yield() != 0) /* the batch goes to the pool */
            return -EIO;
        for (int i = 0; i < 20000 && !atomic_load(&em_gate.started); i++)
            usleep(500); /* without letting the loop run its check */
        tt_pool_stats s;
        if (tt_pool_stats_get(p, &s) == 0 && s.running == 1 && s.queued == 1)
            break;
        atomic_store(&em_gate.release, 1);
        if (tt_await(f[0]) != 5 || tt_await(f[1]) != 9)
            return -EIO;
    }
    if (tt_await(f[1]) != 9)
        return -EIO;
    intptr_t held = atomic_load(&em_gate.finished) == 0;
    atomic_store(&em_gate.release, 1);
    return tt_await(f[0]) == 5 && held ? 0 : -EIO;
}

START_TEST(d2_short_staffed_batch_wakes_host)
{
    /* Idle workers time out after a minute: their own wake-up would take the jobs after 10 s. */
    tt_pool *p = tt_pool_new(
        &(tt_pool_opts){.min_threads = 4, .max_threads = 4, .idle_timeout = TT_SEC(60)});
    ck_assert_ptr_nonnull(p);
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    int fd = tt_loop_fd(loop);
    ck_assert_int_ge(fd, 0);
    em_gate = (tu_gate){.value = 5};
    tt_future *t = tt_spawn_on(loop, NULL, em_short_staffed, p);
    run_as_host(loop, fd, t);
    ck_assert_int_eq(tt_result(t), 0);
    tt_unref(t);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}
END_TEST

/* Work the host adds between iterations makes the fd readable. */
START_TEST(d2_host_work_makes_fd_readable)
{
    tt_loop *loop = tt_loop_new(NULL);
    int fd = tt_loop_fd(loop);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 0), 0);
    ck_assert_int_eq(tt_call_soon(loop, noop_cb, NULL), 0);
    ck_assert_int_eq(poll(&p, 1, 0), 1);
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(poll(&p, 1, 0), 0);
    tt_future *t = tt_spawn_on(loop, NULL, ret7, NULL);
    ck_assert_int_eq(poll(&p, 1, 0), 1);
    while (!tt_done(t))
        tt_loop_run_once(loop, 0);
    ck_assert_int_eq(tt_result(t), 7);
    tt_unref(t);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------- 3. pool shutdown from its own worker */

static intptr_t shutdown_self_job(void *arg) { return tt_pool_shutdown(arg, TT_FOREVER, 0); }
static intptr_t free_self_job(void *arg) { return tt_pool_free(arg); }
static tt_pool *ps_pool;
static intptr_t ps_main(void *arg)
{
    return tt_await(tt_to_thread_on(ps_pool, NULL, (tt_fn)arg, ps_pool));
}

START_TEST(d3_shutdown_from_own_worker)
{
    ps_pool = tt_pool_new(NULL);
    ck_assert_int_eq(tu_run(ps_main, (void *)shutdown_self_job), -EDEADLK);
    ck_assert_int_eq(tu_run(ps_main, (void *)free_self_job), -EDEADLK);
    ck_assert_int_eq(tt_pool_free(ps_pool), 0);
    tu_assert_no_leaks();
}
END_TEST

static atomic_int orphan_go, orphan_started;
static atomic_long orphan_rc = 1;
static intptr_t orphan_free_job(void *arg)
{
    atomic_store(&orphan_started, 1);
    while (!atomic_load(&orphan_go))
        usleep(1000);
    atomic_store(&orphan_rc, tt_pool_free(arg));
    return 0;
}
static intptr_t orphan_main(void *arg)
{
    tt_unref(tt_to_thread_on(arg, NULL, orphan_free_job, arg));
    tt_yield(); /* handed to the pool; then wait (without suspending) until it runs */
    while (!atomic_load(&orphan_started))
        usleep(1000);
    return 0;
}

START_TEST(d3_free_from_orphaned_job)
{
    tt_pool *p = tt_pool_new(NULL);
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_int_eq(tt_loop_run_until(loop, tt_spawn_on(loop, NULL, orphan_main, p)), 0);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    atomic_store(&orphan_go, 1);
    ck_assert_int_eq(tt_pool_free(p), 0); /* waits for the job */
    ck_assert_int_eq(atomic_load(&orphan_rc), -EDEADLK);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------ 4. await of a foreign loop's future */

static tt_future *foreign;
static intptr_t foreign_main(void *arg)
{
    (void)arg;
    intptr_t a = tt_await(foreign);
    intptr_t w = tt_wait_for(foreign, TT_MS(1));
    return a == -EINVAL && w == -EINVAL ? 0 : -1;
}
static void *foreign_thread(void *arg)
{
    (void)arg;
    intptr_t r = -2;
    int rc = tt_run(foreign_main, NULL, &r);
    intptr_t outside = tt_await(foreign); /* no loop, no task on this thread */
    return (void *)(intptr_t)(rc == 0 && r == 0 && outside == -EPERM ? 0 : 1);
}

START_TEST(d4_await_foreign_future_untouched)
{
    tt_loop *loop = tt_loop_new(NULL);
    foreign = tt_future_new(loop);
    pthread_t th;
    void *res;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, NULL), 0);
    pthread_join(th, &res);
    ck_assert_ptr_null(res);
    ck_assert_uint_eq(foreign->refs, 1);
    ck_assert_int_eq(tt_future_set(foreign, 3), 0);
    tt_unref(foreign);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* -------------------------------------------------------- 5. stack overflow reports */


static void expect_overflow_report(void (*fn)(void), const char *name)
{
#ifdef TT_TEST_SANITIZED
    (void)fn;
    (void)name; /* the sanitizers report overflows themselves */
#else
    char err[4096], want[128];
    int st = tu_run_child(fn, err, sizeof err, 20);
    snprintf(want, sizeof want, "stack overflow in task '%s'", name);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x, stderr: %s", st, err);
    ck_assert_msg(strstr(err, want), "wanted \"%s\", stderr: %s", want, err);
#endif
}

static int __attribute__((noinline)) deep(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    if (n > 1000000)
        return pad[0];
    return deep(n + 1) + pad[0];
}
static intptr_t deep_task(void *arg) { (void)arg; return deep(0); }
static intptr_t spawn_unnamed_main(void *arg)
{
    (void)arg;
    return tt_await(tt_spawn(deep_task, NULL));
}
static void child_unnamed(void) { tt_run(spawn_unnamed_main, NULL, NULL); }

START_TEST(d5_unnamed_task_named_in_report)
{
    expect_overflow_report(child_unnamed, "task-2");
}
END_TEST

/* A frame bigger than a page, in a task whose neighbour below is suspended. */
static intptr_t idle_task(void *arg) { (void)arg; return tt_sleep(TT_SEC(3600)); }
static intptr_t __attribute__((noinline)) wide_frame(void *arg)
{
    volatile char big[24 * 1024];
    big[0] = 1;
    (void)arg;
    return big[0];
}
static intptr_t neighbours_main(void *arg)
{
    (void)arg;
    tt_task_opts a = {.name = "a"}, b = {.name = "b"};
    tt_future *ta = tt_spawn_on(NULL, &a, idle_task, NULL);
    tt_yield();
    intptr_t r = tt_await(tt_spawn_on(NULL, &b, wide_frame, NULL));
    tt_cancel(ta, NULL);
    tt_await(ta);
    return r;
}
static void child_neighbours(void)
{
    tt_loop_opts o = {.stack_size = 16384};
    tt_loop *loop = tt_loop_new(&o);
    tt_task_opts m = {.name = "main"};
    tt_loop_run_until(loop, tt_spawn_on(loop, &m, neighbours_main, NULL));
    tt_loop_free(loop);
}

START_TEST(d5_wide_frame_does_not_jump_the_guard)
{
    expect_overflow_report(child_neighbours, "b");
}
END_TEST

static intptr_t __attribute__((noinline)) huge_frame(void *arg)
{
    volatile char big[1 << 20];
    big[0] = 1;
    (void)arg;
    return big[0];
}
static intptr_t huge_main(void *arg)
{
    (void)arg;
    tt_task_opts o = {.name = "huge"};
    return tt_await(tt_spawn_on(NULL, &o, huge_frame, NULL));
}
static void child_huge(void) { tt_run(huge_main, NULL, NULL); }

START_TEST(d5_megabyte_array_reported)
{
    expect_overflow_report(child_huge, "huge");
}
END_TEST

/* --------------------------------------- 6. a refused pthread_create strands a job */

static intptr_t strand_main(void *arg)
{
    tt_pool *p = arg;
    ck_assert_int_eq(tt_await(tt_to_thread_on(p, NULL, ret7, NULL)), 7);
    tt_future *j = tt_to_thread_on(p, NULL, ret7, NULL); /* batched: a thread exists */
    ck_assert_ptr_nonnull(j);
    atomic_store(&refuse_threads, 1);
    tt_pool_stats st;
    for (int i = 0; i < 5000; i++) { /* without suspending: the batch is not flushed yet */
        tt_pool_stats_get(p, &st);
        if (st.threads == 0)
            break;
        usleep(1000);
    }
    ck_assert_uint_eq(st.threads, 0);
    intptr_t r = tt_await(j);
    atomic_store(&refuse_threads, 0);
    return r;
}

START_TEST(d6_refused_thread_fails_the_job)
{
    tt_pool_opts o = {.max_threads = 1, .idle_timeout = TT_MS(20)};
    tt_pool *p = tt_pool_new(&o);
    ck_assert_int_eq(tu_run(strand_main, p), -EAGAIN);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------- 7. a timeout scope entered twice */

static intptr_t twice_main(void *arg)
{
    (void)arg;
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(50)), 0);
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(50)), -EBUSY);
    ck_assert_int_eq(tt_timeout_exit(&t, 0), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(1)), 0); /* after exit: a new scope */
    ck_assert_int_eq(tt_timeout_exit(&t, tt_sleep(TT_SEC(5))), -ETIMEDOUT);
    return 0;
}

START_TEST(d7_timeout_entered_twice)
{
    ck_assert_int_eq(tu_run(twice_main, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ---------------------------------------------------- 8. the pool's shutdown flag */

static tt_pool *race_pool;
static void *race_shutdown(void *arg)
{
    (void)arg;
    usleep(200);
    tt_pool_shutdown(race_pool, TT_FOREVER, 0);
    return NULL;
}
static intptr_t race_main(void *arg)
{
    (void)arg;
    pthread_t th;
    pthread_create(&th, NULL, race_shutdown, NULL);
    int refused = 0;
    for (int i = 0; i < 20000 && !refused; i++) {
        tt_future *f = tt_try_to_thread(race_pool, ret7, NULL);
        if (!f) {
            ck_assert_int_eq(errno, ESHUTDOWN);
            refused = 1;
        } else {
            /* Admitted just before the shutdown: it runs, unless the pool's last worker left
             * before the end of the turn handed it over (then it fails as defect 6 says). */
            intptr_t r = tt_await(f);
            ck_assert_msg(r == 7 || r == -ESHUTDOWN, "job result %ld", (long)r);
            refused = r == -ESHUTDOWN;
        }
    }
    pthread_join(th, NULL);
    ck_assert(!tt_try_to_thread(race_pool, ret7, NULL) && errno == ESHUTDOWN);
    return 0;
}

/* TSan's report is what fails here before the fix (CI runs this suite under TSan). */
START_TEST(d8_shutdown_flag_race)
{
    tt_pool_opts o = {.min_threads = 1, .max_threads = 2};
    race_pool = tt_pool_new(&o);
    ck_assert_int_eq(tu_run(race_main, NULL), 0);
    ck_assert_int_eq(tt_pool_free(race_pool), 0);
    tu_assert_no_leaks();
}
END_TEST

/* -------------------------------- 9. loop free with a long chain of internal callbacks */

static tt_future *chain_root;
static intptr_t chain_main(void *arg)
{
    (void)arg;
    chain_root = tt_future_new(NULL);
    tt_future *g = tt_ref(chain_root);
    for (int i = 0; i < 200; i++) {
        tt_future *next = tt_gather_future(&g, 1, 0);
        ck_assert_ptr_nonnull(next);
        tt_unref(g);
        g = next;
    }
    tt_unref(g);
    return 0;
}

START_TEST(d9_free_runs_internal_chains)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_int_eq(tt_loop_run_until(loop, tt_spawn_on(loop, NULL, chain_main, NULL)), 0);
    ck_assert_int_eq(tt_future_set(chain_root, 1), 0);
    tt_unref(chain_root);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------ 10. errors that disagreed with the header */

static intptr_t lane_main(void *arg)
{
    (void)arg;
    tt_pool *lane = tt_pool_new(NULL);
    ck_assert_ptr_nonnull(lane);
    ck_assert_int_eq(tt_await(tt_to_thread_on(lane, NULL, ret7, NULL)), 7);
    return tt_pool_free(lane);
}

START_TEST(d10_lane_pool_freed_in_task)
{
    ck_assert_int_eq(tu_run(lane_main, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(d10_pool_opts)
{
    tt_pool_opts o = {.thread_stack_size = SIZE_MAX};
    errno = 0;
    ck_assert_ptr_null(tt_pool_new(&o));
    ck_assert_int_eq(errno, EINVAL);
    tt_pool_opts n = {.idle_timeout = -5};
    tt_pool *p = tt_pool_new(&n);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tt_pool_free(p), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(d10_eventfd_emfile)
{
    atomic_store(&refuse_eventfd, 1);
    errno = 0;
    tt_loop *loop = tt_loop_new(NULL);
    int e = errno;
    atomic_store(&refuse_eventfd, 0);
    ck_assert_ptr_null(loop);
    ck_assert_int_eq(e, EMFILE);
    ck_assert_ptr_null(tt_loop_current());
    tu_assert_no_leaks();
}
END_TEST

/* One rule for "a future of another loop": -EINVAL, from every waiting call. */
static tt_future *other;
static intptr_t other_main(void *arg)
{
    (void)arg;
    tt_future *fs[1] = {other};
    ck_assert_int_eq(tt_wait(fs, 1, TT_ALL_COMPLETED, 0), -EINVAL);
    ck_assert_int_eq(tt_gather(fs, 1, NULL, 0), -EINVAL);
    ck_assert_ptr_null(tt_as_completed_new(fs, 1, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(tt_await(other), -EINVAL);
    return 0;
}
static void *other_thread(void *arg)
{
    (void)arg;
    intptr_t r = -1;
    tt_run(other_main, NULL, &r);
    return (void *)r;
}

START_TEST(d10_foreign_future_is_einval)
{
    tt_loop *loop = tt_loop_new(NULL);
    other = tt_future_new(loop);
    pthread_t th;
    void *res;
    pthread_create(&th, NULL, other_thread, NULL);
    pthread_join(th, &res);
    ck_assert_ptr_null(res);
    tt_unref(other);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------- 11. TSan's per-fiber state is released with the task */

/* TSan counts every fiber as a thread and dies past 8128 alive: 8500 tasks run one after the
 * other pass only if each task's fiber is destroyed when its stack is recycled (the suite runs
 * under TSan in CI; elsewhere it checks the same life cycle without the counter). */
static intptr_t fiber_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 8500; i++)
        ck_assert_int_eq(tt_await(tt_spawn(ret7, NULL)), 7);
    return 0;
}

START_TEST(d11_fibers_released_with_tasks)
{
    ck_assert_int_eq(tu_run(fiber_main, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("robust");
    TCase *tc = tcase_create("defects");
    tcase_set_timeout(tc, 20); /* the hangs these tests catch must end as failures */
    tcase_add_test(tc, d1_teardown_free_refused);
    tcase_add_test(tc, d1_teardown_run_until_refused);
    tcase_add_test(tc, d1_teardown_spawn_is_cancelled);
    tcase_add_test(tc, d1_teardown_submit_completes);
    tcase_add_test(tc, d2_embedded_job_wakes_host);
    tcase_add_test(tc, d2_host_work_makes_fd_readable);
    tcase_add_test(tc, d2_ring_read_after_a_job_wakes_host);
    tcase_add_test(tc, d2_short_staffed_batch_wakes_host);
    tcase_add_test(tc, d3_shutdown_from_own_worker);
    tcase_add_test(tc, d3_free_from_orphaned_job);
    tcase_add_test(tc, d4_await_foreign_future_untouched);
    tcase_add_test(tc, d5_unnamed_task_named_in_report);
    tcase_add_test(tc, d5_wide_frame_does_not_jump_the_guard);
    tcase_add_test(tc, d5_megabyte_array_reported);
    tcase_add_test(tc, d6_refused_thread_fails_the_job);
    tcase_add_test(tc, d7_timeout_entered_twice);
    tcase_add_test(tc, d8_shutdown_flag_race);
    tcase_add_test(tc, d9_free_runs_internal_chains);
    tcase_add_test(tc, d10_lane_pool_freed_in_task);
    tcase_add_test(tc, d10_pool_opts);
    tcase_add_test(tc, d10_eventfd_emfile);
    tcase_add_test(tc, d10_foreign_future_is_einval);
    suite_add_tcase(s, tc);
    TCase *fibers = tcase_create("fibers"); /* slow under TSan, whose limit it checks */
    tcase_set_timeout(fibers, 240);
    tcase_add_test(fibers, d11_fibers_released_with_tasks);
    suite_add_tcase(s, fibers);
    return s;
}

TU_MAIN(suite)
