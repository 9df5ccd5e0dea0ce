/* Unit suite for tt_gather and tt_gather_future: input order, TT_GATHER_RETURN_ERRORS, the first
 * failure returned at once, duplicates, empty input, cancellation fan-out (with its message,
 * ending only after the children), gathers of gathers, and errors counted as retrieved. */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* A child task: sleeps ms, then returns result. If cancelled it returns -ECANCELED, or, with
 * swallow_ms, cleans up for that long and returns result anyway. */
typedef struct child {
    int ms;
    intptr_t result;
    int swallow_ms;
    int was_cancelled;
} child;

static intptr_t child_fn(void *arg)
{
    child *c = arg;
    intptr_t r = tt_sleep(TT_MS(c->ms));
    if (r == -ECANCELED) {
        c->was_cancelled = 1;
        if (!c->swallow_ms)
            return r;
        ck_assert_int_eq(tt_sleep(TT_MS(c->swallow_ms)), 0);
    }
    return c->result;
}

static tt_future *spawn_child(child *c)
{
    tt_future *t = tt_spawn(child_fn, c);
    ck_assert_ptr_nonnull(t);
    return t;
}

static void unref_all(tt_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tt_unref(fs[i]);
}

static void cancel_cb(void *f) { tt_cancel(f, NULL); }

static void run_main(tt_fn fn)
{
    ck_assert_int_eq(tu_run(fn, NULL), 0);
    tu_assert_no_leaks();
}

/* ------------------------------------------------------------------ order */

static intptr_t main_order(void *arg)
{
    (void)arg;
    child c[3] = {{.ms = 30, .result = 1}, {.ms = 10, .result = 2}, {.ms = 20, .result = 3}};
    tt_future *fs[3];
    for (int i = 0; i < 3; i++)
        fs[i] = spawn_child(&c[i]);
    intptr_t res[3] = {-1, -1, -1};
    ck_assert_int_eq(tt_gather(fs, 3, res, 0), 0);
    ck_assert_int_eq(res[0], 1);
    ck_assert_int_eq(res[1], 2);
    ck_assert_int_eq(res[2], 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tt_done(fs[i]), 1);
    /* Done children: returns at once, results NULL allowed. */
    ck_assert_int_eq(tt_gather(fs, 3, NULL, 0), 0);
    unref_all(fs, 3);
    return 0;
}

START_TEST(results_in_input_order) { run_main(main_order); }
END_TEST

static intptr_t main_plain(void *arg)
{
    (void)arg;
    tt_loop *loop = tt_loop_current();
    tt_future *fs[2] = {tt_future_new(NULL), tt_future_new(NULL)};
    ck_assert_int_eq(tt_future_set(fs[1], 8), 0);
    /* Plain futures completed by someone else (here a timer) work too. */
    ck_assert(tt_call_later(loop, TT_MS(5), cancel_cb, fs[0]) > 0);
    intptr_t res[2];
    ck_assert_int_eq(tt_gather(fs, 2, res, TT_GATHER_RETURN_ERRORS), 0);
    ck_assert_int_eq(res[0], -ECANCELED);
    ck_assert_int_eq(res[1], 8);
    unref_all(fs, 2);
    return 0;
}

START_TEST(plain_futures) { run_main(main_plain); }
END_TEST

static intptr_t main_return_errors(void *arg)
{
    (void)arg;
    child c[4] = {{.ms = 5, .result = 1}, {.ms = 10, .result = -EIO}, {.ms = 1000, .result = 3},
                  {.ms = 20, .result = 4}};
    tt_future *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = spawn_child(&c[i]);
    ck_assert_int_eq(tt_cancel(fs[2], NULL), 1); /* cancelled before it starts */
    intptr_t res[4];
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_gather(fs, 4, res, TT_GATHER_RETURN_ERRORS), 0);
    ck_assert_int_ge(tt_now() - t0, TT_MS(19)); /* waited for all */
    ck_assert_int_eq(res[0], 1);
    ck_assert_int_eq(res[1], -EIO);
    ck_assert_int_eq(res[2], -ECANCELED);
    ck_assert_int_eq(res[3], 4);
    unref_all(fs, 4);
    return 0;
}

START_TEST(return_errors_waits_for_all) { run_main(main_return_errors); }
END_TEST

static intptr_t main_first_failure(void *arg)
{
    (void)arg;
    child c[3] = {{.ms = 300, .result = 2}, {.ms = 10, .result = -EIO}, {.ms = 20, .result = -EPIPE}};
    tt_future *fs[3];
    for (int i = 0; i < 3; i++)
        fs[i] = spawn_child(&c[i]);
    int64_t t0 = tt_now();
    ck_assert_int_eq(tt_gather(fs, 3, NULL, 0), -EIO);
    ck_assert_int_lt(tt_now() - t0, TT_MS(250)); /* at once, not after the slow one */
    ck_assert_int_eq(tt_done(fs[0]), 0);         /* the others keep running */
    ck_assert_int_eq(tt_cancelled(fs[0]), 0);
    ck_assert_int_eq(tt_await(tt_ref(fs[0])), 2);
    ck_assert_int_eq(c[0].was_cancelled, 0);
    ck_assert_int_eq(tt_result(fs[2]), -EPIPE);
    unref_all(fs, 3);
    return 0;
}

START_TEST(first_failure_returned_at_once) { run_main(main_first_failure); }
END_TEST

/* tt_gather writes each child's result as the child reports. Returned at the first failure, it
 * has written what tt_result says of the others then, and nothing after it returned: the caller
 * may have reused the array by the time they end. */
static intptr_t main_results_of_early_return(void *arg)
{
    (void)arg;
    child c[3] = {{.ms = 200, .result = 2}, {.ms = 1, .result = -EIO}, {.ms = 150, .result = -EPIPE}};
    tt_future *fs[3];
    for (int i = 0; i < 3; i++)
        fs[i] = spawn_child(&c[i]);
    intptr_t res[3] = {7, 7, 7};
    ck_assert_int_eq(tt_gather(fs, 3, res, 0), -EIO);
    ck_assert_int_eq(res[0], -EAGAIN);
    ck_assert_int_eq(res[1], -EIO);
    ck_assert_int_eq(res[2], -EAGAIN);
    for (int i = 0; i < 3; i++)
        res[i] = 77; /* reused */
    ck_assert_int_eq(tt_await(tt_ref(fs[0])), 2);
    ck_assert_int_eq(tt_await(tt_ref(fs[2])), -EPIPE);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0); /* the gather's last members have run */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(res[i], 77);
    unref_all(fs, 3);
    return 0;
}

START_TEST(results_of_an_early_return) { run_main(main_results_of_early_return); }
END_TEST

static intptr_t main_cancelled_child(void *arg)
{
    (void)arg;
    tt_future *fs[2] = {tt_future_new(NULL), tt_future_new(NULL)};
    ck_assert(tt_call_later(tt_loop_current(), TT_MS(5), cancel_cb, fs[0]) > 0);
    ck_assert_int_eq(tt_gather(fs, 2, NULL, 0), -ECANCELED);
    ck_assert_int_eq(tt_cancelled(fs[0]), 1);
    ck_assert_int_eq(tt_done(fs[1]), 0); /* not touched */
    ck_assert_int_eq(tt_future_set(fs[1], 1), 0);
    unref_all(fs, 2);
    return 0;
}

START_TEST(cancelled_child_counts_as_failure) { run_main(main_cancelled_child); }
END_TEST

static intptr_t main_duplicates(void *arg)
{
    (void)arg;
    child c[2] = {{.ms = 5, .result = 11}, {.ms = 1, .result = 22}};
    tt_future *a = spawn_child(&c[0]), *b = spawn_child(&c[1]);
    tt_future *fs[4] = {a, b, a, a};
    intptr_t res[4] = {0};
    ck_assert_int_eq(tt_gather(fs, 4, res, 0), 0);
    ck_assert_int_eq(res[0], 11);
    ck_assert_int_eq(res[1], 22);
    ck_assert_int_eq(res[2], 11);
    ck_assert_int_eq(res[3], 11);
    tt_unref(a);
    tt_unref(b);
    return 0;
}

START_TEST(duplicates_fill_every_slot) { run_main(main_duplicates); }
END_TEST

static intptr_t main_empty(void *arg)
{
    (void)arg;
    ck_assert_int_eq(tt_gather(NULL, 0, NULL, 0), 0);
    intptr_t r;
    ck_assert_int_eq(tt_gather(NULL, 0, &r, TT_GATHER_RETURN_ERRORS), 0);
    tt_future *g = tt_gather_future(NULL, 0, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(tt_done(g), 1);
    ck_assert_int_eq(tt_result(g), 0);
    ck_assert_int_eq(tt_await(g), 0);
    /* Bad input. */
    ck_assert_int_eq(tt_gather(NULL, 2, NULL, 0), -EINVAL);
    tt_future *withnull[2] = {NULL, NULL};
    ck_assert_int_eq(tt_gather(withnull, 2, NULL, 0), -EINVAL);
    errno = 0;
    ck_assert_ptr_null(tt_gather_future(NULL, 3, 0));
    ck_assert_int_eq(errno, EINVAL);
    /* A bad child after good ones (done, pending, twice the same): nothing stays registered. */
    tt_future *done = tt_future_new(NULL), *pending = tt_future_new(NULL);
    ck_assert_int_eq(tt_future_set(done, 4), 0);
    tt_future *mixed[5] = {done, pending, pending, done, NULL};
    errno = 0;
    ck_assert_ptr_null(tt_gather_future(mixed, 5, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(tt_gather(mixed, 5, NULL, 0), -EINVAL);
    ck_assert_int_eq(tt_future_set(pending, 5), 0);
    ck_assert_int_eq(tt_yield(), 0); /* a callback left behind would run here */
    /* The same children without the bad one still gather. */
    intptr_t res[4];
    ck_assert_int_eq(tt_gather(mixed, 4, res, 0), 0);
    ck_assert_int_eq(res[0], 4);
    ck_assert_int_eq(res[1], 5);
    ck_assert_int_eq(res[2], 5);
    ck_assert_int_eq(res[3], 4);
    tt_unref(done);
    tt_unref(pending);
    return 0;
}

START_TEST(empty_and_bad_input) { run_main(main_empty); }
END_TEST

/* A bad child found after good ones (done, pending, twice the same) leaves nothing behind: no
 * callback runs when the good ones complete later, and they still gather afterwards. */
START_TEST(bad_child_after_good_ones_leaves_no_callback)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *done = tt_future_new(loop), *pending = tt_future_new(loop);
    ck_assert_int_eq(tt_future_set(done, 4), 0);
    tt_future *mixed[5] = {done, pending, pending, done, NULL};
    errno = 0;
    ck_assert_ptr_null(tt_gather_future(mixed, 5, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(tt_future_set(pending, 5), 0);
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 0); /* nothing was left registered */
    tt_future *g = tt_gather_future(mixed, 4, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(tt_loop_run_until(loop, g), 0);
    tt_unref(done);
    tt_unref(pending);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(gather_outside_task_is_eperm)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_future_set(f, 1), 0);
    ck_assert_int_eq(tt_gather(&f, 1, NULL, 0), -EPERM);
    /* The composable form needs no task. */
    tt_future *g = tt_gather_future(&f, 1, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(tt_loop_run_until(loop, g), 0);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------ cancellation */

static intptr_t main_cancel_fanout(void *arg)
{
    unsigned flags = (unsigned)(uintptr_t)arg;
    child c[3] = {{.ms = 5000, .result = 1}, {.ms = 5000, .result = 5, .swallow_ms = 150},
                  {.ms = 1, .result = 7}};
    tt_future *fs[3];
    for (int i = 0; i < 3; i++)
        fs[i] = spawn_child(&c[i]);
    tt_future *g = tt_gather_future(fs, 3, flags);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(tt_sleep(TT_MS(20)), 0); /* c[2] is done, the others sleep */
    ck_assert_int_eq(tt_done(fs[2]), 1);
    ck_assert_int_eq(tt_cancel(g, "halt"), 1);
    ck_assert_int_eq(tt_done(g), 0); /* ends only after the children have */
    ck_assert_int_eq(tt_cancelling(fs[0]), 1);
    ck_assert_int_eq(tt_cancelling(fs[1]), 1);
    ck_assert_str_eq(tt_cancel_message(fs[0]), "halt");
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    ck_assert_int_eq(tt_done(fs[0]), 1);
    ck_assert_int_eq(tt_done(fs[1]), 0); /* still cleaning up */
    ck_assert_int_eq(tt_done(g), 0);
    ck_assert_int_eq(tt_await(tt_ref(g)), -ECANCELED);
    ck_assert_int_eq(tt_done(fs[1]), 1);
    ck_assert_int_eq(tt_cancelled(g), 1);
    ck_assert_int_eq(tt_cancelled(fs[0]), 1);
    ck_assert_str_eq(tt_cancel_message(fs[0]), "halt");
    ck_assert_int_eq(c[0].was_cancelled, 1);
    ck_assert_int_eq(c[1].was_cancelled, 1);
    ck_assert_int_eq(tt_result(fs[1]), 5); /* swallowed: its own result */
    ck_assert_int_eq(tt_result(fs[2]), 7); /* was done: untouched */
    ck_assert_int_eq(tt_cancel(g, NULL), 0);
    tt_unref(g);
    unref_all(fs, 3);
    return 0;
}

START_TEST(cancel_fans_out_with_message)
{
    ck_assert_int_eq(tu_run(main_cancel_fanout, (void *)0), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(cancel_fans_out_return_errors)
{
    ck_assert_int_eq(tu_run(main_cancel_fanout, (void *)(uintptr_t)TT_GATHER_RETURN_ERRORS), 0);
    tu_assert_no_leaks();
}
END_TEST

typedef struct gatherer {
    child c[2];
    tt_future *fs[2];
    int children_done_at_return;
} gatherer;

static intptr_t gathering_task(void *arg)
{
    gatherer *g = arg;
    intptr_t res[2] = {0, 0};
    intptr_t r = tt_gather(g->fs, 2, res, 0);
    g->children_done_at_return = tt_done(g->fs[0]) && tt_done(g->fs[1]);
    return r;
}

static intptr_t main_cancel_gatherer(void *arg)
{
    (void)arg;
    gatherer g = {.c = {{.ms = 5000, .result = 1}, {.ms = 5000, .result = 2, .swallow_ms = 20}}};
    g.fs[0] = spawn_child(&g.c[0]);
    g.fs[1] = spawn_child(&g.c[1]);
    tt_future *t = tt_spawn(gathering_task, &g);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert_int_eq(tt_cancel(t, "bye"), 1);
    ck_assert_int_eq(tt_await(tt_ref(t)), -ECANCELED);
    ck_assert_int_eq(tt_cancelled(t), 1);
    ck_assert_int_eq(g.children_done_at_return, 1);
    ck_assert_int_eq(tt_cancelled(g.fs[0]), 1);
    ck_assert_str_eq(tt_cancel_message(g.fs[0]), "bye");
    ck_assert_int_eq(tt_result(g.fs[1]), 2);
    tt_unref(t);
    unref_all(g.fs, 2);
    return 0;
}

START_TEST(cancelling_the_gathering_task) { run_main(main_cancel_gatherer); }
END_TEST

static intptr_t main_cancel_plain(void *arg)
{
    (void)arg;
    tt_future *fs[2] = {tt_future_new(NULL), tt_future_new(NULL)};
    tt_future *g = tt_gather_future(fs, 2, 0);
    ck_assert_int_eq(tt_cancel(g, "m"), 1);
    ck_assert_int_eq(tt_cancelled(fs[0]), 1); /* plain futures end cancelled at once */
    ck_assert_int_eq(tt_cancelled(fs[1]), 1);
    ck_assert_str_eq(tt_cancel_message(fs[1]), "m");
    ck_assert_int_eq(tt_await(g), -ECANCELED);
    unref_all(fs, 2);
    return 0;
}

START_TEST(cancel_gather_of_plain_futures) { run_main(main_cancel_plain); }
END_TEST

/* ------------------------------------------------------------- composition */

static intptr_t main_nested(void *arg)
{
    (void)arg;
    child c[3] = {{.ms = 10, .result = 1}, {.ms = 5, .result = 2}, {.ms = 1, .result = 3}};
    tt_future *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn_child(&c[i]);
    tt_future *g1 = tt_gather_future(t, 2, 0);
    tt_future *g2 = tt_gather_future(&t[2], 1, 0);
    tt_future *outer[2] = {g1, g2};
    intptr_t res[2] = {-1, -1};
    ck_assert_int_eq(tt_gather(outer, 2, res, 0), 0);
    ck_assert_int_eq(res[0], 0); /* a gather future succeeds with 0 */
    ck_assert_int_eq(res[1], 0);
    ck_assert_int_eq(tt_result(t[0]), 1);
    ck_assert_int_eq(tt_result(t[1]), 2);
    ck_assert_int_eq(tt_result(t[2]), 3);
    tt_unref(g1);
    tt_unref(g2);
    unref_all(t, 3);

    /* A failure inside propagates through both levels. */
    child d[2] = {{.ms = 50, .result = 1}, {.ms = 5, .result = -EIO}};
    tt_future *u[2] = {spawn_child(&d[0]), spawn_child(&d[1])};
    tt_future *inner = tt_gather_future(u, 2, 0);
    tt_future *top = tt_gather_future(&inner, 1, 0);
    ck_assert_int_eq(tt_await(tt_ref(top)), -EIO);
    ck_assert_int_eq(tt_result(inner), -EIO);
    /* With TT_GATHER_RETURN_ERRORS the gather itself succeeds. */
    tt_future *lenient = tt_gather_future(u, 2, TT_GATHER_RETURN_ERRORS);
    ck_assert_int_eq(tt_await(lenient), 0);
    ck_assert_int_eq(tt_result(u[0]), 1);
    tt_unref(top);
    tt_unref(inner);
    unref_all(u, 2);
    return 0;
}

START_TEST(gather_of_gathers) { run_main(main_nested); }
END_TEST

/* ------------------------------------------------------ retrieved errors */

static int WARNINGS;
static void count_warning(const char *msg, void *arg)
{
    (void)arg;
    if (!tu_backend_note(msg))
        WARNINGS++;
}

static intptr_t main_retrieved(void *arg)
{
    (void)arg;
    child c[2] = {{.ms = 5, .result = -EIO}, {.ms = 20, .result = -EPIPE}};
    tt_future *fs[2] = {spawn_child(&c[0]), spawn_child(&c[1])};
    ck_assert_int_eq(tt_gather(fs, 2, NULL, 0), -EIO);
    ck_assert_int_eq(tt_sleep(TT_MS(50)), 0); /* the second fails later, unreported */
    ck_assert_int_eq(tt_done(fs[1]), 1);
    unref_all(fs, 2); /* neither result read directly */
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(WARNINGS, 0);
    /* Control: a failure nobody reads is reported. */
    tt_future *lost = spawn_child(&(child){.ms = 1, .result = -ENOENT});
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    ck_assert_int_eq(tt_done(lost), 1);
    tt_unref(lost);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(WARNINGS, 1);
    return 0;
}

START_TEST(unreported_errors_count_as_retrieved)
{
    tt_set_warn_handler(count_warning, NULL);
    tt_loop_opts o = {.debug = 1};
    tt_loop *loop = tt_loop_new(&o);
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(tt_loop_run_until(loop, tt_spawn_on(loop, NULL, main_retrieved, NULL)), 0);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tt_set_warn_handler(NULL, NULL);
    ck_assert_int_eq(WARNINGS, 1);
    tu_assert_no_leaks();
}
END_TEST

/* ----------------------------------------------------- outcomes below INT_MIN */

static intptr_t very_negative(void *arg)
{
    (void)arg;
    return -((intptr_t)1 << 32); /* below INT_MIN */
}

TU_TASK_TEST(outcomes_below_int_min_stay_failures, 0)
{
    (void)arg;
    tt_future *c = tt_spawn(very_negative, NULL);
    int rc = tt_gather(&c, 1, NULL, 0);
    ck_assert_int_lt(rc, 0); /* a failure must not come back as success */
    tt_unref(c);
    tt_group *g = tt_group_new();
    tt_future *kid = tt_group_spawn(g, very_negative, NULL);
    ck_assert_ptr_nonnull(kid);
    tt_unref(kid);
    rc = tt_group_join(g);
    ck_assert_int_lt(rc, 0);
    tt_group_free(g);
    return 0;
}

/* ------------------------------------------------ many children, one allocation */

/* A child that yields k times, then returns v: children finish over several turns, in an order
 * unrelated to their slots. */
static intptr_t yielder(void *arg)
{
    intptr_t v = (intptr_t)arg;
    for (intptr_t k = v % 5; k > 0; k--)
        ck_assert_int_eq(tt_yield(), 0);
    return v;
}

enum { MANY = 3000 };

/* Slots i % 3 == 0 hold a plain future already done (value -i with RETURN_ERRORS: failures
 * are reported, not raised), i % 3 == 1 a task, i % 3 == 2 the previous slot's task again. */
static void fill_mixed(tt_future **fs, size_t n, int failures)
{
    for (size_t i = 0; i < n; i++) {
        if (i % 3 == 0) {
            fs[i] = tt_future_new(NULL);
            ck_assert_int_eq(tt_future_set(fs[i], failures ? -(intptr_t)i : (intptr_t)i), 0);
        } else if (i % 3 == 1) {
            fs[i] = tt_spawn(yielder, (void *)(intptr_t)i);
            ck_assert_ptr_nonnull(fs[i]);
        } else {
            fs[i] = tt_ref(fs[i - 1]);
        }
    }
}

TU_TASK_TEST(many_children_done_pending_and_duplicates, 0)
{
    (void)arg;
    tt_future **fs = malloc(MANY * sizeof *fs);
    intptr_t *res = malloc(MANY * sizeof *res);
    for (unsigned flags = 0; flags <= TT_GATHER_RETURN_ERRORS; flags += TT_GATHER_RETURN_ERRORS) {
        fill_mixed(fs, MANY, flags != 0);
        memset(res, 0xff, MANY * sizeof *res);
        ck_assert_int_eq(tt_gather(fs, MANY, res, flags), 0);
        for (size_t i = 0; i < MANY; i++) {
            intptr_t want = i % 3 == 0 ? (flags ? -(intptr_t)i : (intptr_t)i)
                                       : (intptr_t)(i % 3 == 1 ? i : i - 1);
            ck_assert_int_eq(res[i], want);
        }
        unref_all(fs, MANY);
    }
    free(res);
    free(fs);
    return 0;
}

/* The first failure among many ends the gather at once; the gather lives on (its members
 * still linked) until the rest have finished, and then goes without a trace. */
TU_TASK_TEST(many_children_first_failure_then_the_rest, 0)
{
    (void)arg;
    tt_future **fs = malloc(MANY * sizeof *fs);
    fill_mixed(fs, MANY, 0);
    tt_future *bad = tt_future_new(NULL);
    tt_unref(fs[MANY / 2]);
    fs[MANY / 2] = bad; /* a slot i % 3 == 0: replaces a done plain future */
    ck_assert_int_eq(MANY / 2 % 3, 0);
    tt_future *g = tt_gather_future(fs, MANY, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(tt_future_set(bad, -EIO), 0);
    ck_assert_int_eq(tt_await(tt_ref(g)), -EIO);
    size_t done = 0;
    for (size_t i = 0; i < MANY; i++)
        done += tt_done(fs[i]) != 0;
    ck_assert_uint_lt(done, MANY); /* tasks that yield 4 times are still running */
    tt_unref(g);                   /* the gather holds itself until they have reported */
    for (size_t i = 1; i < MANY; i += 3)
        ck_assert_int_eq(tt_await(tt_ref(fs[i])), (intptr_t)i);
    ck_assert_int_eq(tt_yield(), 0);
    unref_all(fs, MANY);
    free(fs);
    return 0;
}

/* A bad child at the end of a long list, after done, pending and duplicated children: every
 * member is taken back, so nothing runs when the pending ones complete. */
START_TEST(bad_child_after_many_leaves_no_member)
{
    tt_loop *loop = tt_loop_new(NULL);
    enum { N = 200 };
    tt_future *fs[N + 1];
    for (size_t i = 0; i < N; i++) {
        if (i % 4 == 3) {
            fs[i] = fs[i - 1]; /* the same pending future twice, even three times */
            continue;
        }
        fs[i] = tt_future_new(loop);
        if (i % 4 == 0)
            ck_assert_int_eq(tt_future_set(fs[i], (intptr_t)i), 0);
    }
    fs[N] = NULL;
    errno = 0;
    ck_assert_ptr_null(tt_gather_future(fs, N + 1, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 0); /* no member of a done child queued */
    for (size_t i = 0; i < N; i++)
        if (i % 4 && i % 4 != 3)
            ck_assert_int_eq(tt_future_set(fs[i], (intptr_t)i), 0);
    ck_assert_int_eq(tt_loop_run_once(loop, 0), 0); /* none left on the pending ones */
    tt_future *g = tt_gather_future(fs, N, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(tt_loop_run_until(loop, g), 0);
    for (size_t i = 0; i < N; i++)
        if (i % 4 != 3)
            tt_unref(fs[i]);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

TU_TASK_TEST(gather_too_big_for_memory_is_enomem, 0)
{
    (void)arg;
    tt_future *f = tt_future_new(NULL);
    errno = 0;
    ck_assert_ptr_null(tt_gather_future(&f, SIZE_MAX, 0)); /* refused before reading fs */
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(tt_gather(&f, SIZE_MAX / 2, NULL, 0), -ENOMEM);
    ck_assert_int_eq(tt_future_set(f, 3), 0);
    ck_assert_int_eq(tt_gather(&f, 1, NULL, 0), 0);
    tt_unref(f);
    return 0;
}

/* Cancelling a gather of many: every pending child is cancelled once (duplicates too), done
 * ones keep their values, and the gather ends cancelled with the message. */
static intptr_t main_cancel_many(void *arg)
{
    unsigned flags = (unsigned)(uintptr_t)arg;
    tt_future **fs = malloc(MANY * sizeof *fs);
    for (size_t i = 0; i < MANY; i++) {
        if (i % 3 == 2) {
            fs[i] = tt_ref(fs[i - 1]);
            continue;
        }
        fs[i] = tt_future_new(NULL);
        if (i % 3 == 0)
            ck_assert_int_eq(tt_future_set(fs[i], 7), 0);
    }
    tt_future *g = tt_gather_future(fs, MANY, flags);
    ck_assert_int_eq(tt_cancel(g, "stop"), 1);
    for (size_t i = 0; i < MANY; i++) {
        ck_assert_int_eq(tt_done(fs[i]), 1);
        ck_assert_int_eq(tt_result(fs[i]), i % 3 == 0 ? 7 : -ECANCELED);
    }
    ck_assert_str_eq(tt_cancel_message(fs[1]), "stop");
    ck_assert_int_eq(tt_await(tt_ref(g)), -ECANCELED);
    ck_assert_str_eq(tt_cancel_message(g), "stop");
    tt_unref(g);
    unref_all(fs, MANY);
    free(fs);
    return 0;
}

START_TEST(cancel_many_children)
{
    ck_assert_int_eq(tu_run(main_cancel_many, (void *)0), 0);
    tu_assert_no_leaks();
    ck_assert_int_eq(tu_run(main_cancel_many, (void *)(uintptr_t)TT_GATHER_RETURN_ERRORS), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------- members among the public callbacks */

static void trace_cb(tt_future *f, void *arg)
{
    (void)f;
    tu_trace("%s ", (const char *)arg);
}

/* A gather's member runs in FIFO order with the child's other callbacks, and tt_remove_done
 * never sees it. */
TU_TASK_TEST(member_in_callback_order_and_invisible_to_remove_done, 0)
{
    (void)arg;
    tu_trace_reset();
    tt_future *f = tt_future_new(NULL);
    ck_assert_int_eq(tt_on_done(f, trace_cb, "A"), 0);
    tt_future *g = tt_gather_future(&f, 1, 0);
    ck_assert_int_eq(tt_on_done(g, trace_cb, "G"), 0);
    ck_assert_int_eq(tt_on_done(f, trace_cb, "B"), 0);
    ck_assert_int_eq(tt_on_done(f, trace_cb, "X"), 0);
    ck_assert_int_eq(tt_remove_done(f, trace_cb, "X"), 1);
    ck_assert_int_eq(tt_remove_done(f, trace_cb, "A"), 1);
    ck_assert_int_eq(tt_remove_done(f, trace_cb, "A"), 0);
    ck_assert_int_eq(tt_on_done(f, trace_cb, "C"), 0); /* after the member: the list's tail */
    ck_assert_int_eq(tt_future_set(f, 5), 0);
    ck_assert_int_eq(tt_await(tt_ref(g)), 0);
    ck_assert_str_eq(tu_trace_get(), "B C G "); /* the member completed g between B and C */

    /* A child already done: its member is queued after the callbacks queued before. */
    tu_trace_reset();
    ck_assert_int_eq(tt_on_done(f, trace_cb, "D"), 0);
    tt_future *g2 = tt_gather_future(&f, 1, 0);
    ck_assert_int_eq(tt_on_done(g2, trace_cb, "G2"), 0);
    ck_assert_int_eq(tt_on_done(f, trace_cb, "E"), 0);
    ck_assert_int_eq(tt_await(tt_ref(g2)), 0);
    ck_assert_str_eq(tu_trace_get(), "D E G2 ");
    tt_unref(g2);
    tt_unref(g);
    tt_unref(f);
    return 0;
}

/* A child that has reported is no longer held by its gather: released by its owner while the
 * gather still waits for others, it is freed at once. */
TU_TASK_TEST(reported_child_is_released_by_the_gather, 0)
{
    (void)arg;
    tt_future *fs[3] = {tt_future_new(NULL), tt_future_new(NULL), NULL};
    fs[2] = fs[0]; /* twice: each slot held its own reference */
    tt_future *g = tt_gather_future(fs, 3, 0);
    tt_live before, after;
    ck_assert_int_eq(tt_future_set(fs[0], 1), 0);
    ck_assert_int_eq(tt_yield(), 0); /* both members of fs[0] run */
    ck_assert_int_eq(tt_done(g), 0);
    tt_live_get(&before);
    tt_unref(fs[0]);
    tt_live_get(&after);
    ck_assert_int_eq(before.futures - after.futures, 1);
    ck_assert_int_eq(tt_cancel(g, NULL), 1); /* reaches the pending child only */
    ck_assert_int_eq(tt_cancelled(fs[1]), 1);
    ck_assert_int_eq(tt_await(g), -ECANCELED);
    tt_unref(fs[1]);
    return 0;
}

/* A gather dropped by everyone while its members are still queued: freeing the loop runs them,
 * and the gather and its children go. */
START_TEST(loop_free_runs_queued_members)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *fs[2] = {tt_future_new(loop), tt_future_new(loop)};
    ck_assert_int_eq(tt_future_set(fs[0], 1), 0);
    tt_future *g = tt_gather_future(fs, 2, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(tt_future_set(fs[1], 2), 0);
    tt_unref(g);
    unref_all(fs, 2);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

static Suite *gather_suite(void)
{
    Suite *s = suite_create("gather");
    TCase *tc = tcase_create("gather");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, results_in_input_order);
    tcase_add_test(tc, plain_futures);
    tcase_add_test(tc, return_errors_waits_for_all);
    tcase_add_test(tc, first_failure_returned_at_once);
    tcase_add_test(tc, results_of_an_early_return);
    tcase_add_test(tc, cancelled_child_counts_as_failure);
    tcase_add_test(tc, duplicates_fill_every_slot);
    tcase_add_test(tc, empty_and_bad_input);
    tcase_add_test(tc, bad_child_after_good_ones_leaves_no_callback);
    tcase_add_test(tc, gather_outside_task_is_eperm);
    tcase_add_test(tc, cancel_fans_out_with_message);
    tcase_add_test(tc, cancel_fans_out_return_errors);
    tcase_add_test(tc, cancelling_the_gathering_task);
    tcase_add_test(tc, cancel_gather_of_plain_futures);
    tcase_add_test(tc, gather_of_gathers);
    tcase_add_test(tc, unreported_errors_count_as_retrieved);
    tcase_add_test(tc, outcomes_below_int_min_stay_failures);
    tcase_add_test(tc, many_children_done_pending_and_duplicates);
    tcase_add_test(tc, many_children_first_failure_then_the_rest);
    tcase_add_test(tc, bad_child_after_many_leaves_no_member);
    tcase_add_test(tc, gather_too_big_for_memory_is_enomem);
    tcase_add_test(tc, cancel_many_children);
    tcase_add_test(tc, member_in_callback_order_and_invisible_to_remove_done);
    tcase_add_test(tc, reported_child_is_released_by_the_gather);
    tcase_add_test(tc, loop_free_runs_queued_members);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(gather_suite)
