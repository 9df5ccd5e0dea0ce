/* Shared helpers for the Check suites: leak checks against the live-object counters, a suite
 * runner, tests whose body runs as the main task, waiting inside a task, a job that blocks until
 * released, and pool statistics. */
#ifndef TT_TESTUTIL_H
#define TT_TESTUTIL_H

#include <check.h>
#include <stdatomic.h>
#include "tothread.h"

/* Asserts that every live-object counter (futures, tasks, stacks, jobs, loops, pools) is 0. */
#define tu_assert_no_leaks() tu_assert_no_leaks_at(__FILE__, __LINE__)
void tu_assert_no_leaks_at(const char *file, int line);

/* Runs fn(arg) as the main task of tt_run and returns its outcome (asserting tt_run == 0). */
intptr_t tu_run(tt_fn fn, void *arg);

/* How much of a big count to run: 1, or 0.1 in sanitizer builds (~10x slower); the
 * TT_TEST_SCALE environment variable overrides (e.g. 0.05). */
double tu_scale(void);

/* Runs the suite (forking per test unless CK_FORK=no) and returns the process exit code. */
int tu_run_suite(Suite *s);

/* A test whose body runs as the main task of tt_run (its argument is `arg`, NULL) and must
 * return expect; the live counters are checked after tt_run has returned:
 *     TU_TASK_TEST(name, 0) { ...; return 0; }                                             */
#define TU_TASK_TEST(name, expect)                                                           \
    static intptr_t name##_body(void *arg);                                                  \
    START_TEST(name)                                                                         \
    {                                                                                        \
        ck_assert_int_eq(tu_run(name##_body, NULL), (expect));                               \
        tu_assert_no_leaks();                                                                \
    }                                                                                        \
    END_TEST                                                                                 \
    static intptr_t name##_body(void *arg __attribute__((unused)))

/* Inside a task: waits (suspending) until cond becomes true, up to ~10 s. */
#define WAIT_FOR(cond)                                                                       \
    do {                                                                                     \
        for (int w_ = 0; w_ < 5000 && !(cond); w_++)                                         \
            ck_assert_int_eq(tt_sleep(TT_MS(2)), 0);                                         \
        ck_assert_msg((cond), "timed out waiting for %s", #cond);                            \
    } while (0)

/* A job that blocks until released (or ~10 s): lets a test hold a worker busy as long as it
 * wants. tu_gate_fn(&gate) records that it started, whether it saw tt_job_cancelled, that it
 * finished, and returns value. */
typedef struct tu_gate {
    atomic_int started, release, finished, saw_cancelled;
    intptr_t value;
} tu_gate;
intptr_t tu_gate_fn(void *gate);

/* A test's trace: tu_trace appends printf-style text (asserting it fits in 1 KiB); tu_trace_get
 * is the text so far, tu_trace_len its length; tu_trace_reset empties it. One thread. */
void tu_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *tu_trace_get(void);
size_t tu_trace_len(void);
void tu_trace_reset(void);

/* Whether a warning is AUTO's one note that io_uring was refused (debug mode, where io_uring is
 * refused, e.g. under tests/no_uring): tests that count warnings skip it. */
int tu_backend_note(const char *msg);

/* Runs fn in a forked child with its stderr captured into err (NUL-terminated), and an alarm of
 * alarm_s seconds when > 0; returns the child's wait status. */
int tu_run_child(void (*fn)(void), char *err, size_t errlen, unsigned alarm_s);

/* The pool's statistics (asserting tt_pool_stats_get succeeded). */
tt_pool_stats tu_pool_stats(tt_pool *p);

#define TU_MAIN(make_suite) \
    int main(void) { return tu_run_suite(make_suite()); }

#endif
