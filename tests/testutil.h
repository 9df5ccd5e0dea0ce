/* Shared helpers for the Check suites: leak checks against the live-object counters, a suite
 * runner, and small conveniences for running a body as a task on a fresh loop. */
#ifndef TT_TESTUTIL_H
#define TT_TESTUTIL_H

#include <check.h>
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

#define TU_MAIN(make_suite) \
    int main(void) { return tu_run_suite(make_suite()); }

#endif
