/* Shared helpers of the asyncio conformance ports (tests/conformance/c_*.c): a log of observable
 * lines compared as a whole with the expected ones, and renderers that print outcomes as the Python
 * scripts do (AppError('E1'), CancelledError('m')), so each log reads next to expected/CNNN.txt. */
#ifndef TT_CONFLOG_H
#define TT_CONFLOG_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

/* The scripts' AppError('E1') etc.: an application's own negative codes (tt_strerror names them
 * "error -1001"). */
#define E0 ((intptr_t)-1000)
#define E1 ((intptr_t)-1001)
#define E2 ((intptr_t)-1002)
#define E3 ((intptr_t)-1003)
#define E_CLEANUP ((intptr_t)-1010)
#define E_THREAD ((intptr_t)-1011)
#define E_SHUTDOWN ((intptr_t)-1012)

/* Results that are strings in the scripts are pointers to string literals cast to intptr_t:
 * user-space pointers are non-negative, so they read as successes. */
#define STR(s) ((intptr_t)(s))

/* One log per test process (Check forks per test); the mutex is there because a few scenarios
 * log from worker threads. */
static char cl_buf[32768];
static size_t cl_len;
static pthread_mutex_t cl_mutex = PTHREAD_MUTEX_INITIALIZER;

static inline void cl_reset(void)
{
    pthread_mutex_lock(&cl_mutex);
    cl_len = 0;
    cl_buf[0] = '\0';
    pthread_mutex_unlock(&cl_mutex);
}

/* Appends one line (a '\n' is added). */
static inline __attribute__((format(printf, 1, 2))) void cl_log(const char *fmt, ...)
{
    pthread_mutex_lock(&cl_mutex);
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof cl_buf - cl_len;
    int n = vsnprintf(cl_buf + cl_len, room, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 1 < room) {
        cl_len += (size_t)n;
        cl_buf[cl_len++] = '\n';
        cl_buf[cl_len] = '\0';
    }
    pthread_mutex_unlock(&cl_mutex);
}

/* The whole log must equal the expected text (lines joined with '\n', each terminated). */
#define cl_expect(text) ck_assert_str_eq(cl_buf, text)

/* Formatted strings live in a small ring of buffers, so a few may appear in one cl_log call.
 * noinline: callers then see an opaque pointer, so nested uses (a renderer formatting another
 * renderer's string) do not trip -Wrestrict at higher optimisation levels. */
static __attribute__((noinline, unused)) char *cl_scratch(void)
{
    static __thread char ring[16][512];
    static __thread unsigned next;
    return ring[next++ % 16];
}

static inline const char *cl_bool(int v) { return v ? "True" : "False"; }

static inline const char *cl_app_name(intptr_t code)
{
    switch (code) {
    case E0: return "E0";
    case E1: return "E1";
    case E2: return "E2";
    case E3: return "E3";
    case E_CLEANUP: return "E-cleanup";
    case E_THREAD: return "E-thread";
    case E_SHUTDOWN: return "E-shutdown";
    default: return NULL;
    }
}

/* An error as the scripts print it: AppError('E1'), CancelledError('m') / CancelledError(),
 * TimeoutError(); anything else as "errno N (text)". msg is the cancel message, if any. */
static inline const char *cl_err(intptr_t code, const char *msg)
{
    char *s = cl_scratch();
    const char *app = cl_app_name(code);
    if (app)
        snprintf(s, 512, "AppError('%s')", app);
    else if (code == -ECANCELED)
        snprintf(s, 512, msg ? "CancelledError('%s')" : "CancelledError()", msg);
    else if (code == -ETIMEDOUT)
        snprintf(s, 512, "TimeoutError()");
    else
        snprintf(s, 512, "errno %ld (%s)", (long)code, tt_strerror(code));
    return s;
}

/* A finished future's error, with its own cancel message. */
static inline const char *cl_ferr(const tt_future *f)
{
    return cl_err(tt_result(f), tt_cancel_message(f));
}

/* fmt_outcome of the scripts: "result 'v'" / "result 5" / "error AppError('E1')" / "cancelled"
 * / "pending". as_string: the result is a string literal pointer (STR). */
static inline const char *cl_outcome_x(const tt_future *f, int as_string)
{
    char *s = cl_scratch();
    if (!tt_done(f))
        return "pending";
    if (tt_cancelled(f))
        return "cancelled";
    intptr_t r = tt_result(f);
    if (r < 0)
        snprintf(s, 512, "error %s", cl_err(r, NULL));
    else if (as_string)
        snprintf(s, 512, "result '%s'", (const char *)r);
    else
        snprintf(s, 512, "result %ld", (long)r);
    return s;
}
static inline const char *cl_outcome_s(const tt_future *f) { return cl_outcome_x(f, 1); }
static inline const char *cl_outcome_i(const tt_future *f) { return cl_outcome_x(f, 0); }

/* The TaskGroup aggregate as the scripts print it: ExceptionGroup[AppError('E1'), ...] built from
 * tt_group_errors (completion order) plus, last, the body's own error (0: none) -- Python puts
 * the body's error last in the group (C060). */
static inline const char *cl_group_errors(tt_group *g, intptr_t body_err)
{
    tt_future *failed[16];
    size_t n = tt_group_errors(g, failed, 16);
    char *s = cl_scratch();
    size_t len = (size_t)snprintf(s, 512, "ExceptionGroup[");
    int first = 1;
    for (size_t i = 0; i < n && i < 16 && len < 400; i++) {
        len += (size_t)snprintf(s + len, 512 - len, "%s%s", first ? "" : ", ",
                                cl_err(tt_result(failed[i]), NULL));
        first = 0;
    }
    if (body_err < 0 && len < 400)
        len += (size_t)snprintf(s + len, 512 - len, "%s%s", first ? "" : ", ", cl_err(body_err, NULL));
    if (len < 510)
        snprintf(s + len, 512 - len, "]");
    return s;
}

/* A job of the scripts: sleep ms, then log (optionally) and return the value or fail with code. */
struct job {
    const char *value; /* returned as STR(value) */
    int ms;
    intptr_t fail;     /* 0, or the error to return */
    const char *done_log; /* printed on completion ("completed B" / "a completed"), or NULL */
};

static inline intptr_t job_run(void *arg)
{
    struct job *j = arg;
    intptr_t r = tt_sleep(TT_MS(j->ms));
    if (r < 0)
        return r;
    if (j->done_log)
        cl_log("%s", j->done_log);
    return j->fail ? j->fail : STR(j->value);
}

#endif
