/* Conformance, section 11 (C079-C082): a blocking call runs on a worker thread and its result or
 * error reaches the awaiting task; several calls run at the same time; the loop keeps running
 * other tasks while a call blocks. */
#include "conflog.h"

#include <time.h>

/* Waits on cond until pred is true or 5 s pass (Python's Event.wait(5) / Barrier(timeout=5)),
 * so a serialising pool fails the test instead of hanging it. Returns 1 if pred became true. */
static int wait_pred(pthread_mutex_t *m, pthread_cond_t *c, const int *pred)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    int rc = 0;
    while (!*pred && rc == 0)
        rc = pthread_cond_timedwait(c, m, &until);
    return *pred;
}

/* ------------------------------------------------------------------------------ C079 */

struct c079_add {
    intptr_t a, b;
    pthread_t ran_on;
};

static intptr_t c079_add(void *arg)
{
    struct c079_add *x = arg;
    x->ran_on = pthread_self();
    return x->a + x->b;
}

static intptr_t c079_fail(void *arg)
{
    (void)arg;
    return E_THREAD;
}

static intptr_t c079_fail_task(void *arg)
{
    (void)arg;
    return tt_await(tt_to_thread(c079_fail, NULL));
}

static intptr_t c079_main(void *arg)
{
    (void)arg;
    struct c079_add x = {40, 2, pthread_self()};
    pthread_t loop_thread = pthread_self();
    intptr_t v = tt_await(tt_to_thread(c079_add, &x));
    cl_log("result %ld | ran on another thread: %s", (long)v,
           cl_bool(!pthread_equal(x.ran_on, loop_thread)));
    tt_future *t = tt_spawn(c079_fail_task, NULL);
    intptr_t r = tt_await(tt_ref(t));
    cl_log("awaiter got %s", cl_err(r, NULL));
    cl_log("task: %s", cl_outcome_i(t));
    tt_unref(t);
    return 0;
}

START_TEST(c079_to_thread_result_and_error)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c079_main, NULL), 0);
    cl_expect("result 42 | ran on another thread: True\n"
              "awaiter got AppError('E-thread')\n"
              "task: error AppError('E-thread')\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C081 */

/* A 3-party barrier with a timeout: it opens only if the three calls run at the same time. */
static pthread_mutex_t c081_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c081_c = PTHREAD_COND_INITIALIZER;
static int c081_arrived, c081_open;

static intptr_t c081_blocking(void *v)
{
    pthread_mutex_lock(&c081_m);
    if (++c081_arrived == 3) {
        c081_open = 1;
        pthread_cond_broadcast(&c081_c);
    }
    int ok = wait_pred(&c081_m, &c081_c, &c081_open);
    pthread_mutex_unlock(&c081_m);
    if (!ok)
        return -EDEADLK; /* BrokenBarrierError: the calls were serialised */
    return (intptr_t)v * 10;
}

static intptr_t c081_main(void *arg)
{
    (void)arg;
    tt_future *fs[3];
    for (intptr_t i = 0; i < 3; i++)
        fs[i] = tt_to_thread(c081_blocking, (void *)(i + 1));
    intptr_t res[3] = {0};
    int rc = tt_gather(fs, 3, res, 0);
    if (rc == 0)
        cl_log("results [%ld, %ld, %ld]", (long)res[0], (long)res[1], (long)res[2]);
    else
        cl_log("gather failed %s", cl_err(rc, NULL));
    for (int i = 0; i < 3; i++)
        tt_unref(fs[i]);
    return 0;
}

START_TEST(c081_to_thread_calls_run_concurrently)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c081_main, NULL), 0);
    cl_expect("results [10, 20, 30]\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C082 */

static pthread_mutex_t c082_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c082_c = PTHREAD_COND_INITIALIZER;
static int c082_released;

static intptr_t c082_blocking(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&c082_m);
    int ok = wait_pred(&c082_m, &c082_c, &c082_released);
    pthread_mutex_unlock(&c082_m);
    return ok ? STR("released") : STR("timed-out");
}

static intptr_t c082_ticker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        intptr_t r = tt_sleep(TT_MS(10));
        if (r < 0)
            return r;
        cl_log("tick %d", i);
    }
    pthread_mutex_lock(&c082_m);
    c082_released = 1;
    pthread_cond_broadcast(&c082_c);
    pthread_mutex_unlock(&c082_m);
    return 0;
}

static intptr_t c082_main(void *arg)
{
    (void)arg;
    tt_future *fs[] = {tt_to_thread(c082_blocking, NULL), tt_spawn(c082_ticker, NULL)};
    intptr_t res[2] = {0};
    int rc = tt_gather(fs, 2, res, 0);
    if (rc == 0)
        cl_log("function -> %s", (const char *)res[0]);
    else
        cl_log("gather failed %s", cl_err(rc, NULL));
    tt_unref(fs[0]);
    tt_unref(fs[1]);
    return 0;
}

START_TEST(c082_loop_not_blocked_by_to_thread)
{
    cl_reset();
    ck_assert_int_eq(tu_run(c082_main, NULL), 0);
    cl_expect("tick 0\n"
              "tick 1\n"
              "tick 2\n"
              "function -> released\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *to_thread_suite(void)
{
    Suite *s = suite_create("conformance-to-thread");
    TCase *tc = tcase_create("to_thread");
    tcase_add_test(tc, c079_to_thread_result_and_error);
    tcase_add_test(tc, c081_to_thread_calls_run_concurrently);
    tcase_add_test(tc, c082_loop_not_blocked_by_to_thread);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(to_thread_suite)
