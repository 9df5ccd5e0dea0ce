/* tt-bench: the offload workloads W1 (throughput), W2 (round-trip latency, then the idle-CPU
 * check) and W3 (blocking sleeps on a 64-thread pool), measured the same way every time: a
 * warm-up batch first so pool threads are already running, in-process monotonic timing. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* The blocking function of W1/W2: fn(x) = x + 1. */
static intptr_t inc(void *arg)
{
    return (intptr_t)arg + 1;
}

static intptr_t sleep_us(void *arg)
{
    usleep((useconds_t)(uintptr_t)arg);
    return 0;
}

/* Submits n calls of fn(arg_i) at once and gathers them; arg_i = i, or the fixed arg when
 * fixed is set. Results go to res (may be NULL). Every handle is released. */
static int offload_batch(long n, tt_fn fn, int fixed, uintptr_t arg, intptr_t *res)
{
    if (n <= 0)
        return 0;
    /* calloc, not malloc: gcc -O2 cannot see that the loop below fills every slot. */
    tt_future **fs = calloc((size_t)n, sizeof *fs);
    if (!fs)
        die("out of memory");
    for (long i = 0; i < n; i++) {
        fs[i] = tt_to_thread(fn, (void *)(fixed ? arg : (uintptr_t)i));
        if (!fs[i])
            die("tt_to_thread #%ld: %s", i, strerror(errno));
    }
    int rc = tt_gather((tt_future *const *)fs, (size_t)n, res, 0);
    for (long i = 0; i < n; i++)
        tt_unref(fs[i]);
    free(fs);
    return rc;
}

/* ------------------------------------------------------------------------------- W1 */

typedef struct w1_ctx {
    long n;
    double wall_s;
    long threads;
} w1_ctx;

static intptr_t w1_main(void *arg)
{
    w1_ctx *c = arg;
    long n = c->n;
    int rc = offload_batch(1000, inc, 0, 0, NULL); /* warm-up: the 4 workers are running */
    if (rc != 0)
        die("W1 warm-up gather: %s", tt_strerror(rc));

    tt_future **fs = malloc((size_t)n * sizeof *fs);
    intptr_t *res = malloc((size_t)n * sizeof *res);
    if (!fs || !res)
        die("out of memory");
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        fs[i] = tt_to_thread(inc, (void *)(uintptr_t)i);
        if (!fs[i])
            die("W1 tt_to_thread #%ld: %s", i, strerror(errno));
    }
    rc = tt_gather((tt_future *const *)fs, (size_t)n, res, 0);
    uint64_t t1 = now_ns();
    if (rc != 0)
        die("W1 gather: %s", tt_strerror(rc));
    c->threads = proc_status("Threads");
    long long sum = 0;
    for (long i = 0; i < n; i++) {
        sum += res[i];
        tt_unref(fs[i]);
    }
    long long expect = (long long)n * (n - 1) / 2 + n;
    if (sum != expect)
        die("W1 checksum mismatch: %lld != %lld", sum, expect);
    free(fs);
    free(res);
    c->wall_s = (double)(t1 - t0) / 1e9;
    return 0;
}

int w1_offload_throughput(long n)
{
    w1_ctx c = {.n = n > 0 ? n : 200000};
    tt_pool *pool = fixed_pool(4, "w1");
    intptr_t rc = run_main(pool, w1_main, &c);
    pool_release(pool);
    if (rc != 0)
        die("W1: %s", tt_strerror(rc));
    emit("W1", SYSTEM, "n=%ld pool=4 calls_per_s=%.0f wall_s=%.4f threads=%ld", c.n,
         (double)c.n / c.wall_s, c.wall_s, c.threads);
    return 0;
}

/* ------------------------------------------------------------------------------- W2 */

typedef struct w2_ctx {
    long n;
    uint64_t *lat;
    double idle_cpu_pct, idle_wall_s;
    long idle_csw;
} w2_ctx;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The same percentile rule as the anchors (common/util.h): element n*p/100 of the sorted run. */
static double pct_us(const uint64_t *sorted, size_t n, int p)
{
    size_t i = n * (size_t)p / 100;
    if (i >= n)
        i = n - 1;
    return (double)sorted[i] / 1000.0;
}

static void w2_chain(long n, uint64_t *lat)
{
    for (long i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        intptr_t r = tt_await(tt_to_thread(inc, (void *)(uintptr_t)i));
        uint64_t t1 = now_ns();
        if (r != i + 1)
            die("W2 call %ld returned %ld (%s)", i, (long)r, tt_strerror(r));
        if (lat)
            lat[i] = t1 - t0;
    }
}

static intptr_t w2_main(void *arg)
{
    w2_ctx *c = arg;
    w2_chain(200, NULL); /* warm-up */
    w2_chain(c->n, c->lat);

    /* IDLE: nothing in flight, the loop sleeps on a timer and the workers wait for jobs. Both
     * must be asleep in the kernel: any spinning shows up as CPU time here. */
    long csw0 = proc_status("voluntary_ctxt_switches") + proc_status("nonvoluntary_ctxt_switches");
    uint64_t cpu0 = cpu_ns(), w0 = now_ns();
    int rc = tt_sleep(TT_SEC(1));
    uint64_t cpu1 = cpu_ns(), w1 = now_ns();
    long csw1 = proc_status("voluntary_ctxt_switches") + proc_status("nonvoluntary_ctxt_switches");
    if (rc != 0)
        die("IDLE tt_sleep: %s", tt_strerror(rc));
    c->idle_wall_s = (double)(w1 - w0) / 1e9;
    c->idle_cpu_pct = 100.0 * (double)(cpu1 - cpu0) / (double)(w1 - w0);
    c->idle_csw = csw1 - csw0;
    return 0;
}

int w2_offload_latency(long n)
{
    w2_ctx c = {.n = n > 0 ? n : 20000};
    c.lat = malloc((size_t)c.n * sizeof *c.lat);
    if (!c.lat)
        die("out of memory");
    tt_pool *pool = fixed_pool(4, "w2");
    intptr_t rc = run_main(pool, w2_main, &c);
    pool_release(pool);
    if (rc != 0)
        die("W2: %s", tt_strerror(rc));
    double mean = 0;
    for (long i = 0; i < c.n; i++)
        mean += (double)c.lat[i];
    mean /= (double)c.n * 1000.0;
    qsort(c.lat, (size_t)c.n, sizeof *c.lat, cmp_u64);
    emit("W2", SYSTEM, "n=%ld pool=4 p50_us=%.2f p99_us=%.2f mean_us=%.2f", c.n,
         pct_us(c.lat, (size_t)c.n, 50), pct_us(c.lat, (size_t)c.n, 99), mean);
    /* The main thread's context switches only (/proc/self/status is per thread): how often the
     * loop woke up during the idle second. */
    emit("IDLE", SYSTEM, "cpu_pct=%.3f wall_s=%.3f loop_wakeups=%ld", c.idle_cpu_pct,
         c.idle_wall_s, c.idle_csw);
    free(c.lat);
    return 0; /* the idle figure is reported, not a failure: bench-compare.sh judges it */
}

/* ------------------------------------------------------------------------------- W3 */

typedef struct w3_ctx {
    long n;
    double wall_ms;
} w3_ctx;

#define W3_POOL 64

static intptr_t w3_main(void *arg)
{
    w3_ctx *c = arg;
    /* Warm-up: one 2 ms sleep per pool thread, all at once, so all 64 are started. */
    int rc = offload_batch(W3_POOL, sleep_us, 1, 2000, NULL);
    if (rc != 0)
        die("W3 warm-up: %s", tt_strerror(rc));
    uint64_t t0 = now_ns();
    rc = offload_batch(c->n, sleep_us, 1, 10000, NULL);
    uint64_t t1 = now_ns();
    if (rc != 0)
        die("W3 gather: %s", tt_strerror(rc));
    c->wall_ms = (double)(t1 - t0) / 1e6;
    return 0;
}

int w3_blocking_sleep(long n)
{
    w3_ctx c = {.n = n > 0 ? n : 1000};
    tt_pool *pool = fixed_pool(W3_POOL, "w3");
    intptr_t rc = run_main(pool, w3_main, &c);
    pool_release(pool);
    if (rc != 0)
        die("W3: %s", tt_strerror(rc));
    double ideal = (double)((c.n + W3_POOL - 1) / W3_POOL) * 10.0;
    emit("W3", SYSTEM, "n=%ld pool=%d wall_ms=%.1f ideal_ms=%.0f ratio=%.3f", c.n, W3_POOL,
         c.wall_ms, ideal, c.wall_ms / ideal);
    return 0;
}
