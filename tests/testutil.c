/* Implementation of the test helpers declared in testutil.h. */
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void tu_assert_no_leaks_at(const char *file, int line)
{
    tt_live l;
    tt_live_get(&l);
    ck_assert_msg(l.futures == 0 && l.tasks == 0 && l.stacks == 0 && l.jobs == 0 && l.loops == 0 &&
                      l.pools == 0,
                  "%s:%d leaked: futures=%ld tasks=%ld stacks=%ld jobs=%ld loops=%ld pools=%ld", file,
                  line, l.futures, l.tasks, l.stacks, l.jobs, l.loops, l.pools);
}

intptr_t tu_run(tt_fn fn, void *arg)
{
    intptr_t r = -1;
    int rc = tt_run(fn, arg, &r);
    ck_assert_int_eq(rc, 0);
    return r;
}

double tu_scale(void)
{
    const char *e = getenv("TT_TEST_SCALE");
    if (e && *e)
        return atof(e);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return 0.1;
#else
    return 1.0;
#endif
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

intptr_t tu_gate_fn(void *p)
{
    tu_gate *g = p;
    atomic_store(&g->started, 1);
    for (int i = 0; i < 20000 && !atomic_load(&g->release); i++)
        usleep(500);
    if (tt_job_cancelled())
        atomic_store(&g->saw_cancelled, 1);
    atomic_store(&g->finished, 1);
    return g->value;
}

tt_pool_stats tu_pool_stats(tt_pool *p)
{
    tt_pool_stats s;
    ck_assert_int_eq(tt_pool_stats_get(p, &s), 0);
    return s;
}

static char trace_buf[1024];
static size_t trace_n;

void tu_trace(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(trace_buf + trace_n, sizeof trace_buf - trace_n, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(k, 0);
    ck_assert_uint_lt(trace_n + (size_t)k, sizeof trace_buf);
    trace_n += (size_t)k;
}

const char *tu_trace_get(void) { return trace_buf; }

size_t tu_trace_len(void) { return trace_n; }

void tu_trace_reset(void)
{
    trace_n = 0;
    trace_buf[0] = 0;
}

int tu_backend_note(const char *msg) { return strstr(msg, "io_uring_setup failed with") != NULL; }

int tu_run_child(void (*fn)(void), char *err, size_t errlen, unsigned alarm_s)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], 2);
        if (alarm_s)
            alarm(alarm_s);
        fn();
        _exit(0);
    }
    close(pfd[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < errlen && (n = read(pfd[0], err + got, errlen - 1 - got)) > 0)
        got += (size_t)n;
    err[got] = 0;
    close(pfd[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}
