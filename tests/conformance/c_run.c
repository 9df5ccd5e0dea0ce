/* Conformance, section 12 (C084-C087): tt_run (asyncio.run) hands back main's outcome, refuses to
 * nest, reports a leftover task that fails during the shutdown cancellation, and waits for worker
 * threads still running when main returns. */
#include "conflog.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------ C084 */

static intptr_t c084_ok(void *arg)
{
    (void)arg;
    intptr_t r = tt_sleep(0);
    return r < 0 ? r : 42;
}

static intptr_t c084_bad(void *arg)
{
    (void)arg;
    intptr_t r = tt_sleep(0);
    return r < 0 ? r : E1;
}

static intptr_t c084_inner(void *arg)
{
    (void)arg;
    return 1;
}

static intptr_t c084_nested(void *arg)
{
    (void)arg;
    intptr_t r = 0;
    int rc = tt_run(c084_inner, NULL, &r);
    /* Python: RuntimeError ("cannot be called from a running event loop"). C: tt_run on a thread
     * that already has a loop is -EBUSY (header). */
    cl_log("nested run -> EBUSY: %s", cl_bool(rc == -EBUSY));
    return 0;
}

static intptr_t c084_self_cancel(void *arg)
{
    (void)arg;
    tt_cancel(tt_current_task(), NULL);
    return tt_sleep(TT_SEC(1));
}

START_TEST(c084_run_result_error_misuse)
{
    cl_reset();
    intptr_t r = tu_run(c084_ok, NULL);
    cl_log("run(ok) -> %ld", (long)r);
    r = tu_run(c084_bad, NULL);
    cl_log("run(bad) raised %s", cl_err(r, NULL));
    tu_run(c084_nested, NULL);
    r = tu_run(c084_self_cancel, NULL);
    cl_log("run(self-cancelling main) raised %s", cl_err(r, NULL));
    cl_expect("run(ok) -> 42\n"
              "run(bad) raised AppError('E1')\n"
              "nested run -> EBUSY: True\n" /* Python: RuntimeError: True */
              "run(self-cancelling main) raised CancelledError()\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C086 */

/* C has no loop exception handler; the counterpart is debug mode's warning handler, which
 * DESIGN says reports a failed future released with its error never retrieved -- what a leftover
 * task failing during tt_run's shutdown cancellation is. The warning's wording is the
 * library's, so the port only checks that one warning names the leftover's code. */
static int c086_reported;

static void c086_handler(const char *msg, void *arg)
{
    (void)arg;
    char code[32];
    snprintf(code, sizeof code, "%ld", (long)E_SHUTDOWN);
    if (msg && strstr(msg, code) && !c086_reported++)
        cl_log("exception handler: unhandled error during shutdown | %s", cl_err(E_SHUTDOWN, NULL));
}

static intptr_t c086_leftover(void *arg)
{
    (void)arg;
    if (tt_sleep(TT_SEC(1)) == -ECANCELED)
        return E_SHUTDOWN;
    return 0;
}

static intptr_t c086_main(void *arg)
{
    (void)arg;
    tt_unref(tt_spawn(c086_leftover, NULL)); /* the loop keeps it alive */
    tt_sleep(0);
    return STR("main-result");
}

START_TEST(c086_leftover_error_reported_at_shutdown)
{
    cl_reset();
    setenv("TT_DEBUG", "1", 1);
    tt_set_warn_handler(c086_handler, NULL);
    intptr_t r = tu_run(c086_main, NULL);
    tt_set_warn_handler(NULL, NULL);
    unsetenv("TT_DEBUG");
    cl_log("run -> %s", r >= 0 ? (const char *)r : cl_err(r, NULL));
    cl_expect("exception handler: unhandled error during shutdown | AppError('E-shutdown')\n"
              "run -> main-result\n");
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------------------------ C087 */

static pthread_mutex_t c087_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c087_c = PTHREAD_COND_INITIALIZER;
static int c087_main_returning;

static intptr_t c087_blocking(void *arg)
{
    (void)arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&c087_m);
    while (!c087_main_returning && pthread_cond_timedwait(&c087_c, &c087_m, &until) == 0) {
    }
    pthread_mutex_unlock(&c087_m);
    usleep(50 * 1000);
    cl_log("function finished");
    return 1;
}

static intptr_t c087_waiter(void *arg)
{
    (void)arg;
    return tt_await(tt_to_thread(c087_blocking, NULL));
}

static intptr_t c087_main(void *arg)
{
    (void)arg;
    tt_unref(tt_spawn(c087_waiter, NULL));
    tt_sleep(TT_MS(10));
    cl_log("main returning while function runs");
    pthread_mutex_lock(&c087_m);
    c087_main_returning = 1;
    pthread_cond_broadcast(&c087_c);
    pthread_mutex_unlock(&c087_m);
    return STR("main-result");
}

START_TEST(c087_run_waits_for_worker_threads)
{
    cl_reset();
    intptr_t r = tu_run(c087_main, NULL);
    cl_log("run returned %s", r >= 0 ? (const char *)r : cl_err(r, NULL));
    cl_expect("main returning while function runs\n"
              "function finished\n"
              "run returned main-result\n");
    tu_assert_no_leaks();
}
END_TEST

static Suite *run_suite(void)
{
    Suite *s = suite_create("conformance-run");
    TCase *tc = tcase_create("run");
    tcase_add_test(tc, c084_run_result_error_misuse);
    tcase_add_test(tc, c086_leftover_error_reported_at_shutdown);
    tcase_add_test(tc, c087_run_waits_for_worker_threads);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(run_suite)
