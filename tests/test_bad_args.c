/* Every public function, called with NULL or out-of-range arguments, from outside any loop and
 * from inside a task: each returns its documented error (never crashes) and leaks nothing. */
#include "testutil.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

/* The 0.1 flag names still compile and mean the same (kept as aliases for 0.2). */
_Static_assert(TT_ABANDON_ON_CANCEL == TT_JOB_ABANDON_ON_CANCEL, "job flag alias");
_Static_assert(TT_RETURN_ERRORS == TT_GATHER_RETURN_ERRORS, "gather flag alias");

static void noop_cb(void *arg) { (void)arg; }
static void noop_done(tt_future *f, void *arg) { (void)f; (void)arg; }
static intptr_t body(void *arg) { (void)arg; return 0; }

/* Calls that need a loop or a task: -EPERM (or NULL + EPERM) without one. */
START_TEST(outside_any_loop)
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
END_TEST

/* NULL handles everywhere: -EINVAL, NULL, 0 or nothing, as documented. */
START_TEST(null_handles)
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
END_TEST

TU_TASK_TEST(bad_arguments_in_a_task, 0)
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

START_TEST(bad_options)
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
END_TEST

/* 0.2: a NULL loop means the current loop in every call that takes one. */
static int CALLS;
static void count_cb(void *arg) { (void)arg; CALLS++; }
static intptr_t count_body(void *arg) { (void)arg; CALLS += 100; return 7; }

START_TEST(null_loop_is_the_current_loop)
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
END_TEST

static Suite *bad_args_suite(void)
{
    Suite *s = suite_create("bad_args");
    TCase *tc = tcase_create("bad_args");
    tcase_add_test(tc, outside_any_loop);
    tcase_add_test(tc, null_handles);
    tcase_add_test(tc, null_loop_is_the_current_loop);
    tcase_add_test(tc, bad_arguments_in_a_task);
    tcase_add_test(tc, bad_options);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(bad_args_suite)
