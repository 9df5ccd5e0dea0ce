/* tt-stress scenarios: the worker tasks each loop runs — plain offloads, cancellation storms,
 * timeouts racing completions, task groups with failures, IO on the ring (io.c) — and the
 * loop's main task that starts the mix a scenario calls for and drains every late result
 * before the loop ends. */
#include "stress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef stress_worker worker;

int stress_take(worker *w)
{
    loop_ctx *ctx = w->ctx;
    stress_shared *sh = ctx->sh;
    if (atomic_load_explicit(&sh->stop, memory_order_relaxed))
        return 0;
    /* Count mode claims the unit first: in the open loop, the worker that sleeps until its
     * arrival is the one that runs it, and the others end as soon as the count is used up. */
    if (sh->cfg->count) {
        if (ctx->taken >= ctx->quota)
            return 0;
        ctx->taken++;
    }
    if (w->pace.rate > 0) {
        /* Open loop: wait for this unit's arrival (past the deadline it never comes), in
         * slices so that SIGINT is seen soon at a low rate. */
        int64_t want = stress_pacer_intended(&w->pace);
        if (!sh->cfg->count && want >= sh->deadline)
            return 0;
        for (int64_t now = tt_now(); now < want; now = tt_now()) {
            int64_t slice = want - now < TT_MS(100) ? want - now : TT_MS(100);
            if (tt_sleep(slice) < 0 || atomic_load_explicit(&sh->stop, memory_order_relaxed))
                return 0;
        }
    }
    if (!sh->cfg->count && tt_now() >= sh->deadline)
        return 0;
    stress_pacer_start(&w->pace, tt_now());
    if (w->pace.rate > 0)
        atomic_store_explicit(&ctx->p_late_ns, w->pace.started - w->pace.intended,
                              memory_order_relaxed);
    return 1;
}

void stress_unit_done(worker *w)
{
    loop_ctx *ctx = w->ctx;
    if (w->pace.rate > 0) {
        int64_t corrected, uncorrected;
        stress_pacer_end(&w->pace, tt_now(), &corrected, &uncorrected);
        hist_record(&ctx->rep->unit_corrected, corrected > 0 ? (uint64_t)corrected : 0);
        hist_record(&ctx->rep->unit_uncorrected, uncorrected > 0 ? (uint64_t)uncorrected : 0);
    }
    atomic_fetch_add_explicit(&ctx->p_units, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ cancellation storms */

typedef struct child_op {
    loop_ctx *ctx;
    const stress_plan *plan;
} child_op;

static intptr_t child_op_task(void *arg)
{
    child_op *c = arg;
    return stress_do_op(c->ctx, c->plan, 1);
}

/* One operation in a task of its own, cancelled at the plan's point: right away (the job is
 * still queued when the pool is busy), during the job, or around its end (finishing). */
static void cancel_one(loop_ctx *ctx, const stress_plan *p)
{
    child_op c = {ctx, p};
    tt_future *t = tt_spawn(child_op_task, &c);
    if (!t) {
        stress_semantic(ctx, "tt_spawn failed: %s", tt_strerror(-errno));
        return;
    }
    if (p->cancel_at_once)
        tt_yield(); /* the child has submitted its job: cancel it while it is queued */
    else
        tt_sleep(p->cancel_delay_ns);
    tt_cancel(t, "tt-stress");
    tt_await(t); /* the child's own checks recorded everything */
}

static void worker_offload(worker *w)
{
    loop_ctx *ctx = w->ctx;
    while (stress_take(w)) {
        stress_plan p;
        stress_plan_offload(&w->rng, ctx->sh->cfg, w->cancel_rate, &p);
        if (p.cancel)
            cancel_one(ctx, &p);
        else
            stress_do_op(ctx, &p, 0);
        stress_unit_done(w);
    }
}

/* ------------------------------------------------------------------ timeouts */

static void worker_timeout(worker *w)
{
    while (stress_take(w)) {
        stress_plan p;
        stress_plan_timeout(&w->rng, w->ctx->sh->cfg, &p);
        stress_do_op(w->ctx, &p, 0);
        stress_unit_done(w);
    }
}

/* ------------------------------------------------------------------ task groups */

#define GROUP_MAX 8

/* A child's plan is drawn with its group, from the group's stream: a nested group gets a
 * stream of its own split off then, so what each draws does not depend on when it runs. */
typedef struct group_child {
    loop_ctx *ctx;
    int depth, nested, fail_after;
    stress_plan plan;
    stress_rng rng; /* nested: its group's stream */
    int returned;
    intptr_t rv; /* what the body returned: a failure is rv < 0 other than -ECANCELED */
} group_child;

static intptr_t run_group(loop_ctx *ctx, stress_rng *rng, int depth);

static intptr_t group_child_task(void *arg)
{
    group_child *k = arg;
    intptr_t r;
    if (k->nested) {
        r = run_group(k->ctx, &k->rng, k->depth + 1);
    } else {
        r = stress_do_op(k->ctx, &k->plan, 1);
        if (r >= 0 && k->fail_after)
            r = -EPROTO; /* the body fails after its call succeeded */
    }
    k->rv = r;
    k->returned = 1;
    return r;
}

static int is_failure(intptr_t r)
{
    return r < 0 && r != -ECANCELED;
}

/* A group of 2..8 children, some failing, some running nested groups; checks join against
 * what the children really returned (Python 3.11 TaskGroup rules). */
static intptr_t run_group(loop_ctx *ctx, stress_rng *rng, int depth)
{
    const stress_config *cfg = ctx->sh->cfg;
    double er = cfg->error_rate;
    tt_group *g = tt_group_new();
    if (!g) {
        stress_semantic(ctx, "tt_group_new failed: %s", tt_strerror(-errno));
        return -errno;
    }
    group_child kids[GROUP_MAX];
    size_t n = 2 + (size_t)(stress_rand(rng) % (GROUP_MAX - 1));
    for (size_t i = 0; i < n; i++) {
        group_child *k = &kids[i];
        memset(k, 0, sizeof *k);
        k->ctx = ctx;
        k->depth = depth;
        k->nested = stress_coin(rng, 0.15) && depth < 2;
        k->fail_after = stress_coin(rng, er / 2);
        k->plan.abandon = stress_plan_abandon(rng, cfg);
        k->plan.fail = stress_coin(rng, er);
        k->plan.cost_ns = stress_plan_cost(rng, cfg);
        k->plan.how = WAIT_AWAIT;
        k->rng = stress_rng_split(rng);
        tt_future *kid = tt_group_spawn(g, group_child_task, &kids[i]);
        if (!kid)
            stress_semantic(ctx, "tt_group_spawn failed: %s", tt_strerror(-errno));
        tt_unref(kid); /* the group keeps what it needs */
    }
    intptr_t rc = tt_group_join(g);

    size_t nfail = 0;
    for (size_t i = 0; i < n; i++)
        nfail += kids[i].returned && is_failure(kids[i].rv);
    tt_future *failed[GROUP_MAX];
    size_t ne = tt_group_errors(g, failed, GROUP_MAX);
    if (ne != nfail)
        stress_semantic(ctx, "group (depth %d): %zu errors listed, %zu children failed", depth, ne, nfail);
    else if (nfail == 0 && rc != 0 && !(depth > 0 && rc == -ECANCELED))
        stress_semantic(ctx, "group (depth %d): join returned %ld (%s) though no child failed",
                        depth, (long)rc, tt_strerror(rc));
    else if (nfail > 0 && rc != tt_result(failed[0]))
        stress_semantic(ctx, "group (depth %d): join returned %ld, the first failure was %ld",
                        depth, (long)rc, (long)tt_result(failed[0]));
    if (depth == 0 && tt_cancelling(tt_current_task()) != 0)
        stress_semantic(ctx, "group: join left its owner with %d cancel request(s)",
                        tt_cancelling(tt_current_task()));
    tt_group_free(g);
    ctx->rep->groups++;
    ctx->rep->groups_failed += nfail > 0;
    return rc;
}

static void worker_group(worker *w)
{
    while (stress_take(w)) {
        run_group(w->ctx, &w->rng, 0);
        stress_unit_done(w);
    }
}

static intptr_t worker_task(void *arg)
{
    worker *w = arg;
    switch (w->kind) {
    case W_OFFLOAD:
        worker_offload(w);
        break;
    case W_TIMEOUT:
        worker_timeout(w);
        break;
    case W_GROUP:
        worker_group(w);
        break;
    case W_IO:
        stress_io_worker(w);
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------ the loop's main task */

/* How many io workers fit the process's descriptor limit: each holds up to six fds (its
 * stream, its idle pair, one more while reconnecting), and every loop has its share. */
static unsigned io_worker_cap(const stress_config *cfg)
{
    struct rlimit rl;
    rlim_t n = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    if (n == RLIM_INFINITY || n > 1000000)
        n = 1000000;
    long per = ((long)n - 128) / 6 / (long)cfg->loops;
    return per > 0 ? (unsigned)per : 1;
}

intptr_t stress_loop_main(void *arg)
{
    loop_ctx *ctx = arg;
    const stress_config *cfg = ctx->sh->cfg;
    unsigned c = cfg->concurrency;
    /* Group workers each have up to 8 children in flight: fewer of them for the same load. */
    unsigned per_group = c / 5 ? c / 5 : 1;
    unsigned nw = 0, cap = c + 4;
    worker *ws = calloc(cap, sizeof *ws);
    tt_future **fs = calloc(cap, sizeof *fs);
    if (!ws || !fs) {
        free(ws);
        free(fs);
        ctx->setup_error = -ENOMEM;
        return -ENOMEM;
    }
#define ADD(kind_, rate_, howmany_)                                                        \
    for (unsigned i_ = 0; i_ < (howmany_) && nw < cap; i_++)                              \
        ws[nw++] = (worker){.ctx = ctx, .kind = kind_, .cancel_rate = rate_}
    switch (cfg->scenario) {
    case SC_OFFLOAD:
    case SC_CANCEL:
        ADD(W_OFFLOAD, cfg->cancel_rate, c);
        break;
    case SC_TIMEOUT:
        ADD(W_TIMEOUT, 0, c);
        break;
    case SC_GROUP:
        ADD(W_GROUP, 0, per_group);
        break;
    case SC_IO: {
        unsigned cap_io = io_worker_cap(cfg);
        ADD(W_IO, cfg->cancel_rate, c < cap_io ? c : cap_io);
        break;
    }
    default: { /* mixed, mixed-lite: a quarter each, groups and io scaled down */
        unsigned q = c / 4 ? c / 4 : 1;
        unsigned nio = q / 2 ? q / 2 : 1, cap_io = io_worker_cap(cfg);
        ADD(W_OFFLOAD, cfg->cancel_rate, q);
        ADD(W_OFFLOAD, 1.0, q);
        ADD(W_TIMEOUT, 0, q);
        ADD(W_GROUP, 0, q / 5 ? q / 5 : 1);
        ADD(W_IO, cfg->cancel_rate, nio < cap_io ? nio : cap_io);
        break;
    }
    }
#undef ADD
    /* Each worker's stream is named by (seed, loop, its index): the same --seed replays the
     * same plans per worker however the loop interleaves them. The open loop spreads the
     * run's arrivals over every worker of every loop (all loops have the same workers), from
     * now: the loop's set-up is not a backlog its first units should be charged for. */
    int have_io = 0;
    int64_t t0 = tt_now();
    for (unsigned i = 0; i < nw; i++) {
        have_io |= ws[i].kind == W_IO;
        stress_rng_init(&ws[i].rng, cfg->seed, ctx->index, i);
        stress_pacer_init(&ws[i].pace, cfg->rate, t0, nw * cfg->loops, ctx->index * nw + i);
    }
    if (have_io) {
        int rc = stress_io_setup(ctx);
        if (rc < 0) {
            fprintf(stderr, "tt-stress: loop %u: no loopback listener: %s\n", ctx->index, tt_strerror(rc));
            free(ws);
            free(fs);
            ctx->setup_error = rc;
            return rc;
        }
    }
    for (unsigned i = 0; i < nw; i++) {
        fs[i] = tt_spawn(worker_task, &ws[i]);
        if (!fs[i])
            stress_semantic(ctx, "tt_spawn failed: %s", tt_strerror(-errno));
    }
    for (unsigned i = 0; i < nw; i++)
        if (fs[i])
            tt_await(fs[i]);

    /* Late results of abandoned jobs still come back to discard,
     * and done-callbacks may still be queued: wait for them (bounded) before the loop ends. */
    int64_t limit = tt_now() + TT_SEC(10);
    while ((ctx->ops_open > 0 || ctx->discard_called < ctx->discard_expected) && tt_now() < limit)
        tt_sleep(TT_MS(1));
    stress_io_teardown(ctx);
    free(ws);
    free(fs);
    return 0;
}
