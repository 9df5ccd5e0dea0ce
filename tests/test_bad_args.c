/* The bad-input sweep: every public function, called with NULL or out-of-range arguments, from
 * outside any loop, from inside a task, and from the re-entrant places (a task, a callback, tt_run's
 * teardown, a pool's own worker): each returns its documented error (never crashes, never hangs)
 * and leaks nothing. Each case runs in its own forked child under a timeout, whatever CK_FORK
 * says, so a crash or a hang in one case cannot hide the others. */
#include "testutil.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* The 0.1 flag names still compile and mean the same (kept as aliases for 0.2). */
_Static_assert(TT_ABANDON_ON_CANCEL == TT_JOB_ABANDON_ON_CANCEL, "job flag alias");
_Static_assert(TT_RETURN_ERRORS == TT_GATHER_RETURN_ERRORS, "gather flag alias");

static void noop_cb(void *arg) { (void)arg; }
static void noop_done(tt_future *f, void *arg) { (void)f; (void)arg; }
static intptr_t body(void *arg) { (void)arg; return 0; }

/* Calls that need a loop or a task: -EPERM (or NULL + EPERM) without one. */
static void outside_any_loop(void)
{
    ck_assert_ptr_null(tt_loop_current());
    errno = 0;
    ck_assert_ptr_null(tt_future_new(NULL));
    ck_assert_int_eq(errno, EPERM);
    ck_assert_ptr_null(tt_spawn(body, NULL));
    ck_assert_ptr_null(tt_to_thread(body, NULL));
    ck_assert_ptr_null(tt_gather_future(NULL, 0, 0));
    ck_assert_int_eq(tt_gather(NULL, 0, NULL, 0), -EPERM);
    ck_assert_int_eq(tt_wait(NULL, 0, TT_ALL_COMPLETED, 0), -EINVAL);
    ck_assert_int_eq(tt_await(NULL), -EINVAL);
    ck_assert_int_eq(tt_sleep(1), -EPERM);
    ck_assert_int_eq(tt_yield(), -EPERM);
    ck_assert_ptr_null(tt_current_task());
    ck_assert_ptr_null(tt_group_new());
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(1)), -EPERM);
    ck_assert_int_eq(tt_timeout_enter(NULL, TT_MS(1)), -EINVAL);
    ck_assert_int_eq(tt_read(0, NULL, 0, 0), -EPERM);
    ck_assert_int_eq(tt_poll(0, POLLIN), -EPERM);
    ck_assert_int_eq(tt_job_cancelled(), 0);
    tu_assert_no_leaks();
}

/* NULL handles everywhere: -EINVAL, NULL, 0 or nothing, as documented. */
static void null_handles(void)
{
    /* 0.2: a NULL loop is the current loop; this thread has none, so -EPERM (the call is made
     * from the wrong place), except tt_loop_free, which must name its loop. */
    ck_assert_int_eq(tt_loop_free(NULL), -EINVAL);
    ck_assert_int_eq(tt_loop_run_until(NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_loop_run_once(NULL, 0), -EPERM);
    ck_assert_int_eq(tt_loop_fd(NULL), -EPERM);
    int64_t d = 5;
    ck_assert_int_eq(tt_loop_next_deadline(NULL, &d), -EPERM);
    ck_assert_int_eq(d, 5);
    ck_assert_int_eq(tt_call_soon(NULL, noop_cb, NULL), -EPERM);
    ck_assert_int_eq(tt_call_soon_threadsafe(NULL, noop_cb, NULL), -EPERM);
    ck_assert_int_eq(tt_call_later(NULL, 0, noop_cb, NULL), -EPERM);
    ck_assert_int_eq(tt_call_cancel(NULL, 1), -EPERM);
    errno = 0;
    ck_assert_ptr_null(tt_loop_submit(NULL, body, NULL));
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(tt_cfuture_wait(NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(tt_cfuture_cancel(NULL), -EINVAL);
    tt_cfuture_free(NULL);
    ck_assert_int_eq(tt_future_set(NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_cancel(NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_done(NULL), 0);
    ck_assert_int_eq(tt_cancelled(NULL), 0);
    ck_assert_int_eq(tt_result(NULL), -EINVAL);
    ck_assert_ptr_null(tt_cancel_message(NULL));
    ck_assert_int_eq(tt_on_done(NULL, noop_done, NULL), -EINVAL);
    ck_assert_int_eq(tt_remove_done(NULL, noop_done, NULL), -EINVAL);
    ck_assert_ptr_null(tt_ref(NULL));
    tt_unref(NULL);
    ck_assert_int_eq(tt_cancelling(NULL), -EINVAL);
    ck_assert_int_eq(tt_uncancel(NULL), -EINVAL);
    ck_assert_ptr_null(tt_task_name(NULL));
    ck_assert_int_eq(tt_pool_shutdown(NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(tt_pool_free(NULL), -EINVAL);
    ck_assert_int_eq(tt_pool_stats_get(NULL, NULL), -EINVAL);
    ck_assert_ptr_null(tt_as_completed_new(NULL, 1, 0));
    ck_assert_int_eq(tt_as_completed_next(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_as_completed_add(NULL, NULL), -EINVAL);
    tt_as_completed_free(NULL);
    ck_assert_int_eq(tt_wait_for(NULL, 0), -EINVAL);
    ck_assert_ptr_null(tt_shield(NULL));
    ck_assert_ptr_null(tt_group_spawn(NULL, body, NULL));
    ck_assert_int_eq(tt_group_cancel(NULL), -EINVAL);
    ck_assert_int_eq(tt_group_join(NULL), -EINVAL);
    ck_assert_uint_eq(tt_group_errors(NULL, NULL, 0), 0);
    tt_group_free(NULL);
    ck_assert_int_eq(tt_timeout_reschedule(NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_timeout_exit(NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_event_set(NULL), -EINVAL);
    ck_assert_int_eq(tt_event_clear(NULL), -EINVAL);
    ck_assert_int_eq(tt_event_is_set(NULL), -EINVAL);
    ck_assert_int_eq(tt_event_wait(NULL), -EINVAL);
    tt_event_free(NULL);
    ck_assert_int_eq(tt_lock_acquire(NULL), -EINVAL);
    ck_assert_int_eq(tt_lock_release(NULL), -EINVAL);
    ck_assert_int_eq(tt_lock_locked(NULL), -EINVAL);
    tt_lock_free(NULL);
    ck_assert_int_eq(tt_semaphore_acquire(NULL), -EINVAL);
    ck_assert_int_eq(tt_semaphore_release(NULL), -EINVAL);
    ck_assert_int_eq(tt_semaphore_value(NULL), -EINVAL);
    tt_semaphore_free(NULL);
    ck_assert_int_eq(tt_queue_put(NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_queue_get(NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_queue_try_put(NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_queue_try_get(NULL, NULL), -EINVAL);
    ck_assert_uint_eq(tt_queue_size(NULL), 0);
    tt_queue_free(NULL);
    ck_assert_int_eq(tt_loop_dump(NULL, stderr), -EPERM); /* NULL: the current loop, none */
    tt_live_get(NULL);
    ck_assert_str_eq(tt_strerror(INTPTR_MIN), "error -9223372036854775808");
    ck_assert_str_eq(tt_strerror(INTPTR_MAX), "success");
    tu_assert_no_leaks();
}

static intptr_t main_in_task(void *arg)
{
    (void)arg;
    /* Bad arguments from a task of a running loop. */
    ck_assert_ptr_null(tt_spawn(NULL, NULL));
    ck_assert_ptr_null(tt_to_thread(NULL, NULL));
    tt_job_opts bad_flags = {.flags = 0x80};
    ck_assert_ptr_null(tt_to_thread_on(NULL, &bad_flags, body, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(tt_gather_future(NULL, 3, 0));
    tt_future *one = tt_future_new(NULL);
    ck_assert_ptr_null(tt_gather_future(&one, 1, 0x80)); /* unknown flag */
    tt_future *with_null[2] = {one, NULL};
    ck_assert_ptr_null(tt_gather_future(with_null, 2, 0));
    ck_assert_int_eq(tt_wait(&one, 1, (tt_when)42, 0), -EINVAL);
    ck_assert_int_eq(tt_wait(NULL, 1, TT_ALL_COMPLETED, 0), -EINVAL);
    ck_assert_int_eq(tt_on_done(one, NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_remove_done(one, NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_cancelling(one), -EINVAL); /* not a task */
    ck_assert_int_eq(tt_uncancel(one), -EINVAL);
    ck_assert_int_eq(tt_await(tt_ref(tt_current_task())), -EINVAL); /* itself: a deadlock */
    ck_assert_int_eq(tt_read(-1, NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(tt_write(3, NULL, 5, 0), -EINVAL);
    ck_assert_int_eq(tt_recv(3, NULL, 5, 0), -EINVAL);
    ck_assert_int_eq(tt_send(-2, "x", 1, 0), -EINVAL);
    ck_assert_int_eq(tt_accept(-1, NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_connect(3, NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_openat(0, NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(tt_close(-1), -EBADF);
    ck_assert_int_eq(tt_fsync(-1, 0), -EBADF);
    ck_assert_int_eq(tt_poll(-1, POLLIN), -EINVAL);
    /* A real but unsuitable descriptor gets the kernel's answer, never a crash. */
    char c;
    ck_assert_int_eq(tt_read(999999, &c, 1, -1), -EBADF);
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_exit(&t, 5), -EINVAL); /* never entered */
    tt_unref(one);
    ck_assert_ptr_null(tt_group_spawn(NULL, body, NULL));
    tt_group *g = tt_group_new();
    ck_assert_ptr_null(tt_group_spawn(g, NULL, NULL));
    ck_assert_int_eq(tt_group_join(g), 0);
    tt_group_free(g);
    ck_assert_ptr_null(tt_semaphore_new(UINT32_MAX));
    return 0;
}

static void bad_arguments_in_a_task(void)
{
    ck_assert_int_eq(tu_run(main_in_task, NULL), 0);
    tu_assert_no_leaks();
}

static void bad_options(void)
{
    tt_pool_opts po = {.min_threads = 3, .max_threads = 2};
    errno = 0;
    ck_assert_ptr_null(tt_pool_new(&po));
    ck_assert_int_eq(errno, EINVAL);
    tt_pool *p = tt_pool_new(NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tt_pool_shutdown(p, 0, 0x80), -EINVAL);
    ck_assert_int_eq(tt_pool_stats_get(p, NULL), -EINVAL);
    ck_assert_int_eq(tt_pool_free(p), 0);
    ck_assert_int_eq(tt_run(NULL, NULL, NULL), -EINVAL);
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(tt_call_soon(loop, NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_call_soon_threadsafe(loop, NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_call_later(loop, 0, NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_call_cancel(loop, 0), 0);
    ck_assert_int_eq(tt_call_cancel(loop, -EINVAL), 0); /* an error is never an id */
    ck_assert_int_eq(tt_call_cancel(loop, INT64_MAX), 0);
    int64_t dl = 5;
    ck_assert_int_eq(tt_loop_next_deadline(loop, NULL), -EINVAL);
    ck_assert_int_eq(tt_loop_next_deadline(loop, &dl), 0);
    ck_assert_int_eq(dl, TT_FOREVER);
    ck_assert_ptr_null(tt_loop_submit(loop, NULL, NULL));
    tt_task_opts big = {.stack_size = SIZE_MAX};
    ck_assert_ptr_null(tt_spawn_on(loop, &big, body, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(tt_loop_run_until(loop, NULL), -EINVAL);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}

/* 0.2: a NULL loop means the current loop in every call that takes one. */
static int CALLS;
static void count_cb(void *arg) { (void)arg; CALLS++; }
static intptr_t count_body(void *arg) { (void)arg; CALLS += 100; return 7; }

static void null_loop_is_the_current_loop(void)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    CALLS = 0;
    ck_assert_int_eq(tt_call_soon(NULL, count_cb, NULL), 0);
    ck_assert_int_eq(tt_call_soon_threadsafe(NULL, count_cb, NULL), 0);
    int64_t d = -5;
    ck_assert_int_eq(tt_loop_next_deadline(NULL, &d), 0);
    ck_assert_int_eq(d, 0); /* callbacks are ready */
    ck_assert_int_ge(tt_loop_run_once(NULL, 0), 1);
    ck_assert_int_eq(CALLS, 2);
    int64_t id = tt_call_later(NULL, TT_SEC(10), count_cb, NULL);
    ck_assert_int_gt(id, 0);
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_loop_next_deadline(NULL, &d), 0);
    ck_assert_int_ge(d, t0 + TT_SEC(9));
    ck_assert_int_eq(tt_call_cancel(NULL, id), 1);
    ck_assert_int_eq(tt_loop_next_deadline(NULL, &d), 0);
    ck_assert_int_eq(d, TT_FOREVER);
    int fd = tt_loop_fd(NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(tt_loop_fd(loop), fd);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_int_eq(tt_loop_dump(NULL, out), 0);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(buf, "0 task(s)"));
    free(buf);
    tt_cfuture *cf = tt_loop_submit(NULL, count_body, NULL);
    ck_assert_ptr_nonnull(cf);
    while (CALLS < 102)
        ck_assert_int_ge(tt_loop_run_once(NULL, TT_MS(100)), 0);
    tt_cfuture_free(cf);
    tt_future *f = tt_spawn_on(NULL, NULL, count_body, NULL);
    ck_assert_int_eq(tt_loop_run_until(NULL, f), 7);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
/* ------------------------------------------------------------ re-entrant calls */

static tt_loop *reent_loop;
static intptr_t reent_rc[4];

static intptr_t reent_task(void *arg)
{
    (void)arg;
    tt_loop *loop = tt_loop_current();
    ck_assert_int_eq(tt_loop_free(loop), -EPERM);
    ck_assert_int_eq(tt_loop_run_once(loop, 0), -EPERM);
    tt_future *f = tt_future_new(NULL);
    ck_assert_int_eq(tt_loop_run_until(loop, f), -EPERM); /* f consumed */
    ck_assert_int_eq(tt_run(body, NULL, NULL), -EBUSY);
    errno = 0;
    ck_assert_ptr_null(tt_loop_new(NULL));
    ck_assert_int_eq(errno, EBUSY);
    return 0;
}

static void from_a_task(void)
{
    ck_assert_int_eq(tu_run(reent_task, NULL), 0);
    tu_assert_no_leaks();
}

static void reent_cb(void *arg)
{
    (void)arg;
    reent_rc[0] = tt_loop_free(reent_loop);
    reent_rc[1] = tt_loop_run_once(reent_loop, 0);
    reent_rc[2] = tt_loop_run_until(reent_loop, tt_future_new(reent_loop));
}

static void from_a_callback(void)
{
    reent_loop = tt_loop_new(NULL);
    ck_assert_int_eq(tt_call_soon(reent_loop, reent_cb, NULL), 0);
    tt_future *t = tt_spawn_on(reent_loop, NULL, body, NULL);
    ck_assert_int_eq(tt_loop_run_until(reent_loop, t), 0);
    ck_assert_int_eq(reent_rc[0], -EPERM);
    ck_assert_int_eq(reent_rc[1], -EPERM);
    ck_assert_int_eq(reent_rc[2], -EPERM);
    ck_assert_int_eq(tt_loop_free(reent_loop), 0);
    tu_assert_no_leaks();
}

/* A done-callback of a job still running when main returns runs in tt_run's teardown. */
static intptr_t slow_job(void *arg) { (void)arg; usleep(10000); return 0; }
static void teardown_cb(tt_future *f, void *arg)
{
    (void)f;
    (void)arg;
    tt_loop *loop = tt_loop_current();
    reent_rc[0] = tt_loop_free(loop);
    reent_rc[1] = tt_loop_run_once(loop, 0);
    reent_rc[2] = tt_loop_run_until(loop, tt_future_new(loop));
    tt_future *t = tt_spawn(body, NULL); /* run or cancelled by the teardown */
    reent_rc[3] = t != NULL;
    tt_unref(t);
}
static intptr_t teardown_main(void *arg)
{
    (void)arg;
    tt_future *j = tt_to_thread(slow_job, NULL);
    ck_assert_int_eq(tt_on_done(j, teardown_cb, NULL), 0);
    tt_unref(j);
    return 0;
}

static void from_the_teardown(void)
{
    ck_assert_int_eq(tu_run(teardown_main, NULL), 0);
    ck_assert_int_eq(reent_rc[0], -EPERM);
    ck_assert_int_eq(reent_rc[1], -EPERM);
    ck_assert_int_eq(reent_rc[2], -EPERM);
    ck_assert_int_eq(reent_rc[3], 1);
    ck_assert_ptr_null(tt_loop_current());
    tu_assert_no_leaks();
}

static tt_pool *own_pool;
static intptr_t on_own_worker(void *arg)
{
    (void)arg;
    if (tt_pool_shutdown(own_pool, TT_FOREVER, 0) != -EDEADLK)
        return 1;
    if (tt_pool_free(own_pool) != -EDEADLK)
        return 2;
    return tt_pool_shutdown(own_pool, 0, 0) == -ETIMEDOUT ? 0 : 3; /* it runs: itself */
}
static intptr_t own_worker_main(void *arg)
{
    (void)arg;
    return tt_await(tt_to_thread_on(own_pool, NULL, on_own_worker, NULL));
}

static void from_a_pool_worker(void)
{
    own_pool = tt_pool_new(NULL);
    ck_assert_int_eq(tu_run(own_worker_main, NULL), 0);
    ck_assert_int_eq(tt_pool_free(own_pool), 0);
    tu_assert_no_leaks();
}

static intptr_t cfuture_self(void *arg)
{
    (void)arg;
    return 0;
}
static intptr_t cfuture_main(void *arg)
{
    (void)arg;
    tt_cfuture *cf = tt_loop_submit(tt_loop_current(), cfuture_self, NULL);
    ck_assert_ptr_nonnull(cf);
    ck_assert_int_eq(tt_cfuture_wait(cf, TT_FOREVER, NULL), -EPERM); /* would wait for itself */
    tt_cfuture_free(cf);
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_SEC(5)), 0);
    ck_assert_int_eq(tt_timeout_enter(&t, TT_SEC(5)), -EBUSY); /* already entered */
    ck_assert_int_eq(tt_timeout_exit(&t, 0), 0);
    ck_assert_int_eq(tt_timeout_exit(&t, 0), -EPERM); /* already exited */
    ck_assert_int_eq(tt_timeout_reschedule(&t, 0), -EPERM);
    return 0;
}

static void loop_thread_waits_and_scopes(void)
{
    ck_assert_int_eq(tu_run(cfuture_main, NULL), 0);
    tu_assert_no_leaks();
}

static void loop_options(void)
{
    tt_loop_opts big_ring = {.ring_entries = 1u << 20};
    errno = 0;
    ck_assert_ptr_null(tt_loop_new(&big_ring));
    ck_assert_int_eq(errno, EINVAL);
    tt_loop_opts big_stack = {.stack_size = SIZE_MAX};
    ck_assert_ptr_null(tt_loop_new(&big_stack));
    ck_assert_int_eq(errno, EINVAL);
    int64_t when = 0;
    ck_assert_int_eq(tt_timeout_when(NULL, &when), -EINVAL);
    ck_assert_int_eq(tt_timeout_expired(NULL), -EINVAL);
    ck_assert_int_eq(tt_timeout_enter_at(NULL, 0), -EINVAL);
    ck_assert_ptr_null(tt_try_to_thread(NULL, body, NULL));
    ck_assert_int_eq(errno, EPERM);
    tt_set_warn_handler(NULL, NULL);
    tu_assert_no_leaks();
}

/* ------------------------------------------------------------------- the sweep */

static const struct sweep_case {
    const char *name;
    void (*fn)(void);
} cases[] = {
    {"outside_any_loop", outside_any_loop},
    {"null_handles", null_handles},
    {"null_loop_is_the_current_loop", null_loop_is_the_current_loop},
    {"bad_arguments_in_a_task", bad_arguments_in_a_task},
    {"bad_options", bad_options},
    {"from_a_task", from_a_task},
    {"from_a_callback", from_a_callback},
    {"from_the_teardown", from_the_teardown},
    {"from_a_pool_worker", from_a_pool_worker},
    {"loop_thread_waits_and_scopes", loop_thread_waits_and_scopes},
    {"loop_options", loop_options},
};

START_TEST(sweep)
{
    fprintf(stderr, "bad_args: case %s\n", cases[_i].name); /* names the case of a crash */
    cases[_i].fn();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bad_args");
    TCase *tc = tcase_create("sweep");
    tcase_set_timeout(tc, 30); /* a hang is a failure of its case only */
    tcase_add_loop_test(tc, sweep, 0, (int)(sizeof cases / sizeof cases[0]));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK); /* one child per case, even with CK_FORK=no */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
