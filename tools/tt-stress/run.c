/* tt-stress runner: creates the shared pool and the temp file, runs one loop per thread, shows
 * live progress from a thread of its own (it only reads atomics and pool statistics, so the
 * measured path never waits for a terminal), and assembles the final report once everything
 * has been freed and the live-object counters can be read. */
#define _GNU_SOURCE
#include "stress.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct runner {
    stress_shared sh;
    loop_ctx *ctxs;
    unsigned nloops;
    atomic_int finished;
    stress_pool_report pool; /* peaks sampled by the progress thread */
    unsigned stuck_now;      /* the stuck-call detector, sampled by the progress thread */
    uint64_t stuck_reported;
    tt_pool_latency *lat;    /* the progress thread's sample buffer */
    pthread_mutex_t pool_mu; /* guards pool between the progress thread and the end */
} runner;

static stress_shared *g_sigint_target;

static void on_sigint(int sig)
{
    (void)sig;
    if (g_sigint_target)
        atomic_store(&g_sigint_target->stop, 1);
}

static int64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The pool's own phase histograms (tothread's buckets, 16 per power of two) into tt-stress's
 * (64 per power of two): each bucket's count lands on its upper bound, the value
 * tt_hist_percentile reports, so both read the same within the pool's 1/16. */
static void phases_from_pool(stress_phases *ph, const tt_pool_latency *l)
{
    const tt_hist *src[PHASE_COUNT_] = {&l->queue_wait, &l->run, &l->resume};
    snprintf(ph->source, sizeof ph->source, "the pool, 1 job in %d", TT_POOL_SAMPLE);
    for (int k = 0; k < PHASE_COUNT_; k++) {
        hist *h = &ph->h[k];
        for (size_t i = 0; i < TT_HIST_BUCKETS; i++) {
            uint64_t c = src[k]->buckets[i], lo, hi;
            if (!c)
                continue;
            tt_hist_bucket_range(i, &lo, &hi);
            h->buckets[hist_index(hi)] += c;
            if (!h->count || lo < h->min)
                h->min = lo;
            if (hi > h->max)
                h->max = hi;
            h->count += c;
        }
        h->sum += (long double)src[k]->sum;
    }
}

static void *loop_thread(void *arg)
{
    loop_ctx *ctx = arg;
    tt_loop_opts o;
    memset(&o, 0, sizeof o);
    o.pool = ctx->sh->pool;
    o.backend = (tt_backend)ctx->sh->cfg->backend;
    ctx->loop = tt_loop_new(&o);
    if (!ctx->loop) {
        ctx->setup_error = -errno;
        return NULL;
    }
    const char *none = NULL;
    atomic_compare_exchange_strong(&ctx->sh->backend, &none, tt_loop_backend(ctx->loop));
    stress_tls_ctx = ctx;
    tt_future *main_task = tt_spawn_on(ctx->loop, NULL, stress_loop_main, ctx);
    if (!main_task) {
        ctx->setup_error = -errno;
    } else {
        intptr_t r = tt_loop_run_until(ctx->loop, main_task);
        if (r < 0 && !ctx->setup_error)
            ctx->setup_error = (int)r;
    }
    if (!ctx->sh->pool) { /* -p 0: this loop's default pool measured its own jobs */
        static tt_pool_latency lat[1]; /* ~24 KiB: not on the loop thread's stack */
        static pthread_mutex_t lat_mu = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&lat_mu);
        if (tt_loop_pool_latency_get(ctx->loop, lat) == 0) {
            phases_from_pool(&ctx->rep->pool_phases, lat);
            ctx->rep->stuck_reported += lat->stuck_reported;
        }
        pthread_mutex_unlock(&lat_mu);
    }
    int rc = tt_loop_free(ctx->loop);
    if (rc < 0)
        stress_semantic(ctx, "tt_loop_free: %s (tasks still alive)", tt_strerror(rc));
    stress_tls_ctx = NULL;
    stress_ops_finish(ctx);
    return NULL;
}

/* ------------------------------------------------------------------ progress */

typedef struct totals {
    uint64_t submitted, ended, units, errors, violations;
    int64_t late_ns; /* open loop: the latest unit's lateness, the worst over the loops */
} totals;

static totals sum_progress(runner *rn)
{
    totals t = {0, 0, 0, 0, 0, 0};
    for (unsigned i = 0; i < rn->nloops; i++) {
        loop_ctx *c = &rn->ctxs[i];
        t.submitted += atomic_load_explicit(&c->p_submitted, memory_order_relaxed);
        t.ended += atomic_load_explicit(&c->p_ended, memory_order_relaxed);
        t.units += atomic_load_explicit(&c->p_units, memory_order_relaxed);
        t.errors += atomic_load_explicit(&c->p_errors, memory_order_relaxed);
        t.violations += atomic_load_explicit(&c->p_violations, memory_order_relaxed);
        int64_t late = atomic_load_explicit(&c->p_late_ns, memory_order_relaxed);
        t.late_ns = late > t.late_ns ? late : t.late_ns;
    }
    t.violations += (uint64_t)atomic_load(&rn->sh.canary_bad);
    return t;
}

static void sample_pool(runner *rn, tt_pool_stats *st)
{
    pthread_mutex_lock(&rn->pool_mu);
    if (rn->sh.pool && tt_pool_stats_get(rn->sh.pool, st) == 0) {
        stress_pool_report *p = &rn->pool;
        p->have = 1;
        if (st->threads > p->peak_threads)
            p->peak_threads = st->threads;
        if (st->running > p->peak_running)
            p->peak_running = st->running;
        if (st->queued > p->peak_queued)
            p->peak_queued = st->queued;
        if (rn->lat && tt_pool_latency_get(rn->sh.pool, rn->lat) == 0) {
            rn->stuck_now = rn->lat->stuck_now;
            rn->stuck_reported = rn->lat->stuck_reported;
        }
    } else {
        memset(st, 0, sizeof *st);
    }
    pthread_mutex_unlock(&rn->pool_mu);
}

static void print_progress(runner *rn, int tty, int64_t now, const totals *t, const tt_pool_stats *st)
{
    const stress_config *cfg = rn->sh.cfg;
    double el = (double)(now - rn->sh.t_start) / 1e9;
    char where[64];
    if (cfg->count)
        snprintf(where, sizeof where, "%llu/%llu %s", (unsigned long long)t->units,
                 (unsigned long long)cfg->count, cfg->scenario == SC_GROUP ? "groups" : "ops");
    else {
        double left = (double)(rn->sh.deadline - now) / 1e9;
        snprintf(where, sizeof where, "%.1fs left", left > 0 ? left : 0.0);
    }
    char pool[96] = "pool: default";
    if (rn->sh.pool)
        snprintf(pool, sizeof pool, "pool %u busy/%u idle, %zu queued, stuck %u (%llu reported)",
                 st->running, st->idle, st->queued, rn->stuck_now,
                 (unsigned long long)rn->stuck_reported);
    /* Open loop: how far behind its schedule the run is (growing: the runtime cannot keep up). */
    char late[64] = "";
    if (cfg->rate > 0) {
        char d[24];
        report_fmt_ns(d, sizeof d, (double)t->late_ns);
        snprintf(late, sizeof late, " | %.6g/s, late %s", cfg->rate, d);
    }
    fprintf(stderr, "%s[%6.1fs] %s | %llu ops, %.0f ops/s%s | in flight %llu | %s | errors %llu | violations %llu%s",
            tty ? "\r" : "", el, where, (unsigned long long)t->ended,
            el > 0 ? (double)t->ended / el : 0.0, late,
            (unsigned long long)(t->submitted - t->ended), pool, (unsigned long long)t->errors,
            (unsigned long long)t->violations, tty ? "\033[K" : "\n");
    fflush(stderr);
}

static void *progress_thread(void *arg)
{
    runner *rn = arg;
    const stress_config *cfg = rn->sh.cfg;
    int tty = isatty(STDERR_FILENO);
    int64_t print_every = tty ? 200000000 : 1000000000;
    int64_t next_print = rn->sh.t_start + print_every;
    /* Watchdog: no operation ended for this long while some are in flight means a hang. */
    int64_t stall_limit = TT_SEC(30) > 20 * cfg->mean_ns ? TT_SEC(30) : 20 * cfg->mean_ns;
    uint64_t last_ended = 0;
    int64_t last_change = rn->sh.t_start;
    int printed = 0;
    while (!atomic_load(&rn->finished)) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
        int64_t now = mono_now();
        tt_pool_stats st;
        sample_pool(rn, &st);
        totals t = sum_progress(rn);
        if (cfg->progress && now >= next_print) {
            print_progress(rn, tty, now, &t, &st);
            printed = 1;
            next_print = now + print_every;
        }
        if (t.ended != last_ended || t.submitted == t.ended) {
            last_ended = t.ended;
            last_change = now;
        } else if (now - last_change > stall_limit) {
            fprintf(stderr, "\ntt-stress: INVARIANT FAILED: hung (no operation ended for %.0f s, "
                            "%llu in flight)\n", (double)(now - last_change) / 1e9,
                    (unsigned long long)(t.submitted - t.ended));
            _exit(1);
        }
    }
    if (printed && tty)
        fprintf(stderr, "\r\033[K");
    return NULL;
}

/* ------------------------------------------------------------------ the run */

static int make_temp_file(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tt-stress-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    char block[4096];
    memset(block, 0x5a, sizeof block);
    for (int i = 0; i < 256; i++)
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block) {
            close(fd);
            return -1;
        }
    return fd;
}

static void describe(const stress_config *cfg, char *buf, size_t len)
{
    char mean[32], amount[48];
    report_fmt_ns(mean, sizeof mean, (double)cfg->mean_ns);
    if (cfg->count)
        snprintf(amount, sizeof amount, "%llu %s", (unsigned long long)cfg->count,
                 cfg->scenario == SC_GROUP ? "groups" : "operations");
    else
        snprintf(amount, sizeof amount, "%.3g s", (double)cfg->duration_ns / 1e9);
    char pool[48];
    if (cfg->pool_threads)
        snprintf(pool, sizeof pool, "pool %u threads", cfg->pool_threads);
    else
        snprintf(pool, sizeof pool, "default pool per loop");
    char rate[48] = "closed loop";
    if (cfg->rate > 0)
        snprintf(rate, sizeof rate, "open loop %.6g/s", cfg->rate);
    snprintf(buf, len,
             "%s, %s, concurrency %u, %s, queue limit %zu, cost %s mean %s, error rate %.3g, "
             "cancel rate %.3g, mode %s, %u loop(s), seed %llu%s",
             amount, rate, cfg->concurrency, pool, cfg->queue_limit, stress_cost_name(cfg->cost),
             mean, cfg->error_rate, cfg->cancel_rate, stress_mode_name(cfg->mode), cfg->loops,
             (unsigned long long)cfg->seed,
             cfg->tcp_small_buffers ? ", small TCP buffers" : "");
}

int stress_run(const stress_config *cfg, stress_report *out)
{
    runner *rn = calloc(1, sizeof *rn);
    if (!rn)
        return -ENOMEM;
    pthread_mutex_init(&rn->pool_mu, NULL);
    rn->lat = malloc(sizeof *rn->lat); /* NULL: the live line shows no stuck calls */
    rn->sh.cfg = cfg;
    rn->sh.file_fd = -1;
    const char *inj = getenv("TT_STRESS_INJECT");
    if (inj && strcmp(inj, "drop") == 0)
        rn->sh.inject = INJECT_DROP;
    else if (inj && strcmp(inj, "double") == 0)
        rn->sh.inject = INJECT_DOUBLE;
    else if (inj && *inj)
        fprintf(stderr, "tt-stress: ignoring TT_STRESS_INJECT=%s (drop|double)\n", inj);
    snprintf(out->scenario, sizeof out->scenario, "%s", stress_scenario_name(cfg->scenario));
    describe(cfg, out->settings, sizeof out->settings);
    out->seed = cfg->seed;
    out->rate = cfg->rate;
    if (rn->sh.inject)
        snprintf(out->inject, sizeof out->inject, "%s", inj);

    int rc = 0;
    if (cfg->cost == COST_READ || cfg->cost == COST_FSYNC) {
        rn->sh.file_fd = make_temp_file();
        if (rn->sh.file_fd < 0) {
            rc = -errno;
            fprintf(stderr, "tt-stress: cannot create a temp file: %s\n", tt_strerror(rc));
            goto out;
        }
    }
    if (cfg->pool_threads) {
        tt_pool_opts po;
        memset(&po, 0, sizeof po);
        po.max_threads = cfg->pool_threads;
        po.queue_limit = cfg->queue_limit;
        po.name = "tt-stress";
        rn->sh.pool = tt_pool_new(&po);
        if (!rn->sh.pool) {
            rc = -errno;
            fprintf(stderr, "tt-stress: tt_pool_new: %s\n", tt_strerror(rc));
            goto out;
        }
        /* A call far beyond the configured cost is stuck: the pool names it on stderr and the
         * live line counts it. */
        int64_t stuck = TT_SEC(1) > 20 * cfg->mean_ns ? TT_SEC(1) : 20 * cfg->mean_ns;
        rc = tt_pool_watch(rn->sh.pool, stuck);
        if (rc < 0) {
            fprintf(stderr, "tt-stress: tt_pool_watch: %s\n", tt_strerror(rc));
            goto out;
        }
    }

    rn->nloops = cfg->loops;
    rn->ctxs = calloc(rn->nloops, sizeof *rn->ctxs);
    stress_report *reps = calloc(rn->nloops, sizeof *reps);
    pthread_t *th = calloc(rn->nloops, sizeof *th);
    if (!rn->ctxs || !reps || !th) {
        free(reps);
        free(th);
        rc = -ENOMEM;
        goto out;
    }
    rn->sh.t_start = mono_now();
    rn->sh.deadline = cfg->count ? INT64_MAX : rn->sh.t_start + cfg->duration_ns;
    for (unsigned i = 0; i < rn->nloops; i++) {
        loop_ctx *c = &rn->ctxs[i];
        c->sh = &rn->sh;
        c->index = i;
        c->quota = cfg->count / rn->nloops + (i < cfg->count % rn->nloops);
        report_init(&reps[i]);
        c->rep = &reps[i];
    }
    g_sigint_target = &rn->sh;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);

    pthread_t prog;
    int have_prog = pthread_create(&prog, NULL, progress_thread, rn) == 0;
    unsigned started = 0;
    for (; started < rn->nloops; started++)
        if (pthread_create(&th[started], NULL, loop_thread, &rn->ctxs[started]) != 0)
            break;
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    out->elapsed_s = (double)(mono_now() - rn->sh.t_start) / 1e9;
    const char *be = atomic_load(&rn->sh.backend);
    snprintf(out->backend, sizeof out->backend, "%s", be ? be : "none");
    atomic_store(&rn->finished, 1);
    if (have_prog)
        pthread_join(prog, NULL);
    signal(SIGINT, SIG_DFL);
    if (started < rn->nloops) {
        fprintf(stderr, "tt-stress: could not start loop thread %u\n", started);
        rc = -EAGAIN;
    }

    for (unsigned i = 0; i < rn->nloops; i++) {
        if (rn->ctxs[i].setup_error && !rc) {
            rc = rn->ctxs[i].setup_error;
            fprintf(stderr, "tt-stress: loop %u: %s\n", i, tt_strerror(rc));
        }
        report_merge(out, &reps[i]);
    }
    if (rn->sh.pool) {
        tt_pool_stats st;
        sample_pool(rn, &st);
        out->pool = rn->pool;
        out->pool.threads = st.threads;
        out->pool.idle = st.idle;
        out->pool.running = st.running;
        out->pool.queued = st.queued;
        out->pool.completed = st.completed;
        out->pool.cancelled = st.cancelled;
        tt_pool_latency *lat = malloc(sizeof *lat);
        if (lat && tt_pool_latency_get(rn->sh.pool, lat) == 0) {
            phases_from_pool(&out->pool_phases, lat);
            out->stuck_reported = lat->stuck_reported;
        }
        free(lat);
        int frc = tt_pool_free(rn->sh.pool);
        if (frc < 0)
            fprintf(stderr, "tt-stress: tt_pool_free: %s\n", tt_strerror(frc));
        rn->sh.pool = NULL;
    }
    /* Only now can no job touch an abandoned argument any more. */
    for (unsigned i = 0; i < rn->nloops; i++)
        stress_free_graveyard(&rn->ctxs[i]);
    out->canary_bad += (uint64_t)atomic_load(&rn->sh.canary_bad);
    out->discard_mismatch += (uint64_t)atomic_load(&stress_late_discards);
    if (rn->sh.inject && !atomic_load(&rn->sh.inject_done))
        fprintf(stderr, "tt-stress: TT_STRESS_INJECT=%s: the run ended before the fault could be injected\n",
                out->inject);

    tt_live live;
    tt_live_get(&live);
    long vals[6] = {live.futures, live.tasks, live.stacks, live.jobs, live.loops, live.pools};
    memcpy(out->live, vals, sizeof vals);
    free(reps);
    free(th);
out:
    if (rn->sh.file_fd >= 0)
        close(rn->sh.file_fd);
    if (rn->sh.pool)
        tt_pool_free(rn->sh.pool);
    g_sigint_target = NULL;
    pthread_mutex_destroy(&rn->pool_mu);
    free(rn->lat);
    free(rn->ctxs);
    free(rn);
    return rc;
}
