/* Unit suite for what a new user needs on day one (0.2): tt_run_with's loop options, the loop's
 * default pool (tt_loop_pool), and a one-thread pool that runs every job on the same OS thread. */
#define _GNU_SOURCE
#include "testutil.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static intptr_t job_tid(void *arg)
{
    (void)arg;
    return (intptr_t)syscall(SYS_gettid);
}

static intptr_t square(void *arg) { return (intptr_t)arg * (intptr_t)arg; }

/* ------------------------------------------------------------------------- tt_run_with */

static tt_pool *APP_POOL;
static intptr_t main_with_options(void *arg)
{
    (void)arg;
    ck_assert_ptr_eq(tt_loop_pool(NULL), APP_POOL); /* the pool given in the options */
    ck_assert_int_eq(tt_await(tt_to_thread(square, (void *)7)), 49);
    /* stack_size 1 MiB: a body with a 512 KiB frame runs (the default 64 KiB would not). */
    volatile char big[512 * 1024];
    memset((char *)big, 1, sizeof big);
    return big[4242] + 100;
}

START_TEST(run_with_options)
{
    APP_POOL = tt_pool_new(&(tt_pool_opts){.max_threads = 2});
    ck_assert_ptr_nonnull(APP_POOL);
    tt_loop_opts o = {.ring_entries = 64, .pool = APP_POOL, .stack_size = 1 << 20};
    intptr_t r = 0;
    ck_assert_int_eq(tt_run_with(main_with_options, NULL, &r, &o), 0);
    ck_assert_int_eq(r, 101);
    /* The application's pool is neither shut down nor freed by tt_run_with. */
    tt_pool_stats st;
    ck_assert_int_eq(tt_pool_stats_get(APP_POOL, &st), 0);
    ck_assert_uint_eq(st.completed, 1);
    ck_assert_int_eq(tt_pool_free(APP_POOL), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(run_with_bad_options)
{
    tt_loop_opts o = {.ring_entries = 1u << 20};
    ck_assert_int_eq(tt_run_with(main_with_options, NULL, NULL, &o), -EINVAL);
    ck_assert_int_eq(tt_run_with(NULL, NULL, NULL, NULL), -EINVAL);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------ tt_loop_pool */

static intptr_t main_default_pool(void *arg)
{
    (void)arg;
    tt_pool *p = tt_loop_pool(NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_eq(tt_loop_pool(tt_loop_current()), p); /* the same, created once */
    tt_pool_stats st;
    ck_assert_int_eq(tt_pool_stats_get(p, &st), 0);
    ck_assert_uint_eq(st.completed, 0);
    ck_assert_int_eq(tt_await(tt_to_thread(square, (void *)3)), 9);
    ck_assert_int_eq(tt_await(tt_to_thread_on(p, NULL, square, (void *)4)), 16);
    ck_assert_int_eq(tt_pool_stats_get(p, &st), 0);
    ck_assert_uint_eq(st.completed, 2); /* tt_to_thread used this pool */
    ck_assert_uint_ge(st.threads, 1);
    return 0;
}

START_TEST(loop_default_pool_getter)
{
    errno = 0;
    ck_assert_ptr_null(tt_loop_pool(NULL)); /* no loop on this thread */
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(tu_run(main_default_pool, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ----------------------------------------------------------- one-thread pool affinity */

static tt_pool *ONE;
static intptr_t main_same_thread(void *arg)
{
    (void)arg;
    intptr_t first = tt_await(tt_to_thread_on(ONE, NULL, job_tid, NULL));
    ck_assert_int_gt(first, 0);
    ck_assert_int_ne(first, (intptr_t)syscall(SYS_gettid)); /* not the loop's thread */
    for (int i = 0; i < 5; i++) {
        /* Idle far longer than idle_timeout: the one worker still does not retire. */
        ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
        ck_assert_int_eq(tt_await(tt_to_thread_on(ONE, NULL, job_tid, NULL)), first);
    }
    tt_pool_stats st;
    ck_assert_int_eq(tt_pool_stats_get(ONE, &st), 0);
    ck_assert_uint_eq(st.threads, 1);
    ck_assert_uint_eq(st.completed, 6);
    return 0;
}

START_TEST(one_thread_pool_runs_every_job_on_the_same_thread)
{
    ONE = tt_pool_new(&(tt_pool_opts){.min_threads = 1, .max_threads = 1,
                                      .idle_timeout = TT_MS(1)});
    ck_assert_ptr_nonnull(ONE);
    ck_assert_int_eq(tu_run(main_same_thread, NULL), 0);
    ck_assert_int_eq(tt_pool_free(ONE), 0);
    tu_assert_no_leaks();
}
END_TEST

static Suite *run_options_suite(void)
{
    Suite *s = suite_create("run-options");
    TCase *tc = tcase_create("run-options");
    tcase_add_test(tc, run_with_options);
    tcase_add_test(tc, run_with_bad_options);
    tcase_add_test(tc, loop_default_pool_getter);
    tcase_add_test(tc, one_thread_pool_runs_every_job_on_the_same_thread);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(run_options_suite)
