/* Unit suite for task groups (asyncio.TaskGroup, 3.11): join waits for every child; the first
 * failure cancels siblings and owner and is taken back at join; failures in completion order;
 * cancelled children are not failures; outside cancellation; tt_group_cancel; nesting;
 * spawning while join waits and refused after; free without join; timeouts around a group;
 * bad input and wrong-place calls; 0.2: spawn hands back a reference, the group keeps live and
 * failed children only, tt_group_set_limit. */
#define _GNU_SOURCE
#include "testutil.h"

#include <string.h>

#define E0 (-1000)
#define E1 (-1001)
#define E2 (-1002)
#define E3 (-1003)

static tt_future *me(void) { return tt_current_task(); }

/* Each step of a test's story, space-terminated. */
static void trace(const char *s) { tu_trace("%s ", s); }

/* A child: sleeps ms and returns ret; when cancelled, returns on_cancel (default -ECANCELED). */
typedef struct child {
    const char *name;
    int ms;
    intptr_t ret;
    intptr_t on_cancel;
    int started, cancelled;
} child;

#define CHILD(n, ms_, ret_) {.name = (n), .ms = (ms_), .ret = (ret_), .on_cancel = -ECANCELED}

static intptr_t child_body(void *arg)
{
    child *c = arg;
    c->started = 1;
    if (tt_sleep(TT_MS(c->ms)) == -ECANCELED) {
        c->cancelled = 1;
        char buf[64];
        snprintf(buf, sizeof buf, "%s-cancelled", c->name);
        trace(buf);
        return c->on_cancel;
    }
    trace(c->name);
    return c->ret;
}

static intptr_t fail_at_once(void *arg) { return (intptr_t)arg; }

/* ------------------------------------------------------------------------------------ */

TU_TASK_TEST(all_succeed_join_waits, 0)
{
    (void)arg;
    static child a = CHILD("a", 40, 'a'), b = CHILD("b", 20, 'b');
    tt_group *g = tt_group_new();
    ck_assert_ptr_nonnull(g);
    tt_future *fa = tt_group_spawn(g, child_body, &a);
    tt_future *fb = tt_group_spawn(g, child_body, &b);
    ck_assert_ptr_nonnull(fa);
    ck_assert_ptr_nonnull(fb);
    trace("body");
    ck_assert_int_eq(tt_group_join(g), 0);
    trace("joined");
    ck_assert_str_eq(tu_trace_get(), "body b a joined ");
    ck_assert_int_eq(tt_result(fa), 'a');
    ck_assert_int_eq(tt_result(fb), 'b');
    ck_assert_uint_eq(tt_group_errors(g, NULL, 0), 0);
    tt_group_free(g);
    tt_unref(fa);
    tt_unref(fb);
    return 0;
}

static intptr_t owner_child_fails(void *arg)
{
    (void)arg;
    static child a = CHILD("A", 20, E1), b = CHILD("B", 1000, 'b');
    tt_group *g = tt_group_new();
    tt_future *fa = tt_group_spawn(g, child_body, &a);
    tt_future *fb = tt_group_spawn(g, child_body, &b);
    if (tt_sleep(TT_SEC(1)) == -ECANCELED)
        trace("body-cancelled");
    ck_assert_int_eq(tt_group_join(g), E1);
    ck_assert_str_eq(tu_trace_get(), "A B-cancelled body-cancelled ");
    tt_future *errs[4] = {0};
    ck_assert_uint_eq(tt_group_errors(g, errs, 4), 1);
    ck_assert_ptr_eq(errs[0], fa);
    ck_assert_int_eq(tt_result(fa), E1);
    ck_assert(tt_cancelled(fb));
    ck_assert_int_eq(tt_cancelling(me()), 0); /* the group took its cancellation back */
    tt_group_free(g);
    tt_unref(fa);
    tt_unref(fb);
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    return 'p';
}

TU_TASK_TEST(child_failure_cancels_siblings_and_owner, 0)
{
    (void)arg;
    tt_future *p = tt_spawn(owner_child_fails, NULL);
    tt_ref(p);
    ck_assert_int_eq(tt_await(p), 'p');
    ck_assert(!tt_cancelled(p));
    tt_unref(p);
    return 0;
}

TU_TASK_TEST(failures_in_completion_order, 0)
{
    (void)arg;
    /* (a) two children fail on their first step, in the same turn. */
    tt_group *g = tt_group_new();
    tt_future *f1 = tt_group_spawn(g, fail_at_once, (void *)(intptr_t)E1);
    tt_future *f2 = tt_group_spawn(g, fail_at_once, (void *)(intptr_t)E2);
    ck_assert_int_eq(tt_group_join(g), E1);
    tt_future *errs[2];
    ck_assert_uint_eq(tt_group_errors(g, errs, 2), 2);
    ck_assert_ptr_eq(errs[0], f1);
    ck_assert_ptr_eq(errs[1], f2);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    tt_group_free(g);
    tt_unref(f1);
    tt_unref(f2);
    /* (b) E1 at 10 ms; the sibling fails with E2 from its cleanup when cancelled. */
    static child a = CHILD("a", 10, E1), b = {.name = "b", .ms = 1000, .on_cancel = E2};
    g = tt_group_new();
    tt_future *fa = tt_group_spawn(g, child_body, &a);
    tt_future *fb = tt_group_spawn(g, child_body, &b);
    ck_assert_int_eq(tt_group_join(g), E1);
    ck_assert_uint_eq(tt_group_errors(g, errs, 2), 2);
    ck_assert_ptr_eq(errs[0], fa);
    ck_assert_ptr_eq(errs[1], fb);
    /* A smaller buffer still gets the total count. */
    errs[1] = NULL;
    ck_assert_uint_eq(tt_group_errors(g, errs, 1), 2);
    ck_assert_ptr_eq(errs[0], fa);
    ck_assert_ptr_null(errs[1]);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    tt_group_free(g);
    tt_unref(fa);
    tt_unref(fb);
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    return 0;
}

TU_TASK_TEST(body_fails_before_children_ran, E0)
{
    (void)arg;
    static child a = CHILD("a", 10, 1), b = CHILD("b", 10, 2);
    tt_group *g = tt_group_new();
    tt_future *fa = tt_group_spawn(g, child_body, &a);
    tt_future *fb = tt_group_spawn(g, child_body, &b);
    /* The body decides to fail before any child ran. */
    ck_assert_int_eq(tt_group_cancel(g), 0);
    errno = 0;
    ck_assert_ptr_null(tt_group_spawn(g, child_body, &a)); /* shutting down */
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(tt_group_join(g), 0); /* cancelled children are not failures */
    ck_assert(!a.started && !b.started);
    ck_assert(tt_cancelled(fa) && tt_cancelled(fb));
    ck_assert_uint_eq(tt_group_errors(g, NULL, 0), 0);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    tt_group_free(g);
    tt_unref(fa);
    tt_unref(fb);
    return E0; /* the body's own error is the body's to return */
}

TU_TASK_TEST(failure_while_join_waits, 0)
{
    (void)arg;
    static child a = CHILD("a", 10, E1), b = CHILD("b", 1000, 2);
    tt_group *g = tt_group_new();
    tt_unref(tt_group_spawn(g, child_body, &a));
    tt_unref(tt_group_spawn(g, child_body, &b));
    /* The body is already done; the failure arrives while join waits. */
    ck_assert_int_eq(tt_group_join(g), E1);
    ck_assert(b.cancelled);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0); /* no stray cancellation */
    tt_group_free(g);
    return 0;
}

TU_TASK_TEST(nested_groups, 0)
{
    (void)arg;
    static child oc = CHILD("outer-child", 10, E1), ic = CHILD("inner-child", 1000, 1);
    tt_group *outer = tt_group_new();
    tt_unref(tt_group_spawn(outer, child_body, &oc));
    tt_group *inner = tt_group_new();
    tt_unref(tt_group_spawn(inner, child_body, &ic));
    int ri = tt_group_join(inner); /* the owner is cancelled by the outer group meanwhile */
    ck_assert_int_eq(ri, -ECANCELED);
    ck_assert_uint_eq(tt_group_errors(inner, NULL, 0), 0);
    ck_assert_int_eq(tt_group_join(outer), E1);
    ck_assert(ic.cancelled);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    tt_group_free(inner);
    tt_group_free(outer);
    return 0;
}

static tt_group *G;
static int LATE_SPAWN_ERRNO;
static intptr_t noop(void *arg) { return (intptr_t)arg; }

static intptr_t late_spawner(void *arg)
{
    (void)arg;
    if (tt_sleep(TT_SEC(1)) == -ECANCELED) {
        errno = 0;
        ck_assert_ptr_null(tt_group_spawn(G, noop, NULL));
        LATE_SPAWN_ERRNO = errno;
        return -ECANCELED;
    }
    return 0;
}

static intptr_t main_spawn_misuse(void *arg)
{
    (void)arg;
    tt_group *g = tt_group_new();
    ck_assert_int_eq(tt_group_join(g), 0);
    errno = 0;
    ck_assert_ptr_null(tt_group_spawn(g, noop, NULL)); /* finished */
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(tt_group_join(g), -EPERM);        /* joined once already */
    tt_group_free(g);
    /* From a sibling's cancel handler while the group aborts. */
    static child crash = CHILD("crash", 10, E1);
    G = tt_group_new();
    tt_unref(tt_group_spawn(G, child_body, &crash));
    tt_unref(tt_group_spawn(G, late_spawner, NULL));
    ck_assert_int_eq(tt_group_join(G), E1);
    ck_assert_int_eq(LATE_SPAWN_ERRNO, EPERM);
    ck_assert_uint_eq(tt_group_errors(G, NULL, 0), 1);
    tt_group_free(G);
    /* Bad input. */
    errno = 0;
    ck_assert_ptr_null(tt_group_spawn(NULL, noop, NULL));
    ck_assert_int_eq(errno, EINVAL);
    g = tt_group_new();
    errno = 0;
    ck_assert_ptr_null(tt_group_spawn(g, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(tt_group_join(NULL), -EINVAL);
    ck_assert_int_eq(tt_group_cancel(NULL), -EINVAL);
    ck_assert_uint_eq(tt_group_errors(NULL, NULL, 0), 0);
    tt_group_free(NULL);
    ck_assert_int_eq(tt_group_join(g), 0);
    tt_group_free(g);
    return 0;
}

static int JOIN_OTHER_RC;
static intptr_t join_other(void *arg)
{
    JOIN_OTHER_RC = tt_group_join(arg);
    return 0;
}

static intptr_t main_join_not_owner(void *arg)
{
    (void)arg;
    tt_group *g = tt_group_new();
    tt_unref(tt_group_spawn(g, noop, (void *)3));
    ck_assert_int_eq(tt_await(tt_spawn(join_other, g)), 0);
    ck_assert_int_eq(JOIN_OTHER_RC, -EPERM);
    ck_assert_int_eq(tt_group_join(g), 0);
    tt_group_free(g);
    return 0;
}

START_TEST(spawn_and_join_misuse)
{
    errno = 0;
    ck_assert_ptr_null(tt_group_new()); /* outside a task */
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(tu_run(main_spawn_misuse, NULL), 0);
    ck_assert_int_eq(tu_run(main_join_not_owner, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

static int DELIVERED;
static intptr_t count_delivery(void *arg)
{
    (void)arg;
    int rc = tt_sleep(TT_SEC(1));
    if (rc == -ECANCELED)
        DELIVERED++;
    return rc;
}

static intptr_t runner_outside(void *arg)
{
    (void)arg;
    tt_group *g = tt_group_new();
    for (int i = 0; i < 5; i++)
        tt_unref(tt_group_spawn(g, count_delivery, NULL));
    int rc = tt_sleep(TT_SEC(1));
    ck_assert_int_eq(rc, -ECANCELED);
    rc = tt_group_join(g);
    ck_assert_int_eq(DELIVERED, 5); /* join returned after the children ended */
    tt_group_free(g);
    return rc;
}

TU_TASK_TEST(outside_cancellation_of_owner, 0)
{
    (void)arg;
    tt_future *r = tt_spawn(runner_outside, NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    tt_cancel(r, NULL);
    tt_ref(r);
    ck_assert_int_eq(tt_await(r), -ECANCELED);
    ck_assert(tt_cancelled(r));
    tt_unref(r);
    return 0;
}

static intptr_t runner_join_waits(void *arg)
{
    (void)arg;
    tt_group *g = tt_group_new();
    for (int i = 0; i < 3; i++)
        tt_unref(tt_group_spawn(g, count_delivery, NULL));
    int rc = tt_group_join(g); /* cancelled from outside while in here */
    ck_assert_int_eq(DELIVERED, 3);
    tt_group_free(g);
    return rc;
}

TU_TASK_TEST(outside_cancellation_during_join, 0)
{
    (void)arg;
    DELIVERED = 0;
    tt_future *r = tt_spawn(runner_join_waits, NULL);
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    tt_cancel(r, NULL);
    ck_assert_int_eq(tt_await(r), -ECANCELED);
    return 0;
}

static intptr_t fail_in_cleanup(void *arg)
{
    tt_sleep(TT_SEC(1));
    return (intptr_t)arg;
}

static tt_future *CLEANUP_KIDS[3];
static intptr_t runner_errors_win(void *arg)
{
    (void)arg;
    tt_group *g = tt_group_new();
    for (int i = 0; i < 3; i++)
        CLEANUP_KIDS[i] = tt_group_spawn(g, fail_in_cleanup, (void *)(intptr_t)(E1 - i));
    ck_assert_int_eq(tt_sleep(TT_SEC(1)), -ECANCELED);
    int rc = tt_group_join(g);
    tt_future *errs[3];
    ck_assert_uint_eq(tt_group_errors(g, errs, 3), 3);
    /* Children cancelled at once end in creation order. */
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_eq(errs[i], CLEANUP_KIDS[i]);
    tt_group_free(g);
    for (int i = 0; i < 3; i++)
        tt_unref(CLEANUP_KIDS[i]);
    return rc;
}

TU_TASK_TEST(outside_cancellation_but_failures_win, 0)
{
    (void)arg;
    tt_future *r = tt_spawn(runner_errors_win, NULL);
    tt_ref(r);
    ck_assert_int_eq(tt_sleep(TT_MS(10)), 0);
    tt_cancel(r, NULL);
    ck_assert_int_eq(tt_await(r), E1);
    ck_assert(!tt_cancelled(r)); /* failed, not cancelled */
    tt_unref(r);
    return 0;
}

static intptr_t quitter(void *arg)
{
    (void)arg;
    tt_sleep(TT_MS(10));
    return -ECANCELED; /* ends cancelled on its own */
}

static void cancel_cb(void *arg) { tt_cancel(arg, NULL); }

TU_TASK_TEST(cancelled_children_are_not_failures, 0)
{
    (void)arg;
    static child t1 = CHILD("t1", 1000, 1), t2 = CHILD("t2", 30, 'b');
    tt_group *g = tt_group_new();
    tt_future *f1 = tt_group_spawn(g, child_body, &t1);
    tt_future *fq = tt_group_spawn(g, quitter, NULL);
    tt_future *f2 = tt_group_spawn(g, child_body, &t2);
    tt_call_later(tt_loop_current(), TT_MS(10), cancel_cb, f1);
    ck_assert_int_eq(tt_group_join(g), 0);
    ck_assert(tt_cancelled(f1));
    ck_assert(tt_cancelled(fq));
    ck_assert_int_eq(tt_result(f2), 'b');
    ck_assert_uint_eq(tt_group_errors(g, NULL, 0), 0);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    tt_group_free(g);
    tt_unref(f1);
    tt_unref(fq);
    tt_unref(f2);
    return 0;
}

static intptr_t grandchild(void *arg)
{
    (void)arg;
    tt_sleep(TT_MS(20));
    trace("grandchild");
    return 'g';
}

static tt_future *GRAND;
static intptr_t spawner(void *arg)
{
    tt_sleep(TT_MS(10));
    GRAND = tt_group_spawn(arg, grandchild, NULL);
    ck_assert_ptr_nonnull(GRAND);
    trace("spawner");
    return 's';
}

TU_TASK_TEST(children_spawn_while_join_waits, 0)
{
    (void)arg;
    tt_group *g = tt_group_new();
    tt_unref(tt_group_spawn(g, spawner, g));
    ck_assert_int_eq(tt_group_join(g), 0);
    trace("joined");
    ck_assert_str_eq(tu_trace_get(), "spawner grandchild joined ");
    ck_assert_int_eq(tt_result(GRAND), 'g');
    tt_group_free(g);
    tt_unref(GRAND);
    return 0;
}

TU_TASK_TEST(group_cancel_is_not_a_failure, 0)
{
    (void)arg;
    static child a = CHILD("a", 1000, 1), b = CHILD("b", 1000, 2);
    tt_group *g = tt_group_new();
    tt_future *fa = tt_group_spawn(g, child_body, &a);
    tt_future *fb = tt_group_spawn(g, child_body, &b);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert_int_eq(tt_group_cancel(g), 0);
    ck_assert_int_eq(tt_group_join(g), 0);
    ck_assert(tt_cancelled(fa) && tt_cancelled(fb));
    ck_assert_int_eq(tt_cancelling(me()), 0); /* the owner was not touched */
    ck_assert_int_eq(tt_group_cancel(g), 0);  /* harmless once finished */
    ck_assert_int_eq(tt_sleep(TT_MS(1)), 0);
    tt_group_free(g);
    tt_unref(fa);
    tt_unref(fb);
    return 0;
}

TU_TASK_TEST(timeout_around_a_group, 0)
{
    (void)arg;
    DELIVERED = 0;
    tt_timeout t;
    ck_assert_int_eq(tt_timeout_enter(&t, TT_MS(20)), 0);
    tt_group *g = tt_group_new();
    for (int i = 0; i < 3; i++)
        tt_unref(tt_group_spawn(g, count_delivery, NULL));
    intptr_t rc = tt_group_join(g);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(tt_timeout_exit(&t, rc), -ETIMEDOUT);
    ck_assert_int_eq(DELIVERED, 3);
    ck_assert_int_eq(tt_cancelling(me()), 0);
    tt_group_free(g);
    return 0;
}

TU_TASK_TEST(free_without_join, 0)
{
    (void)arg;
    static child a = CHILD("a", 1000, E1);
    tt_group *g = tt_group_new();
    tt_future *fa = tt_group_spawn(g, child_body, &a);
    tt_ref(fa);
    tt_unref(tt_group_spawn(g, fail_at_once, (void *)(intptr_t)E2));
    tt_group_free(g); /* cancels and detaches: the failure reaches no one */
    tt_unref(fa);
    ck_assert_int_eq(tt_sleep(TT_MS(5)), 0);
    ck_assert(tt_cancelled(fa));
    ck_assert_int_eq(tt_cancelling(me()), 0);
    tt_unref(fa);
    return 0;
}

static intptr_t sleep_then_return(void *arg)
{
    intptr_t i = (intptr_t)arg;
    ck_assert_int_eq(tt_sleep(TT_MS(i % 7)), 0);
    return i;
}

TU_TASK_TEST(many_children, 0)
{
    (void)arg;
    enum { N = 300 };
    static tt_future *kids[N];
    tt_group *g = tt_group_new();
    for (int i = 0; i < N; i++)
        ck_assert_ptr_nonnull(kids[i] = tt_group_spawn(g, sleep_then_return, (void *)(intptr_t)i));
    ck_assert_int_eq(tt_group_join(g), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(tt_result(kids[i]), i);
    tt_group_free(g);
    for (int i = 0; i < N; i++)
        tt_unref(kids[i]);
    return 0;
}

/* ------------------------------------------------------------ groups for servers (0.2) */

static intptr_t short_child(void *arg)
{
    (void)arg;
    return tt_yield() == 0 ? 1 : -ECANCELED;
}

static long MAX_LIVE_FUTURES;
static intptr_t main_server_group(void *arg)
{
    (void)arg;
    /* 300,000 (30,000 in sanitizer builds, about ten times slower; the bound is the same). */
    int n = (int)(300000 * tu_scale());
    tt_group *g = tt_group_new();
    ck_assert_ptr_nonnull(g);
    long max_live = 0;
    for (int i = 0; i < n; i++) {
        tt_future *c = tt_group_spawn(g, short_child, NULL);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(tt_await(c), 1); /* consumes the reference spawn handed back */
        if (i % 1000 == 999) {
            tt_live l;
            tt_live_get(&l);
            if (l.futures > max_live)
                max_live = l.futures;
        }
    }
    MAX_LIVE_FUTURES = max_live;
    ck_assert_int_eq(tt_group_join(g), 0);
    ck_assert_uint_eq(tt_group_errors(g, NULL, 0), 0);
    tt_group_free(g);
    return 0;
}

START_TEST(server_group_holds_live_children_only)
{
    ck_assert_int_eq(tu_run(main_server_group, NULL), 0);
    /* 0.1 held all 300,000 children until free (300,002 live futures). */
    ck_assert_int_gt(MAX_LIVE_FUTURES, 0);
    ck_assert_int_lt(MAX_LIVE_FUTURES, 1000);
    tu_assert_no_leaks();
}
END_TEST

static intptr_t main_failed_children_kept(void *arg)
{
    (void)arg;
    tt_group *g = tt_group_new();
    tt_future *ok = tt_group_spawn(g, fail_at_once, (void *)(intptr_t)5);
    tt_future *bad = tt_group_spawn(g, fail_at_once, (void *)(intptr_t)E1);
    tt_unref(ok);
    tt_unref(bad); /* the group keeps the failed one for tt_group_errors */
    ck_assert_int_eq(tt_group_join(g), E1);
    tt_live l;
    tt_live_get(&l);
    /* main, the group and the failed child: the successful child is gone. */
    ck_assert_int_eq(l.futures, 3);
    tt_future *errs[2] = {0};
    ck_assert_uint_eq(tt_group_errors(g, errs, 2), 1);
    ck_assert_int_eq(tt_result(errs[0]), E1);
    tt_group_free(g);
    return 0;
}

START_TEST(failed_children_kept_after_their_handles_go)
{
    ck_assert_int_eq(tu_run(main_failed_children_kept, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

static int RUNNING_NOW, RUNNING_MAX, CHILDREN_DONE;
static intptr_t limited_child(void *arg)
{
    intptr_t i = (intptr_t)arg;
    if (++RUNNING_NOW > RUNNING_MAX)
        RUNNING_MAX = RUNNING_NOW;
    int rc = tt_sleep(TT_MS(1 + i % 3));
    RUNNING_NOW--;
    CHILDREN_DONE++;
    return rc < 0 ? rc : i;
}

static intptr_t main_limited_group(void *arg)
{
    (void)arg;
    tt_group *g = tt_group_new();
    ck_assert_int_eq(tt_group_set_limit(g, 3), 0);
    for (int i = 0; i < 20; i++) {
        tt_future *c = tt_group_spawn(g, limited_child, (void *)(intptr_t)i);
        ck_assert_ptr_nonnull(c);
        tt_unref(c);
    }
    ck_assert_int_eq(tt_group_join(g), 0);
    tt_group_free(g);
    return 0;
}

START_TEST(limited_group_never_runs_more_than_k)
{
    RUNNING_NOW = RUNNING_MAX = CHILDREN_DONE = 0;
    ck_assert_int_eq(tu_run(main_limited_group, NULL), 0);
    ck_assert_int_eq(RUNNING_MAX, 3);
    ck_assert_int_eq(CHILDREN_DONE, 20);
    ck_assert_int_eq(RUNNING_NOW, 0);
    tu_assert_no_leaks();
}
END_TEST

/* A child that runs until the main task lets it go. */
static tt_event *LET_GO;
static intptr_t held_child(void *arg)
{
    (void)arg;
    if (++RUNNING_NOW > RUNNING_MAX)
        RUNNING_MAX = RUNNING_NOW;
    int rc = tt_event_wait(LET_GO);
    RUNNING_NOW--;
    CHILDREN_DONE++;
    return rc;
}

static tt_group *LIMITED;
static intptr_t SPAWN_ERRNO;
static intptr_t blocked_spawner(void *arg)
{
    (void)arg;
    errno = 0;
    tt_future *c = tt_group_spawn(LIMITED, limited_child, NULL);
    SPAWN_ERRNO = c ? 0 : errno;
    tt_unref(c);
    return c ? 0 : -SPAWN_ERRNO;
}

static intptr_t main_limit_wait_cancellable(void *arg)
{
    (void)arg;
    RUNNING_NOW = RUNNING_MAX = CHILDREN_DONE = 0;
    LET_GO = tt_event_new();
    LIMITED = tt_group_new();
    ck_assert_int_eq(tt_group_set_limit(LIMITED, 1), 0);
    tt_unref(tt_group_spawn(LIMITED, held_child, NULL));
    /* Another task of the loop waits for a place, and is cancelled while it waits. */
    tt_future *s = tt_spawn(blocked_spawner, NULL);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert(!tt_done(s));
    ck_assert_int_eq(tt_cancel(s, NULL), 1);
    ck_assert_int_eq(tt_await(s), -ECANCELED);
    ck_assert_int_eq(SPAWN_ERRNO, ECANCELED);
    ck_assert_int_eq(RUNNING_MAX, 1);
    /* Raising the limit lets a spawn through at once. */
    ck_assert_int_eq(tt_group_set_limit(LIMITED, 2), 0);
    tt_future *c = tt_group_spawn(LIMITED, held_child, NULL);
    ck_assert_ptr_nonnull(c);
    tt_unref(c);
    ck_assert_int_eq(tt_yield(), 0); /* both children run now */
    ck_assert_int_eq(tt_event_set(LET_GO), 0);
    ck_assert_int_eq(tt_group_join(LIMITED), 0);
    ck_assert_int_eq(RUNNING_MAX, 2);
    ck_assert_int_eq(CHILDREN_DONE, 2);
    tt_group_free(LIMITED);
    tt_event_free(LET_GO);
    return 0;
}

START_TEST(limited_spawn_waits_cancellably)
{
    ck_assert_int_eq(tu_run(main_limit_wait_cancellable, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

static void spawn_from_callback(void *arg)
{
    errno = 0;
    tt_future *c = tt_group_spawn(arg, held_child, NULL);
    SPAWN_ERRNO = c ? 0 : errno;
    tt_unref(c);
}

static intptr_t main_limit_errors(void *arg)
{
    (void)arg;
    RUNNING_NOW = RUNNING_MAX = CHILDREN_DONE = 0;
    LET_GO = tt_event_new();
    ck_assert_int_eq(tt_group_set_limit(NULL, 1), -EINVAL);
    tt_group *g = tt_group_new();
    ck_assert_int_eq(tt_group_set_limit(g, 1), 0);
    tt_unref(tt_group_spawn(g, held_child, NULL));
    /* A callback cannot wait for a place. */
    SPAWN_ERRNO = -1;
    ck_assert_int_eq(tt_call_soon(tt_loop_current(), spawn_from_callback, g), 0);
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(SPAWN_ERRNO, EAGAIN);
    ck_assert_int_eq(tt_group_set_limit(g, 0), 0); /* no limit */
    tt_unref(tt_group_spawn(g, held_child, NULL));
    ck_assert_int_eq(tt_yield(), 0);
    ck_assert_int_eq(tt_event_set(LET_GO), 0);
    ck_assert_int_eq(tt_group_join(g), 0);
    ck_assert_int_eq(RUNNING_MAX, 2);
    ck_assert_int_eq(CHILDREN_DONE, 2);
    tt_group_free(g);
    tt_event_free(LET_GO);
    return 0;
}

START_TEST(limit_bad_input_and_callbacks)
{
    ck_assert_int_eq(tu_run(main_limit_errors, NULL), 0);
    tu_assert_no_leaks();
}
END_TEST

static void setup(void) { tu_trace_reset(); }

static Suite *group_suite(void)
{
    Suite *s = suite_create("group");
    TCase *tc = tcase_create("group");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, all_succeed_join_waits);
    tcase_add_test(tc, child_failure_cancels_siblings_and_owner);
    tcase_add_test(tc, failures_in_completion_order);
    tcase_add_test(tc, body_fails_before_children_ran);
    tcase_add_test(tc, failure_while_join_waits);
    tcase_add_test(tc, nested_groups);
    tcase_add_test(tc, spawn_and_join_misuse);
    tcase_add_test(tc, outside_cancellation_of_owner);
    tcase_add_test(tc, outside_cancellation_during_join);
    tcase_add_test(tc, outside_cancellation_but_failures_win);
    tcase_add_test(tc, cancelled_children_are_not_failures);
    tcase_add_test(tc, children_spawn_while_join_waits);
    tcase_add_test(tc, group_cancel_is_not_a_failure);
    tcase_add_test(tc, timeout_around_a_group);
    tcase_add_test(tc, free_without_join);
    tcase_add_test(tc, many_children);
    tcase_add_test(tc, failed_children_kept_after_their_handles_go);
    tcase_add_test(tc, limited_group_never_runs_more_than_k);
    tcase_add_test(tc, limited_spawn_waits_cancellably);
    tcase_add_test(tc, limit_bad_input_and_callbacks);
    suite_add_tcase(s, tc);
    /* Its own budget: 30,000 children take ~45 s under TSan on a loaded two-core machine. */
    TCase *server = tcase_create("server");
    tcase_set_timeout(server, 240);
    tcase_add_test(server, server_group_holds_live_children_only);
    suite_add_tcase(s, server);
    return s;
}

TU_MAIN(group_suite)
