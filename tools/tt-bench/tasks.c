/* tt-bench: the task workloads W4 (spawn-join), W5 (switch: tt_yield and tt_event ping-pong),
 * W6 (N tasks sleeping 1 s: wall time and RSS per task) and W7 (N wait_for timeouts), timed
 * in-process from before the first spawn to the last completion. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static tt_future **handles(long n)
{
    tt_future **fs = malloc((size_t)n * sizeof *fs);
    if (!fs)
        die("out of memory for %ld handles", n);
    return fs;
}

static void spawn_all(tt_future **fs, long n, tt_fn fn, void *(*argf)(long i, void *), void *ctx)
{
    for (long i = 0; i < n; i++) {
        fs[i] = tt_spawn(fn, argf ? argf(i, ctx) : ctx);
        if (!fs[i])
            die("tt_spawn #%ld: %s", i, strerror(errno));
    }
}

static void unref_all(tt_future **fs, long n)
{
    for (long i = 0; i < n; i++)
        tt_unref(fs[i]);
}

static double ms_between(uint64_t a, uint64_t b)
{
    return (double)(b - a) / 1e6;
}

/* ------------------------------------------------------------------------------- W4 */

static intptr_t nop_task(void *arg)
{
    (void)arg;
    return 0;
}

typedef struct w4_ctx {
    long n;
    uint64_t t0, t_spawned, t_gathered, t1;
} w4_ctx;

static intptr_t w4_main(void *arg)
{
    w4_ctx *c = arg;
    tt_future **fs = handles(c->n);
    c->t0 = now_ns();
    spawn_all(fs, c->n, nop_task, NULL, NULL);
    c->t_spawned = now_ns();
    int rc = tt_gather((tt_future *const *)fs, (size_t)c->n, NULL, 0);
    c->t_gathered = now_ns();
    /* Releasing the handles is part of spawn-join (Tokio's await consumes its JoinHandle). */
    unref_all(fs, c->n);
    c->t1 = now_ns();
    free(fs);
    if (rc != 0)
        die("W4 gather: %s", tt_strerror(rc));
    return 0;
}

int w4_spawn_join(long n)
{
    w4_ctx c = {.n = n > 0 ? n : 1000000};
    intptr_t rc = run_main(NULL, w4_main, &c);
    if (rc != 0)
        die("W4: %s", tt_strerror(rc));
    emit("W4", SYSTEM,
         "n=%ld tasks_per_s=%.0f wall_s=%.4f spawn_ms=%.1f gather_ms=%.1f unref_ms=%.1f "
         "peak_rss_mib=%.1f",
         c.n, (double)c.n / ((double)(c.t1 - c.t0) / 1e9), (double)(c.t1 - c.t0) / 1e9,
         ms_between(c.t0, c.t_spawned), ms_between(c.t_spawned, c.t_gathered),
         ms_between(c.t_gathered, c.t1), (double)peak_rss_kib() / 1024.0);
    return 0;
}

/* ------------------------------------------------------------------------------- W5 */

typedef struct w5_ctx {
    long n;
    double yield_ns, event_ns;
} w5_ctx;

static intptr_t yielder(void *arg)
{
    long n = *(const long *)arg;
    for (long i = 0; i < n; i++) {
        int rc = tt_yield();
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef struct pingpong {
    tt_event *mine, *other;
    long n;
} pingpong;

static intptr_t ping(void *arg)
{
    pingpong *p = arg;
    for (long i = 0; i < p->n; i++) {
        tt_event_set(p->other);
        int rc = tt_event_wait(p->mine);
        if (rc != 0)
            return rc;
        tt_event_clear(p->mine);
    }
    return 0;
}

static intptr_t pong(void *arg)
{
    pingpong *p = arg;
    for (long i = 0; i < p->n; i++) {
        int rc = tt_event_wait(p->mine);
        if (rc != 0)
            return rc;
        tt_event_clear(p->mine);
        tt_event_set(p->other);
    }
    return 0;
}

/* Runs a and b to completion and returns the wall time in ns, spawns included (two spawns
 * against two million switches: noise). */
static uint64_t run_pair(tt_fn fa, void *aa, tt_fn fb, void *ab)
{
    uint64_t t0 = now_ns();
    tt_future *fs[2] = {tt_spawn(fa, aa), tt_spawn(fb, ab)};
    if (!fs[0] || !fs[1])
        die("W5 spawn: %s", strerror(errno));
    intptr_t res[2];
    int rc = tt_gather(fs, 2, res, 0);
    uint64_t t1 = now_ns();
    if (rc != 0 || res[0] != 0 || res[1] != 0)
        die("W5: %s", tt_strerror(rc ? rc : res[0] ? res[0] : res[1]));
    tt_unref(fs[0]);
    tt_unref(fs[1]);
    return t1 - t0;
}

static intptr_t w5_main(void *arg)
{
    w5_ctx *c = arg;
    /* Two tasks each yield n times: 2n switches from one task to the other. */
    c->yield_ns = (double)run_pair(yielder, &c->n, yielder, &c->n) / (2.0 * (double)c->n);

    tt_event *ea = tt_event_new(), *eb = tt_event_new();
    if (!ea || !eb)
        die("tt_event_new: %s", strerror(errno));
    pingpong pa = {.mine = ea, .other = eb, .n = c->n};
    pingpong pb = {.mine = eb, .other = ea, .n = c->n};
    /* One round trip = two switches. */
    c->event_ns = (double)run_pair(ping, &pa, pong, &pb) / (2.0 * (double)c->n);
    tt_event_free(ea);
    tt_event_free(eb);
    return 0;
}

int w5_switch(long n)
{
    w5_ctx c = {.n = n > 0 ? n : 1000000};
    intptr_t rc = run_main(NULL, w5_main, &c);
    if (rc != 0)
        die("W5: %s", tt_strerror(rc));
    emit("W5", SYSTEM, "n=%ld ns_per_switch=%.2f ns_per_roundtrip=%.2f", c.n, c.yield_ns,
         2 * c.yield_ns);
    emit("W5", SYSTEM "-event", "n=%ld ns_per_switch=%.2f ns_per_roundtrip=%.2f", c.n, c.event_ns,
         2 * c.event_ns);
    return 0;
}

/* ------------------------------------------------------------------------------- W6 */

/* W6 and W7 also print started_ms: when the last task took its first step (-1 if one never
 * did). Cold, that is when the last stack was ready; compare it with stack-floor's prep_s (the
 * kernel's share alone). */
static long not_started;
static uint64_t t_all_started;

/* Before a round's spawns: n tasks to start, none yet. */
static void expect_starts(long n)
{
    not_started = n;
    t_all_started = 0;
}

static inline void task_started(void)
{
    if (--not_started == 0)
        t_all_started = now_ns();
}

static double started_ms(uint64_t t0, uint64_t t_started)
{
    return t_started ? ms_between(t0, t_started) : -1.0;
}

static intptr_t sleeper(void *arg)
{
    (void)arg;
    task_started();
    return tt_sleep(TT_SEC(1));
}

typedef struct w6_round {
    long base_kib, peak_kib, pte_kib;
    uint64_t t0, t_spawned, t_started, t1;
} w6_round;

typedef struct w6_ctx {
    long n;
    int rounds; /* 2 with --warm: the second round reuses the first one's stacks */
    w6_round r[2];
} w6_ctx;

static void w6_round_run(long n, w6_round *r)
{
    r->base_kib = vmrss_kib(); /* just before the tasks are created; the handles count */
    r->t0 = now_ns();
    tt_future **fs = handles(n);
    expect_starts(n);
    spawn_all(fs, n, sleeper, NULL, NULL);
    r->t_spawned = now_ns();
    int rc = tt_gather((tt_future *const *)fs, (size_t)n, NULL, 0);
    r->t1 = now_ns();
    r->t_started = t_all_started;
    r->peak_kib = peak_rss_kib();
    r->pte_kib = proc_status("VmPTE"); /* page tables: what the stacks' spacing costs the kernel */
    unref_all(fs, n);
    free(fs);
    if (rc != 0)
        die("W6 gather: %s", tt_strerror(rc));
}

static intptr_t w6_main(void *arg)
{
    w6_ctx *c = arg;
    for (int i = 0; i < c->rounds; i++)
        w6_round_run(c->n, &c->r[i]);
    return 0;
}

static void w6_emit(const char *system, long n, const w6_round *r, long peak_before_kib)
{
    /* RSS per task: what the round added to the peak (the warm round should add ~nothing). */
    long base = peak_before_kib > r->base_kib ? peak_before_kib : r->base_kib;
    emit("W6", system,
         "n=%ld wall_s=%.3f peak_rss_mib=%.1f rss_bytes_per_task=%.0f spawn_ms=%.1f "
         "started_ms=%.1f base_rss_kib=%ld pte_kib=%ld",
         n, (double)(r->t1 - r->t0) / 1e9, (double)r->peak_kib / 1024.0,
         (double)(r->peak_kib - base) * 1024.0 / (double)n, ms_between(r->t0, r->t_spawned),
         started_ms(r->t0, r->t_started), r->base_kib, r->pte_kib);
}

static int w6_run(long n, int rounds)
{
    w6_ctx c = {.n = n > 0 ? n : 100000, .rounds = rounds};
    intptr_t rc = run_main(NULL, w6_main, &c);
    if (rc != 0)
        die("W6: %s", tt_strerror(rc));
    w6_emit(SYSTEM, c.n, &c.r[0], 0);
    if (rounds > 1)
        w6_emit(SYSTEM "-warm", c.n, &c.r[1], c.r[0].peak_kib);
    return 0;
}

int w6_idle_tasks(long n) { return w6_run(n, 1); }
int w6_idle_tasks_warm(long n) { return w6_run(n, 2); }

/* ------------------------------------------------------------------------------- W7 */

/* splitmix64, seed 42: the same timeout sequence as the Go and Tokio anchors. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static long w7_timeouts_seen, w7_other;
static intptr_t w7_first_other;

static intptr_t waiter(void *arg)
{
    task_started();
    tt_future *f = tt_future_new(NULL);
    if (!f)
        return -errno;
    intptr_t r = tt_wait_for(f, TT_MS((intptr_t)arg));
    if (r == -ETIMEDOUT) {
        w7_timeouts_seen++;
    } else {
        if (!w7_other++)
            w7_first_other = r;
    }
    return 0;
}

static void *w7_arg(long i, void *ctx)
{
    return (void *)(uintptr_t)((const uint8_t *)ctx)[i];
}

typedef struct w7_round {
    uint64_t t0, t_spawned, t_started, t1;
    long timeouts_seen, other;
    intptr_t first_other;
} w7_round;

typedef struct w7_ctx {
    long n;
    uint8_t *ms;
    int rounds; /* 2 with --warm: the second round reuses the first one's stacks */
    w7_round r[2];
} w7_ctx;

static intptr_t w7_main(void *arg)
{
    w7_ctx *c = arg;
    for (int i = 0; i < c->rounds; i++) {
        w7_round *r = &c->r[i];
        w7_timeouts_seen = w7_other = 0;
        w7_first_other = 0;
        tt_future **fs = handles(c->n);
        expect_starts(c->n);
        r->t0 = now_ns();
        spawn_all(fs, c->n, waiter, w7_arg, c->ms);
        r->t_spawned = now_ns();
        int rc = tt_gather((tt_future *const *)fs, (size_t)c->n, NULL, 0);
        r->t1 = now_ns();
        r->t_started = t_all_started;
        unref_all(fs, c->n);
        free(fs);
        if (rc != 0)
            die("W7 gather: %s", tt_strerror(rc));
        r->timeouts_seen = w7_timeouts_seen;
        r->other = w7_other;
        r->first_other = w7_first_other;
    }
    return 0;
}

static int w7_run(long n, int rounds)
{
    w7_ctx c = {.n = n > 0 ? n : 100000, .rounds = rounds};
    c.ms = malloc((size_t)c.n);
    if (!c.ms)
        die("out of memory");
    uint64_t seed = 42;
    for (long i = 0; i < c.n; i++)
        c.ms[i] = (uint8_t)(1 + splitmix64(&seed) % 50);
    intptr_t rc = run_main(NULL, w7_main, &c);
    free(c.ms);
    if (rc != 0)
        die("W7: %s", tt_strerror(rc));
    int failed = 0;
    for (int i = 0; i < rounds; i++) {
        const w7_round *r = &c.r[i];
        emit("W7", i ? SYSTEM "-warm" : SYSTEM,
             "n=%ld wall_s=%.4f timeouts=%ld spawn_ms=%.1f started_ms=%.1f peak_rss_mib=%.1f ok=%d",
             c.n, (double)(r->t1 - r->t0) / 1e9, r->timeouts_seen, ms_between(r->t0, r->t_spawned),
             started_ms(r->t0, r->t_started), (double)peak_rss_kib() / 1024.0,
             r->timeouts_seen == c.n);
        if (r->timeouts_seen != c.n) {
            fprintf(stderr,
                    "tt-bench: W7: %ld of %ld timed out; %ld other outcomes, first %ld (%s)\n",
                    r->timeouts_seen, c.n, r->other, (long)r->first_other,
                    tt_strerror(r->first_other));
            failed = 1;
        }
    }
    return failed;
}

int w7_timeouts(long n) { return w7_run(n, 1); }
int w7_timeouts_warm(long n) { return w7_run(n, 2); }
