/* Debug mode: the slow-step, never-retrieved and freed-with-tasks warnings through the handler,
 * TT_DEBUG from the environment, and tt_loop_dump's listing of live tasks. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char warned[8][512];
static int nwarned;

static void collect(const char *msg, void *arg)
{
    (void)arg;
    if (tu_backend_note(msg))
        return;
    if (nwarned < 8)
        snprintf(warned[nwarned], sizeof warned[0], "%s", msg);
    nwarned++;
}

static void reset_warnings(void)
{
    nwarned = 0;
    memset(warned, 0, sizeof warned);
    tt_set_warn_handler(collect, NULL);
}

static void busy_ms(int ms)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t1);
    while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static intptr_t hog(void *arg)
{
    (void)arg;
    busy_ms(150); /* over the 100 ms a step may take */
    ck_assert_int_eq(tt_yield(), 0);
    busy_ms(5); /* a short step: no warning */
    return 0;
}

static intptr_t main_hog(void *arg)
{
    (void)arg;
    tt_task_opts o = {.name = "cpu-hog"};
    return tt_await(tt_spawn_on(NULL, &o, hog, NULL));
}

static intptr_t run_debug(tt_fn fn, void *arg)
{
    tt_loop_opts o = {.debug = 1};
    tt_loop *loop = tt_loop_new(&o);
    ck_assert_ptr_nonnull(loop);
    intptr_t r = tt_loop_run_until(loop, tt_spawn_on(loop, NULL, fn, arg));
    ck_assert_int_eq(tt_loop_free(loop), 0);
    return r;
}

START_TEST(slow_step_names_the_task)
{
    reset_warnings();
    ck_assert_int_eq(run_debug(main_hog, NULL), 0);
    tt_set_warn_handler(NULL, NULL);
    ck_assert_int_eq(nwarned, 1);
    ck_assert_msg(strstr(warned[0], "task 'cpu-hog' ran ") && strstr(warned[0], "without suspending"),
                  "got: %s", warned[0]);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t fails(void *arg)
{
    (void)arg;
    return -1042;
}

static intptr_t main_unretrieved(void *arg)
{
    (void)arg;
    tt_task_opts o = {.name = "forgotten"};
    tt_future *t = tt_spawn_on(NULL, &o, fails, NULL);
    tt_future *read = tt_spawn(fails, NULL);
    tt_future *ok = tt_spawn(fails, NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    ck_assert_int_eq(tt_result(read), -1042); /* read: no warning */
    tt_unref(read);
    tt_unref(t); /* failed, never read: warned when released */
    ck_assert_int_eq(tt_await(ok), -1042); /* awaited: read */
    tt_future *f = tt_future_new(NULL);
    ck_assert_int_eq(tt_future_set(f, -1043), 0);
    tt_unref(f);
    tt_future *c = tt_future_new(NULL);
    ck_assert_int_eq(tt_cancel(c, NULL), 1); /* cancelled is not a failure to report */
    tt_unref(c);
    return 0;
}

START_TEST(never_retrieved_failures_are_reported)
{
    reset_warnings();
    ck_assert_int_eq(run_debug(main_unretrieved, NULL), 0);
    tt_set_warn_handler(NULL, NULL);
    ck_assert_int_eq(nwarned, 2);
    ck_assert_str_eq(warned[0], "task 'forgotten' failed with -1042 (error -1042) and nobody "
                                "retrieved it");
    ck_assert_str_eq(warned[1], "future failed with -1043 (error -1043) and nobody retrieved it");
    tu_assert_no_leaks();
}
END_TEST

static intptr_t sleeps(void *arg)
{
    (void)arg;
    return tt_sleep(TT_SEC(30));
}

START_TEST(free_with_tasks_alive_warns_and_refuses)
{
    reset_warnings();
    tt_loop_opts o = {.debug = 1};
    tt_loop *loop = tt_loop_new(&o);
    ck_assert_ptr_nonnull(loop);
    tt_task_opts to = {.name = "sleeper"};
    tt_future *t = tt_spawn_on(loop, &to, sleeps, NULL);
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 1); /* the task starts and sleeps */
    ck_assert_int_eq(tt_loop_free(loop), -EBUSY);
    ck_assert_int_eq(nwarned, 2);
    ck_assert_str_eq(warned[0], "tt_loop_free with 1 task(s) alive; the loop is kept");
    ck_assert_msg(strstr(warned[1], "alive: task 'sleeper' (sleeping, "), "got: %s", warned[1]);
    ck_assert_int_eq(tt_cancel(t, NULL), 1);
    ck_assert_int_eq(tt_loop_run_until(loop, t), -ECANCELED);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tt_set_warn_handler(NULL, NULL);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(debug_from_environment)
{
    reset_warnings();
    setenv("TT_DEBUG", "1", 1);
    tt_loop *loop = tt_loop_new(NULL);
    unsetenv("TT_DEBUG");
    ck_assert_ptr_nonnull(loop);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_future_set(f, -5), 0);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    ck_assert_int_eq(nwarned, 1);
    ck_assert_str_eq(warned[0], "future failed with -5 (Input/output error) and nobody retrieved it");
    /* Without debug mode, nothing is said. */
    loop = tt_loop_new(NULL);
    f = tt_future_new(loop);
    ck_assert_int_eq(tt_future_set(f, -5), 0);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    ck_assert_int_eq(nwarned, 1);
    tt_set_warn_handler(NULL, NULL);
    tu_assert_no_leaks();
}
END_TEST

/* ---------------------------------------------------------------------- dump */

static intptr_t waits_on(void *arg) { return tt_await(tt_ref(arg)); }

static char *dump_of(tt_loop *loop)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(tt_loop_dump(loop, out), 0);
    fclose(out);
    return buf;
}

START_TEST(dump_lists_every_task)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    tt_future *gate = tt_future_new(loop);
    tt_task_opts a = {.name = "napper"}, b = {.name = "waiter"}, c = {.name = "late"};
    tt_future *t1 = tt_spawn_on(loop, &a, sleeps, NULL);
    tt_future *t2 = tt_spawn_on(loop, &b, waits_on, gate);
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 2);
    tt_future *t3 = tt_spawn_on(loop, &c, sleeps, NULL);
    ck_assert_int_eq(tt_cancel(t1, "bye"), 1);
    char *d = dump_of(loop);
    /* the cancel took napper's timer off the heap: it is ready to see -ECANCELED */
    ck_assert_msg(strstr(d, ": 3 task(s), 0 timer(s), 0 job(s) in flight\n"), "%s", d);
    ck_assert_msg(strstr(d, " 'late': not started, cancelling=0\n"), "%s", d);
    ck_assert_msg(strstr(d, " 'waiter': awaiting future "), "%s", d);
    ck_assert_msg(strstr(d, " 'napper': ready, cancelling=1\n"), "%s", d);
    free(d);
    ck_assert_int_eq(tt_future_set(gate, 7), 0);
    ck_assert_int_eq(tt_loop_run_until(loop, t2), 7);
    ck_assert_int_eq(tt_loop_run_until(loop, t1), -ECANCELED);
    ck_assert_int_eq(tt_cancel(t3, NULL), 1);
    ck_assert_int_eq(tt_loop_run_until(loop, t3), -ECANCELED);
    d = dump_of(loop);
    ck_assert_msg(strstr(d, ": 0 task(s), 0 timer(s), 0 job(s) in flight\n"), "%s", d);
    free(d);
    tt_unref(gate);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

static void *dump_from_thread(void *loop)
{
    return (void *)(intptr_t)tt_loop_dump(loop, stderr);
}

START_TEST(dump_bad_input)
{
    ck_assert_int_eq(tt_loop_dump(NULL, stderr), -EPERM); /* NULL: the current loop, none */
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(tt_loop_dump(loop, NULL), -EINVAL);
    pthread_t th;
    void *rc;
    ck_assert_int_eq(pthread_create(&th, NULL, dump_from_thread, loop), 0);
    pthread_join(th, &rc);
    ck_assert_int_eq((intptr_t)rc, -EPERM);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

static Suite *debug_suite(void)
{
    Suite *s = suite_create("debug");
    TCase *tc = tcase_create("debug");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, slow_step_names_the_task);
    tcase_add_test(tc, never_retrieved_failures_are_reported);
    tcase_add_test(tc, free_with_tasks_alive_warns_and_refuses);
    tcase_add_test(tc, debug_from_environment);
    tcase_add_test(tc, dump_lists_every_task);
    tcase_add_test(tc, dump_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(debug_suite)
