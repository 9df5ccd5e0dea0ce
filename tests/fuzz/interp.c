/* The random API-sequence interpreter behind tt-fuzz and the libFuzzer entry: a tt_run whose
 * actor tasks draw operations (spawn, await, cancel, sleep, yield, offload with random options,
 * gather, wait, as_completed, wait_for, shield, groups, timeout scopes, sync primitives,
 * cross-thread submits, IO on pipes, chaos cancels) from a seeded generator or from fuzzer
 * bytes, then checks: tt_run returned, every job's result was delivered or discarded exactly
 * once, and every live-object counter is back to zero. */
#define _GNU_SOURCE
#include "interp.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_JOBS = 4096, MAX_CHAOS = 64, MAX_THREADS = 16, MAX_ACTORS = 64 };

/* ------------------------------------------------------------------ the op source */

typedef struct src {
    uint64_t s; /* xorshift state (seeded runs) */
} src;

static const uint8_t *fz_data; /* fuzzer bytes, consumed by every actor in turn */
static size_t fz_len, fz_pos;

static unsigned pick(src *r, unsigned n)
{
    if (fz_data) {
        if (fz_pos >= fz_len)
            return 0;
        return fz_data[fz_pos++] % n;
    }
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (unsigned)((r->s >> 11) % n);
}
static bool exhausted(void) { return fz_data && fz_pos >= fz_len; }

/* ------------------------------------------------------------------- run state */

typedef struct jobrec {
    atomic_int ran, delivered, discarded;
    int64_t sleep_ns;
} jobrec;

static struct run {
    uint64_t seed;
    int ops_per_actor;
    tt_loop *loop;
    tt_pool *lanes[2];
    jobrec jobs[MAX_JOBS];
    atomic_int njobs;
    tt_future *chaos[MAX_CHAOS]; /* references to cancel from anywhere */
    int nchaos;
    int nactors;
    tt_event *ev;
    tt_lock *lock;
    tt_semaphore *sem;
    tt_queue *q;
    pthread_t threads[MAX_THREADS];
    tt_cfuture *cfs[MAX_THREADS];
    atomic_int nthreads;
    atomic_int ts_calls;
    char failure[256];
} R;

static void fail(const char *fmt, const char *what)
{
    if (!R.failure[0])
        snprintf(R.failure, sizeof R.failure, fmt, what);
}

/* ---------------------------------------------------------------------- jobs */

static intptr_t job_fn(void *arg)
{
    jobrec *j = arg;
    atomic_store(&j->ran, 1);
    int64_t left = j->sleep_ns;
    while (left > 0 && !tt_job_cancelled()) {
        usleep(50);
        left -= 50000;
    }
    return 1000 + (j - R.jobs);
}
static void job_discard(intptr_t result, void *arg)
{
    jobrec *j = arg;
    if (result != 1000 + (j - R.jobs))
        fail("%s", "discard got another job's result");
    atomic_fetch_add(&j->discarded, 1);
}
static void job_done(tt_future *f, void *arg)
{
    jobrec *j = arg;
    if (tt_result(f) == 1000 + (j - R.jobs))
        atomic_fetch_add(&j->delivered, 1);
}

/* A job on the default pool or a lane, with random options; NULL if refused. */
static tt_future *offload(src *r)
{
    int n = atomic_fetch_add(&R.njobs, 1);
    if (n >= MAX_JOBS)
        return NULL;
    jobrec *j = &R.jobs[n];
    j->sleep_ns = pick(r, 4) * 200000;
    tt_job_opts o = {.flags = pick(r, 3) == 0 ? TT_ABANDON_ON_CANCEL : 0, .discard = job_discard};
    unsigned which = pick(r, 3);
    tt_pool *p = which ? R.lanes[which - 1] : NULL;
    tt_future *f = tt_to_thread_on(p, &o, job_fn, j);
    if (!f)
        return NULL;
    if (tt_on_done(f, job_done, j) < 0)
        fail("%s", "tt_on_done failed");
    return f;
}

/* ---------------------------------------------------------------------- actors */

static intptr_t actor(void *arg);

static void chaos_add(tt_future *f)
{
    if (R.nchaos < MAX_CHAOS)
        R.chaos[R.nchaos++] = tt_ref(f);
}

static tt_future *child(src *r, int depth)
{
    if (pick(r, 2) || depth >= 3)
        return offload(r);
    uintptr_t a = ((uintptr_t)(depth + 1) << 32) | (uint32_t)pick(r, 1u << 30);
    tt_future *f = tt_spawn(actor, (void *)a);
    if (f)
        chaos_add(f);
    return f;
}

static void ts_cb(void *arg)
{
    (void)arg;
    atomic_fetch_add(&R.ts_calls, 1);
}
static intptr_t submitted(void *arg)
{
    (void)arg;
    return tt_sleep(TT_US(100));
}
static void *thread_main(void *arg)
{
    intptr_t i = (intptr_t)arg;
    if (tt_call_soon_threadsafe(R.loop, ts_cb, NULL) < 0)
        fail("%s", "tt_call_soon_threadsafe failed");
    R.cfs[i] = tt_loop_submit(R.loop, submitted, NULL);
    return NULL;
}

static void io_op(src *r)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return;
    char out[64] = "fuzz", in[64];
    tt_timeout t;
    int erc = tt_timeout_enter(&t, TT_US(pick(r, 4) * 300));
    if (erc != 0) {
        fail("io: tt_timeout_enter: %s", tt_strerror(erc));
        close(fds[0]);
        close(fds[1]);
        return;
    }
    intptr_t w = pick(r, 2) ? tt_write(fds[1], out, sizeof out, -1) : 0;
    /* A cancellation delivered to the write (the scope's or a chaos one) is the only one: a
     * read after it would wait for ever, as in asyncio after a swallowed CancelledError. */
    intptr_t rd = w < 0 ? w : tt_read(fds[0], in, sizeof in, -1);
    intptr_t rc = tt_timeout_exit(&t, rd);
    if (w == (intptr_t)sizeof out && rd == (intptr_t)sizeof out && memcmp(in, out, sizeof in))
        fail("%s", "pipe data corrupted");
    (void)rc;
    close(fds[0]);
    close(fds[1]);
}

static void sync_op(src *r)
{
    tt_timeout t;
    switch (pick(r, 6)) {
    case 0:
        if (pick(r, 2))
            tt_event_set(R.ev);
        else
            tt_event_clear(R.ev);
        break;
    case 1:
        tt_timeout_enter(&t, TT_US(200));
        tt_timeout_exit(&t, tt_event_wait(R.ev));
        break;
    case 2:
        if (tt_lock_acquire(R.lock) == 0) {
            tt_yield();
            if (tt_lock_release(R.lock) != 0)
                fail("%s", "lock release failed");
        }
        break;
    case 3:
        tt_timeout_enter(&t, TT_US(200));
        if (tt_timeout_exit(&t, tt_semaphore_acquire(R.sem)) == 0)
            tt_semaphore_release(R.sem);
        break;
    case 4:
        tt_queue_try_put(R.q, (void *)1);
        break;
    default: {
        void *item;
        tt_timeout_enter(&t, TT_US(200));
        tt_timeout_exit(&t, tt_queue_get(R.q, &item));
        break;
    }
    }
}

static int trace = -1;
static unsigned long op_mask;

static intptr_t actor(void *arg)
{
    if (trace < 0) {
        trace = getenv("TT_FUZZ_TRACE") != NULL;
        const char *m = getenv("TT_FUZZ_OPS"); /* a mask of the operations to draw (debugging) */
        op_mask = m ? strtoul(m, NULL, 0) : 0;
    }
    uintptr_t a = (uintptr_t)arg;
    int depth = (int)(a >> 32);
    src r = {.s = (R.seed * 0x9e3779b97f4a7c15ull) ^ (a * 0xbf58476d1ce4e5b9ull) ^ 1};
    tt_future *mine[4] = {0};
    int ops = R.ops_per_actor >> depth;
    for (int i = 0; i < ops && !exhausted(); i++) {
        unsigned op = pick(&r, 18);
        unsigned k = pick(&r, 4);
        if (op_mask && !(op_mask >> op & 1))
            op = 1;
        if (trace)
            fprintf(stderr, "actor %#lx op %u k %u\n", (unsigned long)a, op, k);
        switch (op) {
        case 0:
            if (tt_sleep(TT_US(pick(&r, 5) * 100)) == -ECANCELED && pick(&r, 2))
                goto out;
            break;
        case 1:
            tt_yield();
            break;
        case 2:
            if (!mine[k])
                mine[k] = child(&r, depth);
            break;
        case 3:
            if (mine[k]) {
                tt_await(mine[k]);
                mine[k] = NULL;
            }
            break;
        case 4:
            if (R.nchaos)
                tt_cancel(R.chaos[pick(&r, (unsigned)R.nchaos)], pick(&r, 2) ? "chaos" : NULL);
            break;
        case 5:
            if (mine[k]) {
                tt_cancel(mine[k], NULL);
                if (pick(&r, 2)) {
                    tt_await(mine[k]);
                    mine[k] = NULL;
                }
            }
            break;
        case 6: {
            tt_future *fs[3];
            size_t n = 0;
            for (unsigned m = pick(&r, 3) + 1; n < m; n++)
                if (!(fs[n] = child(&r, depth)))
                    break;
            intptr_t res[3];
            if (pick(&r, 2)) {
                tt_gather(fs, n, res, pick(&r, 2) ? TT_RETURN_ERRORS : 0);
            } else {
                tt_future *g = tt_gather_future(fs, n, pick(&r, 2) ? TT_RETURN_ERRORS : 0);
                if (g && pick(&r, 2))
                    tt_cancel(g, "gather");
                if (g)
                    tt_await(g);
            }
            for (size_t m = 0; m < n; m++)
                tt_unref(fs[m]);
            break;
        }
        case 7: {
            tt_future *fs[4];
            size_t n = 0;
            for (int m = 0; m < 4; m++)
                if (mine[m])
                    fs[n++] = mine[m];
            if (n)
                tt_wait(fs, n, (tt_when)pick(&r, 3), pick(&r, 2) ? TT_US(pick(&r, 4) * 200) : 0);
            break;
        }
        case 8: {
            tt_future *fs[4];
            size_t n = 0;
            for (int m = 0; m < 4; m++)
                if (mine[m])
                    fs[n++] = mine[m];
            tt_as_completed *it = n ? tt_as_completed_new(fs, n, TT_US(pick(&r, 4) * 300)) : NULL;
            while (it && tt_as_completed_next(it, NULL, NULL) == 1)
                if (pick(&r, 4) == 0)
                    break;
            tt_as_completed_free(it);
            break;
        }
        case 9:
            if (mine[k]) {
                tt_wait_for(mine[k], TT_US(pick(&r, 4) * 200));
                mine[k] = NULL;
            }
            break;
        case 10:
            if (mine[k]) {
                tt_future *s = tt_shield(mine[k]);
                if (s && pick(&r, 2))
                    tt_cancel(s, NULL);
                if (s)
                    tt_await(s);
            }
            break;
        case 11: {
            tt_group *g = tt_group_new();
            if (!g)
                break;
            for (unsigned m = pick(&r, 3); m-- > 0;) {
                uintptr_t ca = ((uintptr_t)(depth + 2) << 32) | (uint32_t)pick(&r, 1u << 30);
                if (depth < 2)
                    tt_unref(tt_group_spawn(g, actor, (void *)ca));
            }
            if (pick(&r, 3) == 0)
                tt_group_cancel(g);
            if (pick(&r, 4))
                tt_group_join(g);
            tt_future *errs[2];
            tt_group_errors(g, errs, 2);
            tt_group_free(g);
            break;
        }
        case 12: {
            tt_timeout t;
            if (tt_timeout_enter(&t, pick(&r, 2) ? TT_US(pick(&r, 4) * 200) : TT_FOREVER) == 0) {
                if (pick(&r, 2))
                    tt_timeout_reschedule(&t, TT_US(100));
                intptr_t rc = tt_sleep(TT_US(pick(&r, 4) * 200));
                tt_timeout_exit(&t, rc);
            }
            break;
        }
        case 13: /* main's own actors only: main frees the primitives once they are done */
            if (depth == 0)
                sync_op(&r);
            break;
        case 14: {
            /* Only main's own actors: main joins the threads before the loop can go away. */
            int n = atomic_load(&R.nthreads);
            if (depth == 0 && n < MAX_THREADS && pick(&r, 2)) {
                if (pthread_create(&R.threads[n], NULL, thread_main, (void *)(intptr_t)n) == 0)
                    atomic_store(&R.nthreads, n + 1);
            }
            break;
        }
        case 15:
            io_op(&r);
            break;
        case 16: { /* a job dropped without a wait: delivered to its done-callback or discarded */
            tt_future *f = offload(&r);
            if (f && pick(&r, 2))
                tt_cancel(f, NULL);
            tt_unref(f);
            break;
        }
        default:
            if (mine[k]) {
                tt_unref(mine[k]); /* dropped: a task runs on, a job is delivered to nobody */
                mine[k] = NULL;
            }
            break;
        }
    }
out:
    for (int m = 0; m < 4; m++)
        if (mine[m]) {
            if (depth == 0 || pick(&r, 2))
                tt_await(mine[m]);
            else
                tt_unref(mine[m]);
        }
    return depth;
}

static intptr_t fuzz_main(void *arg)
{
    (void)arg;
    R.loop = tt_loop_current();
    R.ev = tt_event_new();
    R.lock = tt_lock_new();
    R.sem = tt_semaphore_new(1);
    R.q = tt_queue_new(2);
    if (!R.ev || !R.lock || !R.sem || !R.q)
        fail("%s", "a sync primitive could not be created");
    tt_future *actors[MAX_ACTORS];
    int n = R.nactors;
    for (int i = 0; i < n; i++) {
        actors[i] = tt_spawn(actor, (void *)(uintptr_t)(uint32_t)i);
        if (!actors[i])
            fail("%s", "tt_spawn failed");
        else
            chaos_add(actors[i]);
    }
    tt_gather(actors, (size_t)n, NULL, TT_RETURN_ERRORS); /* the primitives outlive every user */
    /* The helper threads only post to the loop (never wait on it): joined here, before the
     * loop can go away under them. */
    for (int i = 0; i < atomic_load(&R.nthreads); i++)
        pthread_join(R.threads[i], NULL);
    for (int i = 0; i < n; i++)
        tt_unref(actors[i]);
    for (int i = 0; i < R.nchaos; i++)
        tt_unref(R.chaos[i]);
    R.nchaos = 0;
    tt_event_free(R.ev);
    tt_lock_free(R.lock);
    tt_semaphore_free(R.sem);
    tt_queue_free(R.q);
    /* Returning with jobs and dropped tasks still running: tt_run's teardown takes them. */
    return 0;
}

static void reset(uint64_t seed, int actors, int ops)
{
    memset(&R, 0, sizeof R);
    R.seed = seed;
    R.nactors = actors;
    R.ops_per_actor = ops;
}

static int finish(intptr_t main_result, int run_rc, char *why, size_t whylen)
{
    int nthreads = atomic_load(&R.nthreads);
    for (int i = 0; i < nthreads; i++) {
        if (R.cfs[i]) {
            intptr_t res;
            /* tt_run completes every handle: a wait here must not block. */
            if (tt_cfuture_wait(R.cfs[i], 0, &res) != 0)
                fail("%s", "a tt_loop_submit handle never completed");
            tt_cfuture_free(R.cfs[i]);
        }
    }
    for (int i = 0; i < R.nchaos; i++) /* added by tasks that outlived main: allowed now */
        tt_unref(R.chaos[i]);
    for (int i = 0; i < 2; i++)
        if (R.lanes[i] && tt_pool_free(R.lanes[i]) != 0)
            fail("%s", "tt_pool_free of a lane failed");
    if (run_rc != 0)
        fail("tt_run returned an error (%s)", tt_strerror(run_rc));
    else if (main_result != 0)
        fail("%s", "main failed");
    if (atomic_load(&R.ts_calls) != nthreads)
        fail("%s", "a tt_call_soon_threadsafe callback was lost");
    int njobs = atomic_load(&R.njobs);
    for (int i = 0; i < njobs && i < MAX_JOBS; i++) {
        jobrec *j = &R.jobs[i];
        int seen = atomic_load(&j->delivered) + atomic_load(&j->discarded);
        if (seen != atomic_load(&j->ran)) {
            char m[96];
            snprintf(m, sizeof m, "job %d: ran %d, delivered %d, discarded %d", i,
                     atomic_load(&j->ran), atomic_load(&j->delivered), atomic_load(&j->discarded));
            fail("%s", m);
        }
    }
    tt_live l;
    tt_live_get(&l);
    if (l.futures || l.tasks || l.stacks || l.jobs || l.loops || l.pools) {
        char m[160];
        snprintf(m, sizeof m, "live objects left: futures=%ld tasks=%ld stacks=%ld jobs=%ld "
                 "loops=%ld pools=%ld", l.futures, l.tasks, l.stacks, l.jobs, l.loops, l.pools);
        fail("%s", m);
    }
    if (R.failure[0]) {
        snprintf(why, whylen, "%s", R.failure);
        return -1;
    }
    return 0;
}

static int run_one(char *why, size_t whylen)
{
    tt_pool_opts lane = {.max_threads = 2, .idle_timeout = TT_MS(1), .queue_limit = 0};
    tt_pool_opts bounded = {.max_threads = 3, .queue_limit = 4};
    R.lanes[0] = tt_pool_new(&lane);
    R.lanes[1] = tt_pool_new(&bounded);
    if (!R.lanes[0] || !R.lanes[1]) {
        snprintf(why, whylen, "tt_pool_new failed");
        return -1;
    }
    intptr_t r = -1;
    int rc = tt_run(fuzz_main, NULL, &r);
    return finish(r, rc, why, whylen);
}

int fuzz_run_seed(uint64_t seed, int actors, int ops, char *why, size_t whylen)
{
    fz_data = NULL;
    reset(seed, actors < 1 ? 1 : actors > MAX_ACTORS ? MAX_ACTORS : actors, ops);
    return run_one(why, whylen);
}

int fuzz_run_bytes(const uint8_t *data, size_t len, char *why, size_t whylen)
{
    reset(len ? data[0] : 0, len > 1 ? data[1] % 4 + 1 : 1, 24);
    fz_data = data;
    fz_len = len;
    fz_pos = len > 2 ? 2 : len;
    int rc = run_one(why, whylen);
    fz_data = NULL;
    return rc;
}

void fuzz_dump(void)
{
    if (R.loop && tt_loop_current() == R.loop)
        tt_loop_dump(R.loop, stderr);
}
