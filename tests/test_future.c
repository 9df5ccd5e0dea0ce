/* Unit suite for plain futures: set/cancel/inspect, done-callbacks (FIFO, deferred, removal),
 * reference counting, use after the loop is gone, wrong-thread and bad-argument errors, and
 * tt_strerror. Futures here are driven by hand with tt_loop_run_once, no tasks needed. */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TT_TEST_SANITIZED 1
#endif

/* ------------------------------------------------------------------ helpers */

/* A log of callback invocations: which callback (tag) with which future, in order. */
typedef struct cb_log {
    int n;
    int tag[32];
    tt_future *fut[32];
    intptr_t result[32];
} cb_log;
static cb_log LOG;

static void log_cb(tt_future *f, void *arg)
{
    ck_assert_int_lt(LOG.n, 32);
    LOG.tag[LOG.n] = (int)(intptr_t)arg;
    LOG.fut[LOG.n] = f;
    LOG.result[LOG.n] = tt_result(f);
    LOG.n++;
}

/* A second, distinct callback function for removal tests. */
static void other_cb(tt_future *f, void *arg)
{
    log_cb(f, (void *)((intptr_t)arg + 100));
}

static void call_soon_log(void *arg)
{
    ck_assert_int_lt(LOG.n, 32);
    LOG.tag[LOG.n] = (int)(intptr_t)arg;
    LOG.fut[LOG.n] = NULL;
    LOG.n++;
}

/* Runs loop iterations (never blocking long) until the log holds want entries. */
static void drain_until(tt_loop *loop, int want)
{
    for (int i = 0; i < 100 && LOG.n < want; i++)
        ck_assert_int_ge(tt_loop_run_once(loop, TT_MS(10)), 0);
    ck_assert_int_eq(LOG.n, want);
}

static long live_futures(void)
{
    tt_live l;
    tt_live_get(&l);
    return l.futures;
}

/* ------------------------------------------------------------- basic life */

START_TEST(new_is_pending)
{
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    tt_future *f = tt_future_new(loop);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(live_futures(), 1);
    ck_assert_int_eq(tt_done(f), 0);
    ck_assert_int_eq(tt_cancelled(f), 0);
    ck_assert_int_eq(tt_result(f), -EAGAIN);
    ck_assert_ptr_null(tt_cancel_message(f));
    ck_assert_ptr_null(tt_task_name(f));
    tt_unref(f);
    ck_assert_int_eq(live_futures(), 0);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(new_on_current_loop)
{
    /* NULL loop means the current loop; without one the call is refused. */
    errno = 0;
    ck_assert_ptr_null(tt_future_new(NULL));
    ck_assert_int_eq(errno, EPERM);
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    tt_future *f = tt_future_new(NULL);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(tt_future_set(f, 3), 0);
    ck_assert_int_eq(tt_result(f), 3);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(set_result_and_error)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *ok = tt_future_new(loop);
    tt_future *bad = tt_future_new(loop);
    tt_future *zero = tt_future_new(loop);
    ck_assert_int_eq(tt_future_set(ok, 42), 0);
    ck_assert_int_eq(tt_future_set(bad, -1001), 0);
    ck_assert_int_eq(tt_future_set(zero, 0), 0);
    ck_assert_int_eq(tt_done(ok), 1);
    ck_assert_int_eq(tt_done(bad), 1);
    ck_assert_int_eq(tt_done(zero), 1);
    ck_assert_int_eq(tt_result(ok), 42);
    ck_assert_int_eq(tt_result(bad), -1001);
    ck_assert_int_eq(tt_result(zero), 0);
    ck_assert_int_eq(tt_cancelled(ok), 0);
    ck_assert_int_eq(tt_cancelled(bad), 0);
    /* A large pointer-like value survives unchanged. */
    tt_future *ptr = tt_future_new(loop);
    intptr_t big = (intptr_t)(uintptr_t)&LOG;
    ck_assert_int_eq(tt_future_set(ptr, big), 0);
    ck_assert(tt_result(ptr) == big);
    /* Done is final: a second set or a cancel changes nothing. */
    ck_assert_int_eq(tt_future_set(ok, 7), -EBUSY);
    ck_assert_int_eq(tt_future_set(bad, 7), -EBUSY);
    ck_assert_int_eq(tt_cancel(ok, "late"), 0);
    ck_assert_int_eq(tt_result(ok), 42);
    ck_assert_int_eq(tt_cancelled(ok), 0);
    ck_assert_ptr_null(tt_cancel_message(ok));
    tt_unref(ok);
    tt_unref(bad);
    tt_unref(zero);
    tt_unref(ptr);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(set_ecanceled_cancels)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_future_set(f, -ECANCELED), 0);
    ck_assert_int_eq(tt_done(f), 1);
    ck_assert_int_eq(tt_cancelled(f), 1);
    ck_assert_int_eq(tt_result(f), -ECANCELED);
    ck_assert_ptr_null(tt_cancel_message(f));
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(cancel_with_message)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    char msg[16];
    strcpy(msg, "going away");
    ck_assert_int_eq(tt_cancel(f, msg), 1);
    memset(msg, 'x', sizeof msg - 1); /* the message must have been copied */
    ck_assert_int_eq(tt_done(f), 1);
    ck_assert_int_eq(tt_cancelled(f), 1);
    ck_assert_int_eq(tt_result(f), -ECANCELED);
    ck_assert_str_eq(tt_cancel_message(f), "going away");
    /* The first request's message is kept; later requests are no-ops. */
    ck_assert_int_eq(tt_cancel(f, "second"), 0);
    ck_assert_str_eq(tt_cancel_message(f), "going away");
    ck_assert_str_eq(tt_cancel_message(f), "going away");
    ck_assert_int_eq(tt_future_set(f, 1), -EBUSY);
    ck_assert_int_eq(tt_result(f), -ECANCELED);

    tt_future *g = tt_future_new(loop);
    ck_assert_int_eq(tt_cancel(g, NULL), 1);
    ck_assert_int_eq(tt_cancelled(g), 1);
    ck_assert_ptr_null(tt_cancel_message(g));
    tt_unref(f);
    tt_unref(g);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(null_arguments)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_future_set(NULL, 1), -EINVAL);
    ck_assert_int_eq(tt_cancel(NULL, "x"), -EINVAL);
    ck_assert_int_eq(tt_done(NULL), 0);
    ck_assert_int_eq(tt_cancelled(NULL), 0);
    ck_assert_int_eq(tt_result(NULL), -EINVAL);
    ck_assert_ptr_null(tt_cancel_message(NULL));
    ck_assert_int_eq(tt_on_done(NULL, log_cb, NULL), -EINVAL);
    ck_assert_int_eq(tt_on_done(f, NULL, NULL), -EINVAL);
    ck_assert_int_eq(tt_remove_done(NULL, log_cb, NULL), -EINVAL);
    ck_assert_ptr_null(tt_task_name(NULL));
    tt_unref(NULL); /* documented as fine */
    ck_assert_int_eq(tt_done(f), 0);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(ref_unref_counts)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_ptr_eq(tt_ref(f), f);
    ck_assert_ptr_eq(tt_ref(f), f);
    tt_unref(f);
    tt_unref(f);
    ck_assert_int_eq(live_futures(), 1); /* one reference left */
    ck_assert_int_eq(tt_future_set(f, 5), 0);
    ck_assert_int_eq(tt_result(f), 5);
    tt_unref(f);
    ck_assert_int_eq(live_futures(), 0);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------- callbacks */

START_TEST(callbacks_fifo_and_deferred)
{
    memset(&LOG, 0, sizeof LOG);
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    for (int i = 1; i <= 5; i++)
        ck_assert_int_eq(tt_on_done(f, log_cb, (void *)(intptr_t)i), 0);
    ck_assert_int_eq(tt_future_set(f, 77), 0);
    /* Never inline inside tt_future_set. */
    ck_assert_int_eq(LOG.n, 0);
    drain_until(loop, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(LOG.tag[i], i + 1);
        ck_assert_ptr_eq(LOG.fut[i], f);
        ck_assert_int_eq(LOG.result[i], 77);
    }
    /* Each callback runs once: more turns add nothing. */
    ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(LOG.n, 5);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(callbacks_on_cancel_deferred)
{
    memset(&LOG, 0, sizeof LOG);
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_on_done(f, log_cb, (void *)1), 0);
    ck_assert_int_eq(tt_cancel(f, "m"), 1);
    ck_assert_int_eq(LOG.n, 0);
    drain_until(loop, 1);
    ck_assert_int_eq(LOG.result[0], -ECANCELED);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(callbacks_share_ready_queue_order)
{
    /* Done-callbacks are ordinary ready-queue entries: they interleave with call_soon in the
     * order they were scheduled. */
    memset(&LOG, 0, sizeof LOG);
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_on_done(f, log_cb, (void *)2), 0);
    ck_assert_int_eq(tt_call_soon(loop, call_soon_log, (void *)1), 0);
    ck_assert_int_eq(tt_future_set(f, 0), 0);
    ck_assert_int_eq(tt_call_soon(loop, call_soon_log, (void *)3), 0);
    drain_until(loop, 3);
    ck_assert_int_eq(LOG.tag[0], 1);
    ck_assert_int_eq(LOG.tag[1], 2);
    ck_assert_int_eq(LOG.tag[2], 3);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(callback_added_after_done_is_scheduled)
{
    memset(&LOG, 0, sizeof LOG);
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_future_set(f, -5), 0);
    ck_assert_int_eq(tt_on_done(f, log_cb, (void *)9), 0);
    ck_assert_int_eq(LOG.n, 0); /* scheduled, not run inline */
    ck_assert_int_eq(tt_on_done(f, log_cb, (void *)10), 0);
    drain_until(loop, 2);
    ck_assert_int_eq(LOG.tag[0], 9);
    ck_assert_int_eq(LOG.tag[1], 10);
    ck_assert_int_eq(LOG.result[0], -5);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(callback_keeps_future_alive)
{
    /* The user may drop its reference right after completing; the scheduled callback still
     * sees a valid future. */
    memset(&LOG, 0, sizeof LOG);
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_on_done(f, log_cb, (void *)1), 0);
    ck_assert_int_eq(tt_future_set(f, 31), 0);
    tt_unref(f);
    drain_until(loop, 1);
    ck_assert_int_eq(LOG.result[0], 31);
    ck_assert_int_eq(live_futures(), 0);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(pending_future_with_callbacks_released)
{
    /* Dropping the last reference to a pending future with callbacks frees everything; the
     * callbacks never run. */
    memset(&LOG, 0, sizeof LOG);
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_on_done(f, log_cb, (void *)1), 0);
    tt_unref(f);
    ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(LOG.n, 0);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(remove_done_counts)
{
    memset(&LOG, 0, sizeof LOG);
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_on_done(f, log_cb, (void *)1), 0);
    ck_assert_int_eq(tt_on_done(f, log_cb, (void *)2), 0);
    ck_assert_int_eq(tt_on_done(f, log_cb, (void *)1), 0);
    ck_assert_int_eq(tt_on_done(f, other_cb, (void *)1), 0);
    ck_assert_int_eq(tt_on_done(f, log_cb, (void *)3), 0);
    /* Every registration of (log_cb, 1) goes, nothing else. */
    ck_assert_int_eq(tt_remove_done(f, log_cb, (void *)1), 2);
    ck_assert_int_eq(tt_remove_done(f, log_cb, (void *)1), 0);
    ck_assert_int_eq(tt_remove_done(f, log_cb, (void *)42), 0);
    ck_assert_int_eq(tt_remove_done(f, other_cb, (void *)1), 1);
    ck_assert_int_eq(tt_future_set(f, 8), 0);
    /* Once scheduled, a callback can no longer be removed. */
    ck_assert_int_eq(tt_remove_done(f, log_cb, (void *)2), 0);
    drain_until(loop, 2);
    ck_assert_int_eq(LOG.tag[0], 2);
    ck_assert_int_eq(LOG.tag[1], 3);
    ck_assert_int_ge(tt_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(LOG.n, 2);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* A callback that registers another callback on a done future: it runs later, not nested. */
static tt_future *CHAIN_F;
static void chain_cb(tt_future *f, void *arg)
{
    log_cb(f, arg);
    if ((intptr_t)arg == 1) {
        ck_assert_int_eq(tt_on_done(CHAIN_F, log_cb, (void *)3), 0);
        ck_assert_int_eq(LOG.n, 1);
    }
}

START_TEST(callback_added_from_callback)
{
    memset(&LOG, 0, sizeof LOG);
    tt_loop *loop = tt_loop_new(NULL);
    CHAIN_F = tt_future_new(loop);
    ck_assert_int_eq(tt_on_done(CHAIN_F, chain_cb, (void *)1), 0);
    ck_assert_int_eq(tt_on_done(CHAIN_F, chain_cb, (void *)2), 0);
    ck_assert_int_eq(tt_future_set(CHAIN_F, 1), 0);
    drain_until(loop, 3);
    ck_assert_int_eq(LOG.tag[0], 1);
    ck_assert_int_eq(LOG.tag[1], 2);
    ck_assert_int_eq(LOG.tag[2], 3);
    tt_unref(CHAIN_F);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------- after the loop */

START_TEST(inspect_after_loop_freed)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *ok = tt_future_new(loop);
    tt_future *bad = tt_future_new(loop);
    tt_future *cancelled = tt_future_new(loop);
    tt_future *pending = tt_future_new(loop);
    ck_assert_int_eq(tt_future_set(ok, 9), 0);
    ck_assert_int_eq(tt_future_set(bad, -EIO), 0);
    ck_assert_int_eq(tt_cancel(cancelled, "bye"), 1);
    ck_assert_int_eq(tt_loop_free(loop), 0); /* futures are not tasks: no -EBUSY */
    ck_assert_ptr_null(tt_loop_current());
    ck_assert_int_eq(tt_done(ok), 1);
    ck_assert_int_eq(tt_result(ok), 9);
    ck_assert_int_eq(tt_cancelled(ok), 0);
    ck_assert_int_eq(tt_result(bad), -EIO);
    ck_assert_int_eq(tt_cancelled(cancelled), 1);
    ck_assert_int_eq(tt_result(cancelled), -ECANCELED);
    ck_assert_int_eq(tt_done(pending), 0);
    ck_assert_int_eq(tt_result(pending), -EAGAIN);
    ck_assert_int_eq(tt_cancelled(pending), 0);
    tt_unref(ok);
    tt_unref(bad);
    tt_unref(cancelled);
    tt_unref(pending);
    tu_assert_no_leaks();
}
END_TEST

START_TEST(new_loop_after_old_one_freed)
{
    /* A future outliving its loop does not hold the thread's loop slot. */
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tt_loop *loop2 = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop2);
    tt_future *g = tt_future_new(loop2);
    ck_assert_int_eq(tt_future_set(g, 1), 0);
    tt_unref(g);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop2), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------- wrong thread */

typedef struct foreign_args {
    tt_future *f;
    tt_loop *loop;
    int set_rc, cancel_rc, on_done_rc, remove_rc;
    int new_null, new_errno;
} foreign_args;

static void *foreign_thread(void *p)
{
    foreign_args *a = p;
    a->set_rc = tt_future_set(a->f, 1);
    a->cancel_rc = tt_cancel(a->f, "x");
    a->on_done_rc = tt_on_done(a->f, log_cb, NULL);
    a->remove_rc = tt_remove_done(a->f, log_cb, NULL);
    errno = 0;
    tt_future *g = tt_future_new(a->loop);
    a->new_null = g == NULL;
    a->new_errno = errno;
    return NULL;
}

START_TEST(wrong_thread_is_eperm)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    foreign_args a = {.f = f, .loop = loop};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &a), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(a.set_rc, -EPERM);
    ck_assert_int_eq(a.cancel_rc, -EPERM);
    ck_assert_int_eq(a.on_done_rc, -EPERM);
    ck_assert_int_eq(a.remove_rc, -EPERM);
    ck_assert_int_eq(a.new_null, 1);
    ck_assert_int_eq(a.new_errno, EPERM);
    /* Nothing happened to f. */
    ck_assert_int_eq(tt_done(f), 0);
    ck_assert_int_eq(tt_future_set(f, 2), 0);
    ck_assert_int_eq(tt_result(f), 2);
    tt_unref(f);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------- the loop's slabs */

/* A plain future takes a 64-byte slot of its loop's slabs; a slab starts on a page, its first
 * object 64 bytes in (after the slab's header). */
enum { FUT_SLOT = 64, SLAB_FIRST = 64, PAGE = 4096 };
#define NSLAB_TEST 3000

START_TEST(slab_fresh_in_order_freed_first)
{
    static tt_future *f[NSLAB_TEST], *g[NSLAB_TEST + 1];
    tt_loop *loop = tt_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    int opened = 0;
    for (int i = 0; i < NSLAB_TEST; i++) {
        f[i] = tt_future_new(loop);
        ck_assert_ptr_nonnull(f[i]);
        if (i == 0)
            continue;
        /* Fresh objects come in address order; the only jumps open a new slab. */
        uintptr_t prev = (uintptr_t)f[i - 1], cur = (uintptr_t)f[i];
        if (cur != prev + FUT_SLOT) {
            ck_assert_uint_eq(cur % PAGE, SLAB_FIRST);
            opened++;
        }
    }
    /* 64 + 128 + 256 KiB slabs hold over 7000 slots: the 3000 needed at most two new ones. */
    ck_assert_int_ge(opened, 1);
    ck_assert_int_le(opened, 2);
    for (int i = 0; i < NSLAB_TEST; i++)
        tt_unref(f[i]);
    /* Freed objects are taken before fresh ones, the last freed first. */
    for (int i = 0; i < NSLAB_TEST; i++) {
        g[i] = tt_future_new(loop);
        ck_assert_ptr_eq(g[i], f[NSLAB_TEST - 1 - i]);
        ck_assert_int_eq(tt_done(g[i]), 0); /* and cleared: a new pending future */
        ck_assert_int_eq(tt_result(g[i]), -EAGAIN);
    }
    /* With the freelist empty, the next one is the slab's next fresh object. */
    g[NSLAB_TEST] = tt_future_new(loop);
    ck_assert_ptr_eq(g[NSLAB_TEST], (char *)f[NSLAB_TEST - 1] + FUT_SLOT);
    for (int i = 0; i <= NSLAB_TEST; i++)
        tt_unref(g[i]);
    ck_assert_int_eq(tt_loop_free(loop), 0);
    tu_assert_no_leaks();
}
END_TEST

static long vm_size_kib(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
            break;
    if (fp)
        fclose(fp);
    return kib;
}

/* In a child: the address space ends 16 MiB above what the process uses, so the slabs stop
 * growing after a few 2 MiB ones. Exit 0: the refusal was a clean ENOMEM, a freed object was
 * still handed out after it, and nothing leaked. */
static void child_slab_growth_refused(void)
{
    enum { MAXF = 1 << 20 };
    tt_future **fs = malloc(MAXF * sizeof *fs);
    tt_loop *loop = tt_loop_new(NULL);
    long kib = vm_size_kib();
    if (!fs || !loop || kib < 0)
        _exit(90);
    struct rlimit rl = {.rlim_cur = ((rlim_t)kib << 10) + (16 << 20),
                        .rlim_max = ((rlim_t)kib << 10) + (16 << 20)};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        _exit(91);
    long n = 0;
    while (n < MAXF && (fs[n] = tt_future_new(loop)) != NULL)
        n++;
    if (n == MAXF || errno != ENOMEM || n < 100000) /* 16 MiB: ~260000 slots of 64 bytes */
        _exit(92);
    tt_future *last = fs[n - 1];
    tt_unref(last);
    if (tt_future_new(loop) != last) /* the freelist still serves */
        _exit(93);
    errno = 0;
    if (tt_future_new(loop) != NULL || errno != ENOMEM) /* and the slabs still refuse */
        _exit(94);
    for (long i = 0; i < n; i++)
        tt_unref(fs[i]);
    if (tt_loop_free(loop) != 0)
        _exit(95);
    free(fs);
    tt_live l;
    tt_live_get(&l);
    if (l.futures || l.tasks || l.stacks || l.jobs || l.loops || l.pools)
        _exit(96);
}

START_TEST(slab_growth_refused_is_enomem)
{
#ifdef TT_TEST_SANITIZED
    return; /* the sanitizers need far more address space than the limit leaves */
#endif
    char err[4096];
    int st = tu_run_child(child_slab_growth_refused, err, sizeof err, 30);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d (exit %d), stderr: %s", st,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1, err);
    tu_assert_no_leaks();
}
END_TEST

#ifdef __SANITIZE_ADDRESS__
/* Under ASan a slab object is poisoned while it is not handed out: reading a future after its
 * last tt_unref, or a fresh slot not handed out yet, is reported where it happens. */
static void child_reads_freed_future(void)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *f = tt_future_new(loop);
    tt_unref(f);
    fprintf(stderr, "done=%d\n", tt_done(f)); /* ASan stops the child here */
}

static void child_reads_fresh_slot(void)
{
    tt_loop *loop = tt_loop_new(NULL);
    tt_future *a = tt_future_new(loop), *b = tt_future_new(loop);
    if (b != (tt_future *)((char *)a + FUT_SLOT))
        _exit(90); /* not two fresh neighbours: the case this child is about did not arise */
    fprintf(stderr, "done=%d\n", tt_done((tt_future *)((char *)b + FUT_SLOT)));
}
#endif

START_TEST(asan_reports_slab_use_after_free)
{
#ifdef __SANITIZE_ADDRESS__
    void (*children[2])(void) = {child_reads_freed_future, child_reads_fresh_slot};
    for (int i = 0; i < 2; i++) {
        char err[8192];
        int st = tu_run_child(children[i], err, sizeof err, 30);
        ck_assert_msg(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "child %d was not stopped", i);
        ck_assert_msg(strstr(err, "AddressSanitizer: use-after-poison") != NULL,
                      "child %d, status %d, stderr: %s", i, st, err);
        ck_assert_msg(strstr(err, "done=") == NULL, "child %d read it: %s", i, err);
    }
#endif
    tu_assert_no_leaks();
}
END_TEST

/* ------------------------------------------------------------- strerror */

START_TEST(strerror_names)
{
    ck_assert_str_eq(tt_strerror(0), "success");
    ck_assert_str_eq(tt_strerror(12345), "success");
    ck_assert_str_eq(tt_strerror(-ECANCELED), "Operation canceled");
    ck_assert_str_eq(tt_strerror(-ETIMEDOUT), "Connection timed out");
    ck_assert_str_eq(tt_strerror(-ENOMEM), "Cannot allocate memory");
    ck_assert_str_eq(tt_strerror(-EBADF), "Bad file descriptor");
    ck_assert_str_eq(tt_strerror(-1001), "error -1001");
    ck_assert_str_eq(tt_strerror(-1000000), "error -1000000");
    /* Each call's string stays valid and correct on its own. */
    const char *a = tt_strerror(-ECANCELED);
    const char *b = tt_strerror(-ENOMEM);
    ck_assert_str_eq(a, "Operation canceled");
    ck_assert_str_eq(b, "Cannot allocate memory");
    tu_assert_no_leaks();
}
END_TEST

static Suite *future_suite(void)
{
    Suite *s = suite_create("future");
    TCase *tc = tcase_create("future");
    tcase_add_test(tc, new_is_pending);
    tcase_add_test(tc, new_on_current_loop);
    tcase_add_test(tc, set_result_and_error);
    tcase_add_test(tc, set_ecanceled_cancels);
    tcase_add_test(tc, cancel_with_message);
    tcase_add_test(tc, null_arguments);
    tcase_add_test(tc, ref_unref_counts);
    tcase_add_test(tc, callbacks_fifo_and_deferred);
    tcase_add_test(tc, callbacks_on_cancel_deferred);
    tcase_add_test(tc, callbacks_share_ready_queue_order);
    tcase_add_test(tc, callback_added_after_done_is_scheduled);
    tcase_add_test(tc, callback_keeps_future_alive);
    tcase_add_test(tc, pending_future_with_callbacks_released);
    tcase_add_test(tc, remove_done_counts);
    tcase_add_test(tc, callback_added_from_callback);
    tcase_add_test(tc, inspect_after_loop_freed);
    tcase_add_test(tc, new_loop_after_old_one_freed);
    tcase_add_test(tc, wrong_thread_is_eperm);
    tcase_add_test(tc, strerror_names);
    tcase_add_test(tc, slab_fresh_in_order_freed_first);
    tcase_add_test(tc, slab_growth_refused_is_enomem);
    tcase_add_test(tc, asan_reports_slab_use_after_free);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(future_suite)
